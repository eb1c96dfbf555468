/**
 * Labels in vmprof-report: --label KEY=VALUE selects samples in every view. On test/fixtures/labels.prof (made by fixtures/make.ts: profile
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
import { expectUsageErrors, fixture, root, run } from "./helpers.js";
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
  // --diff: the label selects in this profile (app.prof's samples all carry build=42, the profile label).
  const diff = json<{ samples: number; base: { samples: number } }>(["--diff", APP, "--label", "build=42", APP]);
  assert.equal(diff.samples, 1127);
  assert.equal(json<{ samples: number }>(["--diff", APP, "--label", "build=41", APP]).samples, 0);
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

test("a malformed --label: one line, exit 2", () => {
  expectUsageErrors([
    [["--label", "route", LABELS], /^vmprof-report: --label: expected key=value, got "route"$/],
    [["--label", "=/a", LABELS], /^vmprof-report: --label: expected key=value, got "=\/a"$/],
    [["--flat", "--label", "route=/a", "--label", "tenant", LABELS], /--label: expected key=value, got "tenant"/],
  ]);
  // oclif's parser (the fast path hands --help over to it) takes the same flags.
  const help = run(["--help"]);
  assert.match(help.stdout, /--label=KEY=VALUE\.\.\./);
});

// A real recording: the native sampler's labels (withLabels) through the recorder to the report.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-report-labels-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const RECORDED = path.join(dir, "labels.prof");

before(() => {
  const record = path.resolve(root, "../record/bin/run.js");
  const r = spawnSync(process.execPath, [record, "-o", RECORDED, "--", process.execPath, fixture("labels-program.mjs"), "12"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
});

test("a recording with withLabels: each route's samples are its own function's, in --top and --lines", () => {
  const a = json<TopView>(["--label", "route=/a", RECORDED]);
  const b = json<TopView>(["--label", "route=/b", RECORDED]);
  assert.ok(a.samples > 100 && b.samples > 50, `${a.samples} ${b.samples}`);
  const share = (v: TopView, name: string) => v.functions.find((f) => f.name === name)?.totalPercent ?? 0;
  assert.ok(share(a, "spinA") > 80, String(share(a, "spinA")));
  assert.equal(share(a, "spinB"), 0);
  assert.ok(share(b, "spinB") > 80, String(share(b, "spinB")));
  assert.equal(share(b, "spinA"), 0);
  // --lines under a label: spinA's loop line, and no spinB.
  const lines = json<LinesView>(["--lines", "^spin", "--label", "route=/a", RECORDED]);
  assert.deepEqual(lines.functions.map((f) => f.name), ["spinA"]);
  assert.ok(lines.functions[0].files[0].lines.some((l) => l.line === 9 && l.totalPercent > 30), JSON.stringify(lines.functions[0].files[0].lines));
});
