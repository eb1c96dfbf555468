/**
 * Lines: every JS frame carries the line it was executing, on every supported Node, and the hot
 * lines' shares agree with V8's own per-line ticks (node --cpu-prof positionTicks) on the same program.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { Tier, VmState, type Profile } from "@vmprof/format";
import { fixture, nodeBinary, read, record, tempDir } from "./helpers.js";

const dir = tempDir();
const PROGRAM = fixture("lines.cjs");

/** Percent of the samples whose innermost frame is in `file`, by that frame's line. */
function ourLineShares(p: Profile, file: string): Map<number, number> {
  const counts = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < p.samples.count; i++) {
    const s = p.samples.stack[i];
    if (s === 0 || p.samples.state[i] !== VmState.JS) continue;
    const fr = p.frames[p.stacks.frame[s] - 1];
    if (p.functions[fr.function - 1].file !== file) continue;
    counts.set(fr.line, (counts.get(fr.line) ?? 0) + 1);
    total++;
  }
  return new Map([...counts].map(([l, n]) => [l, (100 * n) / total]));
}

/** The same from a .cpuprofile's positionTicks (self ticks per line of nodes in `file`). */
function v8LineShares(cpuprofile: string, file: string): Map<number, number> {
  const cp = JSON.parse(fs.readFileSync(cpuprofile, "utf8")) as { nodes: { callFrame: { url: string }; positionTicks?: { line: number; ticks: number }[] }[] };
  const counts = new Map<number, number>();
  let total = 0;
  for (const n of cp.nodes) {
    if (n.callFrame.url !== file && n.callFrame.url !== `file://${file}`) continue;
    for (const t of n.positionTicks ?? []) {
      counts.set(t.line, (counts.get(t.line) ?? 0) + t.ticks);
      total += t.ticks;
    }
  }
  return new Map([...counts].map(([l, n]) => [l, (100 * n) / total]));
}

const fmt = (m: Map<number, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([l, s]) => `${l}: ${s.toFixed(1)}`).join(", ");

for (const major of ["20", "22", "24", "26"]) {
  test(`Node ${major}: the hot lines' shares agree with --cpu-prof's positionTicks within 5 points (medians of five runs each)`, (t) => {
    const node = nodeBinary(major);
    // Runs of a program differ by a few points per line, and now and then by ten (V8's own runs do
    // too: its JIT does not always make the same code; on a loaded machine --cpu-prof's own three
    // runs gave line 6 67.7, 74.3 and 70.8 % where an unloaded machine gives 77-80), so each side is
    // the median of five runs per line, taken alternately. (Running both profilers in one process is no reference: a sample
    // taken inside V8's own SIGPROF handler loses the frame it interrupted.)
    const RUNS = 5;
    const oursRuns = new Map<number, number[]>();
    const v8Runs = new Map<number, number[]>();
    const add = (into: Map<number, number[]>, m: Map<number, number>, run: number) => {
      for (const [l, v] of m) {
        if (!into.has(l)) into.set(l, new Array<number>(RUNS).fill(0));
        into.get(l)![run] = v;
      }
    };
    const medians = (m: Map<number, number[]>) => new Map([...m].map(([l, vs]) => [l, [...vs].sort((a, b) => a - b)[RUNS >> 1]]));
    let p: Profile | undefined;
    for (let run = 0; run < RUNS; run++) {
      const file = path.join(dir, `lines-${major}-${run}.prof`);
      // A fixed amount of work (3500 rounds, about 2 s of CPU), not a fixed time: on a loaded machine
      // both profilers still see the same work and about 2000 samples of it.
      const r = record(["-o", file, "--", node, PROGRAM, "60000", "3500"]);
      assert.equal(r.status, 0, String(r.stderr));
      p = read(file);
      add(oursRuns, ourLineShares(p, PROGRAM), run);
      const cpuDir = fs.mkdtempSync(path.join(dir, "cpuprof-"));
      const v = spawnSync(node, ["--cpu-prof", "--cpu-prof-interval", "1000", "--cpu-prof-dir", cpuDir, PROGRAM, "60000", "3500"]);
      assert.equal(v.status, 0, String(v.stderr));
      add(v8Runs, v8LineShares(path.join(cpuDir, fs.readdirSync(cpuDir)[0]), PROGRAM), run);
    }
    const ours = medians(oursRuns);
    const v8 = medians(v8Runs);
    const line = `ours ${fmt(ours)}; --cpu-prof ${fmt(v8)}`;
    t.diagnostic(line);
    // The loop's three lines hold most of the time in both.
    const hot = [6, 7, 8];
    assert.ok(hot.reduce((a, l) => a + (v8.get(l) ?? 0), 0) > 80, line);
    // Within 5 points of V8's median, or inside the range V8's own runs spanned (its runs alone
    // differ by up to 8 points on a line here).
    for (const l of hot) {
      const runs = v8Runs.get(l) ?? [0];
      const o = ours.get(l) ?? 0;
      const ok = Math.abs(o - (v8.get(l) ?? 0)) <= 5 || (o >= Math.min(...runs) && o <= Math.max(...runs));
      assert.ok(ok, `line ${l}: ${line}; --cpu-prof's runs ${runs.map((v) => v.toFixed(1)).join(", ")}`);
    }
    // Optimized code places every sample, its prologue and the positions no bytecode has included.
    let optimized = 0;
    let unknown = 0;
    for (let i = 0; i < p!.samples.count; i++) {
      const s = p!.samples.stack[i];
      if (s === 0) continue;
      const fr = p!.frames[p!.stacks.frame[s] - 1];
      if (fr.tier !== Tier.OPTIMIZED || p!.functions[fr.function - 1].file !== PROGRAM) continue;
      optimized++;
      if (fr.line === 0) unknown++;
    }
    assert.ok(optimized > 500 && unknown / optimized < 0.02, `${unknown} of ${optimized} optimized samples without a line`);
    // Callers carry the line of their call: main's frames are at line 15.
    const mainLines = new Set(p!.frames.filter((fr) => p!.functions[fr.function - 1].name === "main" && fr.line !== 0).map((fr) => fr.line));
    assert.ok(mainLines.has(15), `main's lines: ${[...mainLines]}`);
  });
}
