/**
 * --lines, --source and --by-line, run as a user runs them (a real process) on a profile written with
 * ProfileWriter beside the source file it names, and on a live recording.
 */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ProfileWriter, Tier, VmState, applySources, decodeProfile, hasLinePositions, memorySink, readProfileSync } from "@vmprof/format";
import { report } from "../src/report.js";
import { linesView, type FlatView, type LinesView, type SourceView, type TopView, type TreeView } from "../src/views.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const BIN = path.join(root, "bin/run.js");

const SOURCE = `function main() {
  for (let i = 0; i < 3; i++) f(i);
  return f(4) + r(2);
}

function f(n) {
  let x = 0;
  x += n;
  return x;
}

function r(n) {
  if (n > 0) return r(n - 1);
  return n * 2;
}
`;

/**
 * 15 samples of 1 ms CPU each: 6 x main:2 > f:8, 2 x main:2 > f:9 (interpreted), 2 x main:3 > f:8,
 * 3 x main:3 > r:13 > r:13 > r:14 (recursion), 1 x main:3 in GC, 1 x no frames, idle. The profile
 * names its file "app.js", relative to the recorded cwd.
 */
function writeProfile(cwd: string): Buffer {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  w.meta({ mode: "cpu", period_us: 1000, cwd });
  const T = w.addThread({ process: w.addProcess({ pid: 1, name: "app.js" }), tid: 1, name: "main" });
  const main = w.addFunction({ name: "main", file: "app.js", line: 1, column: 14 });
  const f = w.addFunction({ name: "f", file: "app.js", line: 6, column: 11 });
  const r = w.addFunction({ name: "r", file: "app.js", line: 12, column: 11 });
  const [M2, M3] = [w.frame(main, Tier.OPTIMIZED, 2, 31), w.frame(main, Tier.OPTIMIZED, 3, 10)];
  const [F8, F9] = [w.frame(f, Tier.OPTIMIZED, 8, 3), w.frame(f, Tier.INTERPRETED, 9, 3)];
  const [R13, R14] = [w.frame(r, Tier.BASELINE, 13, 21), w.frame(r, Tier.BASELINE, 14, 3)];
  const plan: [number[], number][] = [
    ...Array(6).fill([[M2, F8], VmState.JS]),
    ...Array(2).fill([[M2, F9], VmState.JS]),
    ...Array(2).fill([[M3, F8], VmState.JS]),
    ...Array(3).fill([[M3, R13, R13, R14], VmState.JS]),
    [[M3], VmState.GC],
    [[], VmState.IDLE],
  ];
  plan.forEach(([frames, state], i) => w.sample(T, (i + 1) * 1000, 1000, 1000, state, w.stack(frames)));
  w.end();
  return Buffer.from(sink.bytes());
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-report-lines-"));
fs.writeFileSync(path.join(dir, "app.js"), SOURCE);
const PROF = path.join(dir, "l.prof");
fs.writeFileSync(PROF, writeProfile(dir));
// The same profile recorded where the source is not (cwd does not exist).
const AWAY = path.join(dir, "away.prof");
fs.writeFileSync(AWAY, writeProfile(path.join(dir, "elsewhere")));
const NO_POSITIONS = path.join(root, "test/fixtures/app.prof");

function run(args: string[], cwd = os.tmpdir()): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { input: "", env: { ...process.env, NO_COLOR: "" }, encoding: "utf8", cwd, timeout: 60_000 });
}

