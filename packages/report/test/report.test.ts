/**
 * vmprof-report run as a user runs it (a real process) on the checked-in profiles of test/fixtures
 * (made by test/fixtures/make.ts) and on a live recording.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import * as formatWriter from "@vmprof/format";
import { readProfileSync } from "@vmprof/format";
import { BIN, expectUsageErrors, fixture, root, run } from "./helpers.js";
import type { FlatView, FunctionView, ThreadsView, TopView, TreeRow, TreeView } from "../src/views.js";

const GOLDEN = path.join(root, "test/golden");
const APP = fixture("app.prof");

function json<T>(args: string[]): T {
  const r = run([...args, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

const total = (v: TopView | FlatView, name: string) => v.functions.find((f) => f.name === name)?.totalPercent ?? 0;

// Each golden file is named after the options that made it (run on app.prof unless they name a file).
const GOLDENS: string[][] = [
  [],
  ["--top", "--limit", "5"],
  ["--flat"],
  ["--tree"],
  ["--tree", "--min-percent", "10", "--depth", "3"],
  ["--function", "^parse$"],
  ["--diff", fixture("before.prof"), fixture("after.prof")],
  ["--weight", "samples"],
  ["--weight", "wall", "--flat", "--limit", "6"],
  ["--pid", "101"],
  ["--thread", "worker 1", "--flat"],
  ["--tid", "102", "--tree", "--min-percent", "0"],
  ["--from", "0.2", "--to", "0.4"],
  ["--focus", "render", "--tree"],
  ["--ignore", "^(parse|onMessage)$"],
  ["--hide", "processTicksAndRejections", "--tree", "--depth", "3"],
  ["--no-internals", "--flat"],
  ["--top", "--json", "--limit", "3"],
  ["--tree", "--json", "--min-percent", "20"],
  ["--function", "tokenize", "--json"],
  ["--threads"],
  ["--threads", "--json", "--pid", "100"],
  ["--by-label", "route", fixture("labels.prof")],
  ["--flat", "--by-label", "route", "--limit", "2", fixture("labels.prof")],
  ["--top", "--json", "--by-label", "route", "--limit", "2", fixture("labels.prof")],
  ["--label", "route=/a", "--label", "tenant=t1", "--flat", fixture("labels.prof")],
];

const goldenName = (args: string[]) =>
  (args.map((a) => (a.startsWith(root) ? path.basename(a) : a.replace(/^--/, ""))).join("_").replace(/[^A-Za-z0-9._^$|()-]+/g, "_") || "default") + ".txt";

test("every view and selection flag matches its golden output (UPDATE_GOLDEN=1 rewrites them)", () => {
  fs.mkdirSync(GOLDEN, { recursive: true });
  for (const args of GOLDENS) {
    // Paths relative to the package, as the JSON output names its source.
    const rel = args.map((a) => (a.startsWith(root) ? path.relative(root, a) : a));
    const withFile = args.some((a) => a.endsWith(".prof") && !args[args.indexOf(a) - 1]?.startsWith("--diff")) ? rel : [...rel, path.relative(root, APP)];
    const r = run(withFile);
    assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr, "", args.join(" "));
    const file = path.join(GOLDEN, goldenName(args));
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(file, r.stdout);
    assert.equal(r.stdout, fs.readFileSync(file, "utf8"), `${args.join(" ")} differs from ${path.basename(file)}`);
  }
});

test("oclif and the fast path print the same report", () => {
  const args = ["--flat", "--no-internals", "--weight", "samples", "--thread", "main", "--limit", "7", APP];
  const fast = run(args);
  const viaOclif = spawnSync(process.execPath, ["--input-type=module", "-e", `import { execute } from "@oclif/core"; await execute({ dir: ${JSON.stringify(BIN)}, args: ${JSON.stringify(args)} });`], {
    cwd: root,
    encoding: "utf8",
    input: "",
  });
  assert.equal(viaOclif.status, 0, viaOclif.stderr);
  assert.equal(viaOclif.stdout, fast.stdout);
});

test("top: cumulative shares sorted, each function once per sample, counts add up", () => {
  const v = json<TopView>(["--weight", "samples", APP]);
  const p = readProfileSync(APP);
  assert.equal(v.samples, p.samples.count);
  for (let i = 1; i < v.functions.length; i++) assert.ok(v.functions[i - 1].totalPercent >= v.functions[i].totalPercent);
  const selfSum = v.functions.reduce((s, f) => s + f.selfSamples, 0);
  assert.equal(selfSum, p.samples.count); // every sample has exactly one leaf (a state when no frames)
  const main = v.functions.find((f) => f.name === "main")!;
  assert.equal(main.file, "/srv/app/server.js");
  assert.equal(main.line, 1);
  assert.ok(main.totalSamples > main.selfSamples);
  for (const state of ["(garbage collector)", "(idle)", "(native)", "(compiler)"]) assert.ok(total(v, state) > 0, state);
  // The default weight follows the recording's mode (cpu): heavier samples weigh more.
  const cpu = json<TopView>([APP]);
  assert.equal(cpu.summary.weight, "cpu");
  assert.ok(total(cpu, "tokenize") > total(v, "tokenize"));
});

test("flat: sorted by self, with the share of each tier", () => {
  const v = json<FlatView>(["--flat", APP]);
  for (let i = 1; i < v.functions.length; i++) assert.ok(v.functions[i - 1].selfPercent >= v.functions[i].selfPercent);
  const render = v.functions.find((f) => f.name === "render")!;
  assert.ok(render.tiers!.interpreted > 25 && render.tiers!.interpreted < 35, JSON.stringify(render.tiers));
  assert.ok(render.tiers!.optimized > 65 && render.tiers!.optimized < 75);
  assert.equal(v.functions.find((f) => f.name === "(idle)")!.tiers, undefined);
});

test("tree: shares of the total and of the parent, pruned by --min-percent and --depth", () => {
  const v = json<TreeView>(["--tree", "--min-percent", "5", "--weight", "samples", APP]);
  const walk = (r: TreeRow, level: number, parentTotal: number) => {
    assert.ok(r.totalPercent >= 5, `${r.name} ${r.totalPercent}`);
    assert.ok(Math.abs(r.parentPercent - (100 * r.totalPercent) / parentTotal) < 1e-9);
    r.children.forEach((c) => walk(c, level + 1, r.totalPercent));
  };
  v.roots.forEach((r) => walk(r, 1, 100));
  const shallow = json<TreeView>(["--tree", "--depth", "2", APP]);
  assert.ok(shallow.roots.every((r) => r.children.every((c) => c.children.length === 0)));
  assert.ok(shallow.roots.some((r) => r.children.length > 0));
});

test("function: callers and callees with counts", () => {
  const v = json<FunctionView>(["--function", "^tokenize$", "--weight", "samples", APP]);
  assert.equal(v.functions.length, 1);
  const t = v.functions[0];
  assert.deepEqual(t.callers.map((c) => [c.name, c.samples]), [["parse", 500]]);
  assert.equal(t.callees.length, 0);
  const parse = json<FunctionView>(["--function", "^parse$", "--weight", "samples", APP]).functions[0];
  assert.deepEqual(parse.callers.map((c) => [c.name, c.samples]), [["handle", 440], ["childMain", 100]]);
  assert.deepEqual(parse.callees.map((c) => [c.name, c.samples]), [["tokenize", 500]]);
  assert.equal(parse.selfSamples, 40);
});

test("diff: what got slower and what got faster, largest change first", () => {
  const r = run(["--diff", fixture("before.prof"), fixture("after.prof"), "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout) as { functions: { name: string; deltaTotal: number }[] };
  const d = (name: string) => v.functions.find((f) => f.name === name)!.deltaTotal;
  assert.ok(d("render") > 5, String(d("render")));
  assert.ok(d("tokenize") < -5, String(d("tokenize")));
  for (let i = 1; i < v.functions.length; i++) assert.ok(Math.abs(v.functions[i - 1].deltaTotal) >= Math.abs(v.functions[i].deltaTotal));
});

test("selection: --pid, --tid, --thread, --from/--to", () => {
  const p = readProfileSync(APP);
  const child = json<TopView>(["--pid", "101", APP]);
  assert.equal(child.samples, 100);
  assert.equal(total(child, "childMain"), 100);
  assert.equal(total(child, "main"), 0);
  const worker = json<TopView>(["--tid", "102", APP]);
  assert.equal(worker.samples, 200);
  assert.deepEqual(json<TopView>(["--thread", "worker 1", APP]).functions, worker.functions);
  const mains = json<TopView>(["--thread", "main", APP]);
  assert.equal(mains.samples, p.samples.count - 200);
  let inRange = 0;
  for (let i = 0; i < p.samples.count; i++) if (p.samples.time[i] >= 200_000 && p.samples.time[i] < 400_000) inRange++;
  const ranged = json<TopView>(["--from", "0.2", "--to", "0.4", APP]);
  assert.equal(ranged.samples, inRange);
  assert.ok(inRange > 0 && inRange < p.samples.count);
});

test("--threads and every view's JSON list the processes and threads the selection covers; --start/--end are --from/--to", () => {
  const p = readProfileSync(APP);
  const all = json<ThreadsView>(["--threads", APP]);
  assert.equal(all.threads.length, p.threads.length);
  assert.equal(all.threads.reduce((n, t) => n + t.samples, 0), p.samples.count);
  const child = all.threads.find((t) => t.pid === 101)!;
  assert.equal(child.parent, 100);
  assert.equal(child.samples, 100);
  assert.ok(child.durationSeconds > 0);
  for (const args of [["--flat"], ["--tree"], ["--function", "main"], ["--diff", fixture("before.prof")]]) {
    const v = json<TopView>([...args, "--pid", "101", APP]);
    assert.deepEqual(v.summary.threads, [child], args.join(" "));
  }
  const text = run(["--threads", APP]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^\s+pid\s+parent\s+tid\s+name\s+samples\s+duration$/m);
  assert.match(text.stdout, /^\s+101\s+100\s+101\s+main\s+100\s+0\.10 s$/m);
  assert.deepEqual(json<TopView>(["--start", "0.2", "--end", "0.4", APP]), json<TopView>(["--from", "0.2", "--to", "0.4", APP]));
  const bad = run(["--start", "2", "--end", "1", APP]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^vmprof-report: --end \(1\) must be after --start \(2\)\n$/);
});

test("filters: --focus, --ignore, --hide, --no-internals", () => {
  const focus = json<TopView>(["--focus", "^render$", "--weight", "samples", APP]);
  assert.equal(total(focus, "render"), 100);
  assert.equal(total(focus, "tokenize"), 0);
  assert.equal(focus.samples, 200);
  const ignore = json<TopView>(["--ignore", "^tokenize$", "--weight", "samples", APP]);
  assert.equal(total(ignore, "tokenize"), 0);
  assert.equal(ignore.samples, readProfileSync(APP).samples.count - 500);
  const hide = json<TopView>(["--hide", "^processTicksAndRejections$", APP]);
  assert.equal(total(hide, "processTicksAndRejections"), 0);
  assert.equal(total(hide, "handle"), total(json<TopView>([APP]), "handle"));
  const folded = json<FlatView>(["--flat", "--no-internals", APP]);
  assert.ok(folded.functions.every((f) => !f.file.startsWith("node:")));
  const emitCaller = json<FunctionView>(["--function", "^handle$", "--no-internals", "--weight", "samples", APP]).functions[0];
  assert.deepEqual(emitCaller.callers.map((c) => c.name), ["main"]);
});

test("a live recording piped in: vmprof-record -o - -- node app.js | vmprof-report --top", () => {
  const record = path.resolve(root, "../record/bin/run.cjs");
  const app = path.resolve(root, "../../examples/app.js");
  const r = spawnSync("bash", ["-c", `"${process.execPath}" "${record}" -o - -- "${process.execPath}" "${app}" 800 | "${process.execPath}" "${BIN}" --top --json`], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout) as TopView;
  // 800 ms of wall time: at least 100 CPU samples even when the program gets a third of a core (a
  // loaded CI machine gave 64 for 300 ms).
  assert.ok(v.samples >= 100, String(v.samples));
  for (const name of ["main", "f", "g", "h"]) assert.ok(total(v, name) > 5, `${name}: ${total(v, name)}`);
});

test("a truncated profile: what it holds, one warning line, exit 0", () => {
  const r = run([fixture("truncated.prof")]);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^vmprof output:/);
  assert.match(r.stdout, / main /);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1);
  assert.match(lines[0], /truncated\.prof: truncated at byte \d+/);
  // The same through a pipe, cut mid-record.
  const cut = fs.readFileSync(APP).subarray(0, 2000);
  const piped = run(["--top"], { input: cut });
  assert.equal(piped.status, 0);
  assert.match(piped.stderr, /<stdin>: truncated/);
});

test("bad input: one line naming what was wrong, exit 2", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-report-test-"));
  const garbage = path.join(dir, "garbage.prof");
  fs.writeFileSync(garbage, "hello, not a profile\n");
  const corrupt = path.join(dir, "corrupt.prof");
  const bytes = Buffer.from(fs.readFileSync(fixture("app.prof")));
  bytes[12] = 0x00; // the first record's type byte: 0 is never valid
  fs.writeFileSync(corrupt, bytes);
  const cases: [string[], RegExp, string?][] = [
    [[path.join(dir, "missing.prof")], /missing\.prof: no such file/],
    [[], /<stdin>: empty input/, ""],
    [[garbage], /garbage\.prof: unknown format \(expected a vmprof profile, pprof, Chrome \.cpuprofile, speedscope JSON or collapsed stacks\)/],
    [[corrupt], /corrupt\.prof/],
    [["--focus", "(", APP], /--focus: "\(" is not a valid regular expression/],
    [["--function", "[", APP], /--function: "\[" is not a valid regular expression/],
    [["--pid", "999", APP], /pid 999 is not in .*app\.prof \(it has: 100, 101\)/],
    [["--thread", "nope", APP], /thread nope is not in/],
    [["--from", "soon", APP], /--from: expected a number of seconds/],
    [["--from", "2", "--to", "1", APP], /--to \(1\) must be after --from \(2\)/],
    [["--diff", path.join(dir, "nobase.prof"), APP], /nobase\.prof: no such file/],
  ];
  expectUsageErrors(cases);
  // Flags oclif refuses (bad values, two views) also exit 2.
  for (const args of [["--limit", "0", APP], ["--flat", "--tree", APP], ["--weight", "bytes", APP], ["--bogus", APP]]) {
    assert.equal(run(args).status, 2, args.join(" "));
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test("colour only when asked or on a terminal, never with NO_COLOR; width cuts lines on a terminal", () => {
  assert.doesNotMatch(run([APP]).stdout, /\x1b\[/);
  assert.match(run(["--color", APP]).stdout, /\x1b\[/);
  // A real terminal (script(1) gives the command a pty of 60 columns).
  const tty = (env: string) =>
    spawnSync("script", ["-qec", `stty cols 60; ${env} "${process.execPath}" "${BIN}" --flat "${APP}"`, "/dev/null"], { encoding: "utf8", cwd: root });
  const colored = tty("");
  assert.equal(colored.status, 0, colored.stderr);
  assert.match(colored.stdout, /\x1b\[/);
  const plain = tty("NO_COLOR=1");
  assert.doesNotMatch(plain.stdout, /\x1b\[/);
  for (const line of plain.stdout.split(/\r?\n/)) assert.ok([...line].length <= 60, JSON.stringify(line));
  assert.match(plain.stdout, /…/);
});

test("dropped samples are shown with their reasons, as the sampler counted them", () => {
  const { ProfileWriter, memorySink } = formatWriter;
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  w.meta({ mode: "wall", period_us: 1000 });
  const pr = w.addProcess({ pid: 7, ppid: 1, name: "app.js", startTime: 1_700_000_000_000_000 });
  const th = w.addThread({ process: pr, tid: 7, name: "main", kind: 0 });
  const f = w.addFunction({ name: "work", file: "/app.js", line: 1, column: 1, kind: 0 });
  const stack = w.stack([w.frame(f)]);
  for (let i = 0; i < 100; i++) w.sample(th, 1000 * i, 1000, 900, 0, stack);
  w.end({ dropped_samples: 5, "dropped.ring_full": 0, "dropped.pending": 3, "dropped.late": 2 });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-report-drops-")), "drops.prof");
  fs.writeFileSync(file, sink.bytes());
  const r = run([file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /, 5 dropped \(pending 3, late 2\), mode wall/);
  const v = json<TopView>([file]);
  assert.deepEqual(v.summary.droppedByReason, { pending: 3, late: 2 });
});
