/**
 * What one sample costs, measured inside one process where the machine's noise cannot tell runs
 * apart: the workload (packages/record/test/fixtures/workload.cjs) in segments, round-robin over no
 * profiler, vmprof, V8's CpuProfiler (what --cpu-prof runs) and @datadog/pprof's time profiler, each
 * at 1 kHz and at 10 Hz (see sample-cost-child.cjs). Per profiler, with medians over the repetitions
 * (pairs from the same repetition):
 *   extra CPU per segment at 1 kHz, against no profiler (every thread of the process, profile made)
 *   the CPU cost of one sample: (CPU at 1 kHz - CPU at 10 Hz) / (samples at 1 kHz - samples at 10 Hz)
 *   the cost of a start and stop: CPU at 10 Hz - CPU with no profiler
 *   wall-clock slowdown at 1 kHz
 *   the CPU of the profiler's own threads per sample (exact: /proc's per-thread counters), which
 *   leaves out only the signal handler's time on the sampled thread
 *
 *   node tools/bench/dist/sample-cost.js [repetitions=8] [rounds per segment=10]
 */
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPS = process.argv[2] ?? "8";
const ROUNDS = process.argv[3] ?? "10";
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const require = createRequire(import.meta.url);
const r = spawnSync(process.execPath, [join(root, "tools/bench/src/sample-cost-child.cjs"), REPS, ROUNDS], {
  encoding: "utf8",
  maxBuffer: 1 << 24,
  env: {
    ...process.env,
    BENCH_WORKLOAD: join(root, "packages/record/test/fixtures/workload.cjs"),
    BENCH_DATADOG: require.resolve("@datadog/pprof"),
    BENCH_NATIVE: pathToFileURL(require.resolve("@vmprof/native")).href,
  },
  stdio: ["ignore", "pipe", "inherit"],
});
if (r.status !== 0) throw new Error(`the benchmark process exited with ${r.status}`);

interface Segment { name: string; cpuUs: number; threadsUs: number; wallUs: number; roundsUs: number; mainUs: number; samples: number }
const segments = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Segment);
const byName = new Map<string, Segment[]>();
for (const s of segments) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}..${Math.max(...xs).toFixed(digits)}`;
const off = byName.get("off")!;
const reps = off.length;

console.log(`workload: ${ROUNDS} rounds per segment (${(median(off.map((s) => s.wallUs)) / 1e6).toFixed(2)} s with no profiler), ${reps} repetitions, round-robin in one process; medians (min..max)`);
console.log("profiler   extra CPU ms @1kHz      wall slowdown @1kHz    samples @1kHz   µs CPU per sample      start+stop CPU ms   own threads µs/sample");
const perSample: Record<string, number> = {};
const extra: Record<string, number> = {};
for (const p of ["vmprof", "cpu-prof", "datadog"]) {
  const hi = byName.get(`${p}@1k`)!;
  const lo = byName.get(`${p}@10`)!;
  const ex = hi.map((s, i) => (s.cpuUs - off[i].cpuUs) / 1000);
  const slow = hi.map((s, i) => (100 * (s.wallUs - off[i].wallUs)) / off[i].wallUs);
  const per = hi.map((s, i) => (s.cpuUs - lo[i].cpuUs) / Math.max(1, s.samples - lo[i].samples));
  const fixed = lo.map((s, i) => (s.cpuUs - off[i].cpuUs) / 1000);
  const own = hi.map((s) => s.threadsUs / Math.max(1, s.samples));
  perSample[p] = median(per);
  extra[p] = median(ex);
  console.log(
    `${p.padEnd(10)} ${`${median(ex).toFixed(0)} (${spread(ex, 0)})`.padEnd(23)} ${`${median(slow).toFixed(1)}% (${spread(slow, 1)})`.padEnd(22)} ${String(median(hi.map((s) => s.samples))).padStart(13)}   ${`${median(per).toFixed(1)} (${spread(per, 1)})`.padEnd(22)} ${`${median(fixed).toFixed(0)} (${spread(fixed, 0)})`.padEnd(19)} ${median(own).toFixed(1)} (${spread(own, 1)})`,
  );
}
// While sampling, after the start and before the stop: what the program feels. The rounds' wall time
// against no profiler's, and the sampled thread's own extra CPU per sample (our signal handler, the
// kernel's delivery, and what both evict from the caches), the part of the cost that slows it down.
console.log("\nwhile sampling at 1 kHz (start and stop left out): rounds' wall slowdown, sampled thread's extra CPU µs per sample");
for (const p of ["vmprof", "cpu-prof", "datadog"]) {
  const hi = byName.get(`${p}@1k`)!;
  const slow = hi.map((s, i) => (100 * (s.roundsUs - off[i].roundsUs)) / off[i].roundsUs);
  const main = hi.map((s, i) => (s.mainUs - off[i].mainUs) / Math.max(1, s.samples));
  console.log(`${p.padEnd(10)} ${`${median(slow).toFixed(2)}% (${spread(slow, 2)})`.padEnd(24)} ${median(main).toFixed(1)} (${spread(main, 1)})`);
}
console.log(`per sample against V8's CpuProfiler: vmprof ${(perSample.vmprof / perSample["cpu-prof"]).toFixed(2)}x, datadog ${(perSample.datadog / perSample["cpu-prof"]).toFixed(2)}x; extra CPU at 1 kHz: vmprof ${(extra.vmprof / extra["cpu-prof"]).toFixed(2)}x, datadog ${(extra.datadog / extra["cpu-prof"]).toFixed(2)}x`);
