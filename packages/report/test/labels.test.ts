/**
 * Labels in vmprof-report: --label KEY=VALUE selects samples in every view, --by-label KEY splits
 * --top and --flat by a label's value. On test/fixtures/labels.prof (made by fixtures/make.ts: profile
 * label env=prod; process 200 with route=/a (85 samples, 20 of them also tenant=t1), route=/b (30,
 * 1500 µs of CPU each) and 10 without a route; process 201 with the process label route=/batch, 25)
 * and on a real recording of a program that calls withLabels.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { before, test } from "node:test";
import { BIN, expectUsageErrors, fixture, root, run } from "./helpers.js";
import type { FlatView, FunctionView, LinesView, ThreadsView, TopView, TreeView } from "../src/views.js";

const LABELS = fixture("labels.prof");
const APP = fixture("app.prof");

function json<T>(args: string[]): T {
  const r = run([...args, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

const names = (v: TopView | FlatView) => v.functions.map((f) => f.name).sort();

test("--label selects the samples carrying the label: their own, their process's or the profile's; all given must match", () => {
  const a = json<TopView>(["--label", "route=/a", LABELS]);
  assert.equal(a.samples, 85);
  assert.deepEqual(names(a), ["(garbage collector)", "cache", "getA", "query", "serve"]);
  assert.equal(a.functions.find((f) => f.name === "serve")!.totalPercent, 100);
  assert.equal(a.summary.samples, 85);
  assert.equal(a.summary.profileSamples, 150);
  // A process label (route=/batch is metadata of process 201) and the profile's (env=prod).
  const batch = json<TopView>(["--label", "route=/batch", LABELS]);
  assert.equal(batch.samples, 25);
  assert.deepEqual(names(batch), ["batch", "compress"]);
  assert.equal(json<TopView>(["--label", "env=prod", LABELS]).samples, 150);
  // Repeated: every pair must match.
  const both = json<TopView>(["--label", "route=/a", "--label", "tenant=t1", LABELS]);
  assert.equal(both.samples, 20);
  assert.deepEqual(names(both), ["cache", "getA", "serve"]);
  assert.equal(json<TopView>(["--label", "route=/b", "--label", "tenant=t1", LABELS]).samples, 0);
  // With the other selections.
  assert.equal(json<TopView>(["--label", "route=/a", "--pid", "201", LABELS]).samples, 0);
  assert.equal(json<TopView>(["--label", "env=prod", "--pid", "201", LABELS]).samples, 25);
});

test("--label applies in every view that selects: flat, tree, function, threads, diff, and the summary", () => {
  const flat = json<FlatView>(["--flat", "--label", "route=/b", LABELS]);
  assert.equal(flat.samples, 30);
  assert.deepEqual(flat.functions.map((f) => [f.name, f.selfSamples]), [["page", 30], ["serve", 0], ["getB", 0]]);
  const tree = json<TreeView>(["--tree", "--label", "route=/b", LABELS]);
  assert.deepEqual(tree.roots.map((r) => [r.name, r.totalSamples, r.children.map((c) => c.name)]), [["serve", 30, ["getB"]]]);
  const fn = json<FunctionView>(["--function", "^serve$", "--label", "route=/b", LABELS]);
  assert.deepEqual(fn.functions[0].callees.map((c) => c.name), ["getB"]);
  const threads = json<ThreadsView>(["--threads", "--label", "route=/batch", LABELS]);
  assert.deepEqual(threads.threads.map((t) => [t.pid, t.samples]), [[200, 0], [201, 25]]);
  // The summary's duration and threads are those of the labelled samples: batch.js's 25 ms.
  assert.equal(threads.summary.durationSeconds, 0.025);
  // --diff: the label selects in both profiles (labels name the work; --pid and --tid name processes of
  // the new one only). app.prof's samples all carry build=42, its profile label.
  type Diff = { samples: number; base: { samples: number }; functions: { name: string; deltaTotal: number }[] };
  const diff = json<Diff>(["--diff", APP, "--label", "build=42", APP]);
  assert.deepEqual([diff.samples, diff.base.samples], [1127, 1127]);
  const none = json<Diff>(["--diff", APP, "--label", "build=41", APP]);
  assert.deepEqual([none.samples, none.base.samples], [0, 0]);
  const a = json<Diff>(["--diff", LABELS, "--label", "route=/a", LABELS]);
  assert.deepEqual([a.samples, a.base.samples], [85, 85]);
  assert.ok(a.functions.every((f) => f.deltaTotal === 0) && !a.functions.some((f) => f.name === "page"));
});

test("a label no sample has: an empty selection, exit 0, as an empty time range", () => {
  const none = json<TopView>(["--label", "route=/nowhere", LABELS]);
  const late = json<TopView>(["--start", "100", LABELS]);
  assert.equal(none.samples, 0);
  assert.deepEqual(none.functions, []);
  assert.deepEqual(none, late);
  const text = run(["--label", "route=/nowhere", LABELS]);
  assert.equal(text.status, 0);
  assert.equal(text.stderr, "");
  assert.equal(text.stdout, run(["--start", "100", LABELS]).stdout);
  assert.match(text.stdout, /^0\.00 s, 0 samples \(of 150\)/m);
});

test("a malformed --label or --by-label, or --by-label in a view it does not split: one line, exit 2", () => {
  expectUsageErrors([
    [["--label", "route", LABELS], /^vmprof-report: --label: expected key=value, got "route"$/],
    [["--label", "=/a", LABELS], /^vmprof-report: --label: expected key=value, got "=\/a"$/],
    [["--flat", "--label", "route=/a", "--label", "tenant", LABELS], /--label: expected key=value, got "tenant"/],
    [["--tree", "--by-label", "route", LABELS], /^vmprof-report: --by-label applies to --top and --flat, not --tree$/],
    [["--threads", "--by-label", "route", LABELS], /--by-label applies to --top and --flat, not --threads/],
    [["--by-label", " ", LABELS], /^vmprof-report: --by-label: expected a label key$/],
  ]);
  // oclif's parser (the fast path hands --help over to it) takes the same flags.
  // (Without its styling: oclif underlines flag values when it thinks colour is on, as under CI=true.)
  const help = run(["--help"]).stdout.replace(/\x1b\[[0-9;]*m/g, "");
  assert.match(help, /--label=KEY=VALUE\.\.\./);
  assert.match(help, /--by-label=KEY/);
});

test("--by-label: a group per value, heaviest first, the samples without the key last as null; rows carry their value", () => {
  const v = json<TopView>(["--by-label", "route", LABELS]);
  assert.deepEqual(
    v.byLabel!.groups.map((g) => [g.value, g.samples, g.weight]),
    [["/a", 85, 85_000], ["/b", 30, 45_000], ["/batch", 25, 25_000], [null, 10, 10_000]],
  );
  assert.equal(v.summary.byLabel, "route");
  assert.equal(v.byLabel!.key, "route");
  assert.ok(Math.abs(v.byLabel!.groups.reduce((n, g) => n + g.percent, 0) - 100) < 1e-9);
  // Each group's rows are its own samples' functions, in order, percentages of the whole selection.
  const rows = (value: string | null) => v.functions.filter((f) => f.labelValue === value).map((f) => [f.name, f.totalSamples]);
  assert.deepEqual(rows("/b"), [["page", 30], ["serve", 30], ["getB", 30]]);
  assert.deepEqual(rows(null), [["tick", 10], ["serve", 10]]);
  assert.deepEqual(rows("/batch"), [["compress", 25], ["batch", 25]]);
  assert.deepEqual([...new Set(v.functions.map((f) => f.labelValue))], ["/a", "/b", "/batch", null]);
  assert.ok(v.functions.every((f) => "labelValue" in f));
  // A function's weight over the groups adds up to its weight without the split.
  const plain = json<TopView>([LABELS]);
  for (const f of plain.functions) {
    const split = v.functions.filter((g) => g.id === f.id);
    assert.equal(split.reduce((n, g) => n + g.totalWeight, 0), f.totalWeight, f.name);
    assert.ok(Math.abs(split.reduce((n, g) => n + g.totalPercent, 0) - f.totalPercent) < 1e-9, f.name);
  }
  assert.equal(plain.byLabel, undefined);
  assert.ok(plain.functions.every((f) => !("labelValue" in f)));
  // --flat: self first within each group; --limit applies per group.
  const flat = json<FlatView>(["--flat", "--by-label", "route", "--limit", "1", LABELS]);
  assert.deepEqual(flat.functions.map((f) => [f.labelValue, f.name]), [["/a", "query"], ["/b", "page"], ["/batch", "compress"], [null, "tick"]]);
  assert.deepEqual(flat.byLabel!.groups.map((g) => g.omitted), [4, 2, 1, 1]);
  assert.equal(flat.omitted, 8);
  // With a selection, shares are of the selection; a key no sample has puts them all under null.
  const a = json<TopView>(["--by-label", "tenant", "--label", "route=/a", LABELS]);
  assert.deepEqual(a.byLabel!.groups.map((g) => [g.value, g.samples, Math.round(g.percent)]), [[null, 65, 76], ["t1", 20, 24]]);
  const nokey = json<TopView>(["--by-label", "colour", LABELS]);
  assert.deepEqual(nokey.byLabel!.groups.map((g) => [g.value, g.samples, g.percent]), [[null, 150, 100]]);
  assert.equal(json<TopView>(["--by-label", "route", "--label", "route=/nowhere", LABELS]).byLabel!.groups.length, 0);
});

test("--by-label in text: a section per value with its share, the same rows as --label VALUE at the selection's scale", () => {
  const r = run(["--by-label", "route", LABELS]);
  assert.equal(r.status, 0, r.stderr);
  const sections = r.stdout.split("\n\n");
  assert.match(sections[0], /^vmprof output:\nroute=\/a: 51\.5% of CPU time, 85 samples\n% of CPU time: {2}name:\n/);
  assert.match(sections[1], /^route=\/b: 27\.3% of CPU time, 30 samples\n/);
  assert.match(sections[3], /^\(no route\): 6\.1% of CPU time, 10 samples\n/);
  assert.match(r.stdout, /by label route\n$/);
  // Section /b's rows are --label route=/b's (same functions and order), scaled to the whole.
  const rowNames = (text: string) => [...text.matchAll(/^\s+[\d.]+%\s+(\S+)/gm)].map((m) => m[1]);
  const alone = run(["--label", "route=/b", LABELS]).stdout;
  assert.deepEqual(rowNames(sections[1]), rowNames(alone));
  assert.match(alone, /^ 100\.0% {10}serve/m);
  assert.match(sections[1], /^ {2}27\.3% {10}serve/m);
  // app.prof's samples all carry build=42 (a profile label): one section, the plain rows under it.
  const app = run(["--by-label", "build", "--limit", "5", APP]).stdout.split("\n");
  const plain = run(["--limit", "5", APP]).stdout.split("\n");
  assert.equal(app[1], "build=42: 100.0% of CPU time, 1127 samples");
  assert.deepEqual(app.slice(2, 8), plain.slice(1, 7));
});

test("oclif and the fast path read --label and --by-label alike", () => {
  const args = ["--flat", "--by-label", "route", "--label", "env=prod", "--limit", "1", LABELS];
  const viaOclif = spawnSync(process.execPath, ["--input-type=module", "-e", `import { execute } from "@oclif/core"; await execute({ dir: ${JSON.stringify(BIN)}, args: ${JSON.stringify(args)} });`], {
    cwd: root,
    encoding: "utf8",
    input: "",
  });
  assert.equal(viaOclif.status, 0, viaOclif.stderr);
  assert.equal(viaOclif.stdout, run(args).stdout);
  assert.match(viaOclif.stdout, /^\(no route\): 6\.1% of CPU time, 10 samples$/m);
});

test("--live takes --label and --by-label, and prints what the ordinary report prints", () => {
  for (const args of [["--label", "route=/a"], ["--by-label", "route"], ["--flat", "--by-label", "route", "--label", "env=prod"]]) {
    const live = run(["--live", ...args, LABELS]);
    assert.equal(live.status, 0, live.stderr);
    const body = live.stdout.replace(/^# .*\n/, "");
    assert.equal(body, run([...args, LABELS]).stdout, args.join(" "));
  }
});

// A real recording: the native sampler's labels (withLabels) through the recorder to the report.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-report-labels-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const RECORDED = path.join(dir, "labels.prof");

before(() => {
  const record = path.resolve(root, "../record/bin/run.cjs");
  const r = spawnSync(process.execPath, [record, "-o", RECORDED, "--", process.execPath, fixture("labels-program.mjs"), "12"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
});

test("a recording with withLabels: each route's samples are its own function's, in --top, --by-label and --lines", () => {
  const a = json<TopView>(["--label", "route=/a", RECORDED]);
  const b = json<TopView>(["--label", "route=/b", RECORDED]);
  assert.ok(a.samples > 100 && b.samples > 50, `${a.samples} ${b.samples}`);
  const share = (v: TopView, name: string) => v.functions.find((f) => f.name === name)?.totalPercent ?? 0;
  assert.ok(share(a, "spinA") > 80, String(share(a, "spinA")));
  assert.equal(share(a, "spinB"), 0);
  assert.ok(share(b, "spinB") > 80, String(share(b, "spinB")));
  assert.equal(share(b, "spinA"), 0);
  const split = json<TopView>(["--by-label", "route", RECORDED]);
  const group = (value: string) => split.byLabel!.groups.find((g) => g.value === value)!;
  assert.equal(group("/a").samples, a.samples);
  assert.equal(group("/b").samples, b.samples);
  assert.ok(split.functions.filter((f) => f.name === "spinA").every((f) => f.labelValue === "/a"));
  // --lines under a label: spinA's loop line, and no spinB.
  const lines = json<LinesView>(["--lines", "^spin", "--label", "route=/a", RECORDED]);
  assert.deepEqual(lines.functions.map((f) => f.name), ["spinA"]);
  assert.ok(lines.functions[0].files[0].lines.some((l) => l.line === 9 && l.totalPercent > 30), JSON.stringify(lines.functions[0].files[0].lines));
});