function json<T>(args: string[]): T {
  const r = run([...args, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  return JSON.parse(r.stdout) as T;
}

const pct = (n: number) => (100 * n) / 15;
type Counts = [line: number, totalSamples: number, selfSamples: number];
const counts = (v: LinesView | SourceView, name: string, sampledOnly = true): Counts[] =>
  v.functions
    .find((f) => f.name === name)!
    .files.flatMap((g) => g.lines)
    .filter((l) => !sampledOnly || l.totalSamples > 0)
    .map((l) => [l.line, l.totalSamples, l.selfSamples]);

test("--lines: per function the sampled lines, total once per sample (recursion included), self at the leaf", () => {
  const v = json<LinesView>(["--lines", PROF]);
  assert.deepEqual(
    v.functions.map((f) => [f.name, f.totalSamples, f.selfSamples]),
    [["main", 14, 0], ["f", 10, 10], ["r", 3, 3]],
  );
  assert.deepEqual(counts(v, "main"), [[2, 8, 0], [3, 6, 0]]);
  assert.deepEqual(counts(v, "f"), [[8, 8, 8], [9, 2, 2]]);
  assert.deepEqual(counts(v, "r"), [[13, 3, 0], [14, 3, 3]]);
  const r13 = v.functions[2].files[0].lines[0];
  assert.equal(r13.totalPercent, pct(3));
  assert.equal(r13.selfPercent, 0);
  assert.equal(r13.text, "  if (n > 0) return r(n - 1);");
  assert.equal(v.functions[0].files[0].file, "app.js");
  assert.equal(v.functions[0].files[0].readable, true);
  assert.equal(v.omitted, 0);
  // The text: line, self, total, the line's text; "." for nothing.
  const t = run(["--lines", PROF]);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /^r  app\.js:12  total 20\.0% \(3 samples\), self 20\.0% \(3\)$/m);
  assert.match(t.stdout, /^ {4}13 {8}\. {4}20\.0% {4}if \(n > 0\) return r\(n - 1\);$/m);
  assert.match(t.stdout, /^ {4}14 {4}20\.0% {4}20\.0% {4}return n \* 2;$/m);
  assert.match(t.stdout, /^ {5}8 {4}53\.3% {4}53\.3% {4}x \+= n;$/m);
});

test("--lines PATTERN FILE: only the matching functions, --limit caps them; fast path and oclif agree", () => {
  const v = json<LinesView>(["--lines", "^[fr]$", PROF]);
  assert.equal(v.pattern, "^[fr]$");
  assert.deepEqual(v.functions.map((f) => f.name), ["f", "r"]);
  const one = json<LinesView>(["--lines", "--limit", "1", PROF]);
  assert.deepEqual([one.functions.map((f) => f.name), one.omitted], [["main"], 2]);
  const args = ["--lines", "^f$", PROF];
  const viaOclif = spawnSync(process.execPath, ["--input-type=module", "-e", `import { execute } from "@oclif/core"; await execute({ dir: ${JSON.stringify(BIN)}, args: ${JSON.stringify(args)} });`], {
    cwd: root,
    encoding: "utf8",
    input: "",
  });
  assert.equal(viaOclif.status, 0, viaOclif.stderr);
  assert.equal(viaOclif.stdout, run(args).stdout);
  // The profile from stdin with a pattern: "-" names it.
  const piped = spawnSync(process.execPath, [BIN, "--lines", "^r$", "-", "--json"], { input: fs.readFileSync(PROF), encoding: "utf8" });
  assert.equal(piped.status, 0, piped.stderr);
  assert.deepEqual((JSON.parse(piped.stdout) as LinesView).functions.map((f) => f.name), ["r"]);
});

test("--source: the function's span with context from the file, shares in the margin, unsampled lines as '.'", () => {
  const v = json<SourceView>(["--source", "^f$", PROF]);
  assert.equal(v.context, 3);
  const lines = v.functions[0].files[0].lines;
  // From the definition (6) to the last sampled line (9), 3 lines around.
  assert.deepEqual(lines.map((l) => l.line), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(counts(v, "f"), [[8, 8, 8], [9, 2, 2]]);
  assert.deepEqual(lines.map((l) => l.text), SOURCE.split("\n").slice(2, 12));
  const t = run(["--source", "^r$", PROF]);
  assert.equal(t.status, 0, t.stderr);
  assert.equal(
    t.stdout.split("\n").slice(0, 11).join("\n"),
    [
      "r  app.js:12  total 20.0% (3 samples), self 20.0% (3)",
      "  line     self    total",
      "     9        .        .    return x;",
      "    10        .        .  }",
      "    11        .        .",
      "    12        .        .  function r(n) {",
      "    13        .    20.0%    if (n > 0) return r(n - 1);",
      "    14    20.0%    20.0%    return n * 2;",
      "    15        .        .  }",
      "    16        .        .",
      "",
    ].join("\n"),
  );
});

test("--source of a file that cannot be read: the sampled lines' numbers and one note naming it, exit 0", () => {
  const t = run(["--source", "^main$", AWAY]);
  assert.equal(t.status, 0, t.stderr);
  assert.equal(t.stderr, "");
  const notes = t.stdout.split("\n").filter((l) => /cannot be read/.test(l));
  assert.deepEqual(notes, ["  (app.js cannot be read: numbers only)"]);
  assert.match(t.stdout, /^ {5}2 {8}\. {4}53\.3%$/m);
  const v = json<SourceView>(["--source", "^main$", AWAY]);
  assert.equal(v.functions[0].files[0].readable, false);
  assert.deepEqual(counts(v, "main", false), [[2, 8, 0], [3, 6, 0]]);
  assert.ok(v.functions[0].files[0].lines.every((l) => l.text === undefined));
});

test("a readSource hook gives the text (as source maps' sourcesContent will)", async () => {
  const r = await report({ input: AWAY, stdin: process.stdin, view: "source", pattern: "^f$", json: true, readSource: (file) => (file === "app.js" ? SOURCE : undefined) });
  const v = r.view as SourceView;
  assert.equal(v.functions[0].files[0].readable, true);
  assert.equal(v.functions[0].files[0].lines.find((l) => l.line === 8)!.text, "  x += n;");
});

test("lines of code mapped or inlined from another file are listed under that file, after the function's own", () => {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  const T = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
  const g = w.addFunction({ name: "g", file: "out.js", line: 1, column: 1, source: { name: "g", file: "src/g.ts", line: 4, column: 1 } });
  const own = w.frame(g, Tier.OPTIMIZED, 1, 20, { file: "src/g.ts", line: 5, column: 3 });
  const inlined = w.frame(g, Tier.OPTIMIZED, 1, 40, { file: "src/h.ts", line: 2, column: 3 });
  for (let i = 0; i < 4; i++) w.sample(T, i + 1, 1, 1, VmState.JS, w.stack([i < 3 ? own : inlined]));
  w.end();
  const v = linesView(applySources(decodeProfile(sink.bytes(), "m.prof")), undefined, { readSource: () => undefined });
  assert.deepEqual(
    v.functions[0].files.map((g) => [g.file, g.lines.map((l) => [l.line, l.selfSamples])]),
    [["src/g.ts", [[5, 3]]], ["src/h.ts", [[2, 1]]]],
  );
});

test("--by-line: lines are the rows of top, flat, tree and function; a function without lines stays one row", () => {
  const top = json<TopView>(["--by-line", "--weight", "samples", PROF]);
  assert.equal(top.summary.byLine, true);
  const rows = top.functions.map((f) => [`${f.name} ${f.file}:${f.line}`, f.totalSamples, f.selfSamples]);
  assert.deepEqual(rows, [
    ["f app.js:8", 8, 8],
    ["main app.js:2", 8, 0],
    ["main app.js:3", 6, 0],
    ["r app.js:14", 3, 3],
    ["r app.js:13", 3, 0], // on the stack twice in each of its 3 samples
    ["f app.js:9", 2, 2],
    ["(garbage collector) :0", 1, 1],
    ["(idle) :0", 1, 1],
  ]);
  const flat = json<FlatView>(["--flat", "--by-line", PROF]);
  assert.equal(flat.functions[0].name, "f");
  assert.equal(flat.functions[0].line, 8);
  assert.equal(flat.functions[0].selfPercent, pct(8));
  const tree = json<TreeView>(["--tree", "--by-line", "--min-percent", "0", PROF]);
  const main3 = tree.roots.find((n) => n.line === 3)!;
  assert.deepEqual(main3.children.map((c) => [c.name, c.line, c.totalSamples]), [["r", 13, 3], ["f", 8, 2], ["(garbage collector)", 0, 1]]);
  assert.deepEqual(main3.children[0].children.map((c) => [c.line, c.totalSamples]), [[13, 3]]);
  const text = run(["--top", "--by-line", PROF]);
  assert.match(text.stdout, /^ {2}53\.3% {10}f {22}app\.js:8$/m);
  assert.match(text.stdout, /weighted by CPU time, by line$/m);
  // A profile without positions: every function is its one row, as without --by-line.
  const plain = json<TopView>(["--weight", "samples", NO_POSITIONS]);
  const byLine = json<TopView>(["--by-line", "--weight", "samples", NO_POSITIONS]);
  assert.deepEqual(
    byLine.functions.map((f) => [f.name, f.file, f.line, f.totalSamples]),
    plain.functions.map((f) => [f.name, f.file, f.line, f.totalSamples]),
  );
});

test("no line positions, an unknown function, a bad pattern, misplaced arguments: one line, exit 2", () => {
  assert.equal(hasLinePositions(readProfileSync(NO_POSITIONS)), false);
  const cases: [string[], RegExp][] = [
    [["--lines", NO_POSITIONS], /app\.prof has no line positions \(recorded with --no-lines, or before format 1\.1\?\)$/],
    [["--source", "main", NO_POSITIONS], /app\.prof has no line positions \(recorded with --no-lines, or before format 1\.1\?\)$/],
    [["--source", "^nope$", PROF], /no sampled function matches \/\^nope\$\/ in .*l\.prof$/],
    [["--lines", "^nope$", PROF], /no sampled function matches \/\^nope\$\//],
    [["--source", "(", PROF], /--source: "\(" is not a valid regular expression/],
    [["--lines", "(", PROF], /--lines: "\(" is not a valid regular expression/],
    [["--top", "main", PROF], /unexpected argument ".*l\.prof" \(one profile at a time; only --lines takes PATTERN FILE\)/],
    [["--lines", "--by-line", PROF], /--by-line applies to --top, --flat, --tree, --function and --diff, not --lines/],
  ];
  for (const [args, message] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "", args.join(" "));
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(lines[0], message, args.join(" "));
  }
});

test("a real recording: --lines shows the example's hot lines in each function's body, with their text", () => {
  const record = path.resolve(root, "../record/bin/run.cjs");
  const app = path.resolve(root, "../../examples/app.js");
  const out = path.join(dir, "live.prof");
  const rec = spawnSync(process.execPath, [record, "-o", out, "--", process.execPath, app, "500"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(rec.status, 0, rec.stderr);
  assert.ok(hasLinePositions(readProfileSync(out)), "the sampler recorded no line positions");
  const r = run(["--lines", "^[fgh]$", out, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout) as LinesView;
  const source = fs.readFileSync(app, "utf8").split("\n");
  for (const name of ["f", "g", "h"]) {
    const fn = v.functions.find((f) => f.name === name);
    assert.ok(fn, name);
    const own = fn.files.find((g) => g.file === fn.file)!;
    assert.equal(own.readable, true);
    const hottest = [...own.lines].filter((l) => l.line > 0).sort((a, b) => b.totalSamples - a.totalSamples)[0];
    // The hottest line is inside the function's body, and its text is the file's.
    assert.ok(hottest.line > fn.line && hottest.line < fn.line + 6, `${name}: line ${hottest.line}`);
    assert.equal(hottest.text, source[hottest.line - 1]);
  }
});
