/**
 * Format benchmark: write then read a synthetic profile of N samples (default 10,000,000), several
 * runs, and print medians of write and read throughput and bytes per sample. Reads run in a fresh
 * process, as a command would. The peer is Chrome's .cpuprofile (what `node --cpu-prof` writes)
 * holding the same samples: its size and JSON.parse time, measured in the same run.
 *
 *   node tools/bench/dist/format.js [samples] [runs]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fileSink } from "@vmprof/format";
import { synthesize, writeSynthetic, type Synthetic } from "./synthetic.js";

const N = Number(process.argv[2] ?? 10_000_000);
const RUNS = Number(process.argv[3] ?? 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The same samples as a Chrome .cpuprofile of the main thread plus the worker (one tree). */
function toCpuProfile(s: Synthetic): string {
  const nodes: { id: number; callFrame: object; hitCount: number; children: number[] }[] = [];
  const root = { id: 1, callFrame: { functionName: "(root)", scriptId: "0", url: "", lineNumber: -1, columnNumber: -1 }, hitCount: 0, children: [] as number[] };
  nodes.push(root);
  const kids = new Map<string, number>();
  const child = (parent: number, fn: number): number => {
    const key = `${parent}/${fn}`;
    let id = kids.get(key);
    if (id === undefined) {
      const f = s.functions[fn];
      id = nodes.length + 1;
      nodes.push({ id, callFrame: { functionName: f.name, scriptId: String(1 + (fn % 120)), url: `file://${f.file}`, lineNumber: f.line - 1, columnNumber: f.column - 1 }, hitCount: 0, children: [] });
      nodes[parent - 1].children.push(id);
      kids.set(key, id);
    }
    return id;
  };
  const idle = nodes.push({ id: 2, callFrame: { functionName: "(idle)", scriptId: "0", url: "", lineNumber: -1, columnNumber: -1 }, hitCount: 0, children: [] });
  root.children.push(idle);
  const leafOf = s.stacks.map((frames) => frames.reduce((n, f) => child(n, f.fn), 1));
  const samples = new Array<number>(s.count);
  const timeDeltas = new Array<number>(s.count);
  let prev = 0;
  for (let i = 0; i < s.count; i++) {
    samples[i] = s.stack[i] < 0 ? idle : leafOf[s.stack[i]];
    nodes[samples[i] - 1].hitCount++;
    timeDeltas[i] = Math.max(0, s.time[i] - prev);
    prev = s.time[i];
  }
  return JSON.stringify({ nodes, startTime: 0, endTime: prev, samples, timeDeltas });
}

/** Times a read in a fresh process (what a report command does), checking the sample count. */
function readInChild(kind: string, file: string): number {
  const out = execFileSync(process.execPath, [fileURLToPath(new URL("./read-one.js", import.meta.url)), kind, file], { encoding: "utf8" });
  const { ms, count } = JSON.parse(out) as { ms: number; count: number };
  if (count !== N) throw new Error(`${kind}: read back ${count} of ${N} samples`);
  return ms;
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), "vmprof-bench-"));
  try {
    console.log(`format benchmark: ${N.toLocaleString("en")} samples, ${RUNS} runs (medians)`);
    let t = performance.now();
    const s = synthesize(N);
    console.log(`synthesized ${s.stacks.length} stacks over ${s.functions.length} functions in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const ours = join(dir, "bench.prof");
    const plain = join(dir, "plain.prof");
    const peer = join(dir, "bench.cpuprofile");
    const writes: number[] = [];
    const reads: number[] = [];
    const peerWrites: number[] = [];
    const peerReads: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      t = performance.now();
      writeSynthetic(s, fileSink(ours));
      writes.push(performance.now() - t);
      reads.push(readInChild("vmprof", ours));
      t = performance.now();
      writeFileSync(peer, toCpuProfile(s));
      peerWrites.push(performance.now() - t);
      peerReads.push(readInChild("cpuprofile", peer));
    }
    writeSynthetic(s, fileSink(plain), false);
    const size = statSync(ours).size;
    const plainSize = statSync(plain).size;
    const peerSize = statSync(peer).size;
    const rate = (ms: number) => `${((N / ms) * 1000 / 1e6).toFixed(2)} M samples/s`;
    const row = (what: string, ms: number[], peerMs: number[]) =>
      console.log(`${what.padEnd(6)} vmprof ${rate(median(ms)).padStart(18)} (${(median(ms) / 1000).toFixed(2)} s)   .cpuprofile ${rate(median(peerMs)).padStart(18)} (${(median(peerMs) / 1000).toFixed(2)} s)   ratio ${(median(peerMs) / median(ms)).toFixed(1)}x`);
    row("write", writes, peerWrites);
    row("read", reads, peerReads);
    console.log(`size   vmprof ${(size / N).toFixed(2)} bytes/sample (${(plainSize / N).toFixed(2)} without deflate)   .cpuprofile ${(peerSize / N).toFixed(2)} bytes/sample   ratio ${(peerSize / size).toFixed(1)}x`);
    console.log(`runs: write ${writes.map((x) => x.toFixed(0)).join(" ")} ms; read ${reads.map((x) => x.toFixed(0)).join(" ")} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
