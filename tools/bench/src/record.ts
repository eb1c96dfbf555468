/**
 * Sampler overhead benchmark: the same CPU-bound workload (packages/record/test/fixtures/workload.cjs:
 * JSON, regexes, allocation, sorting, recursion, classes) run plain, under `vmprof-record` at a 1 ms
 * period (cpu mode), and under `node --cpu-prof --cpu-prof-interval 1000`, alternating, several runs
 * each. Prints medians: the workload process's own lifetime and its slowdown against the plain run
 * (the recorder's start and merge are outside it, and printed apart as the command's wall time),
 * achieved sample rate, profile bytes per sample, and the profiled process's peak RSS.
 *
 *   node tools/bench/dist/record.js [rounds=100] [runs=5] [mode=cpu]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readProfileSync } from "@vmprof/format";

const ROUNDS = process.argv[2] ?? "100";
const RUNS = Number(process.argv[3] ?? 5);
const MODE = process.argv[4] ?? "cpu";
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const workload = join(root, "packages/record/test/fixtures/workload.cjs");
const recorder = join(root, "packages/record/bin/run.js");
const maxrss = join(root, "tools/bench/src/maxrss.cjs");
const dir = mkdtempSync(join(tmpdir(), "vmprof-bench-"));

interface Run { ms: number; commandMs: number; rssKiB: number; samples?: number; rate?: number; bytesPerSample?: number }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timed(cmd: string[], env: NodeJS.ProcessEnv): { ms: number; commandMs: number; rssKiB: number } {
  const rssFile = join(dir, "rss");
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd[0], cmd.slice(1), { env: { ...env, BENCH_RSS_FILE: rssFile }, stdio: ["ignore", "ignore", "inherit"] });
  const commandMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} exited with ${r.status}`);
  const inside = JSON.parse(readFileSync(rssFile, "utf8")) as { ms: number; rssKiB: number };
  return { ...inside, commandMs };
}

function plain(): Run {
  return timed([process.execPath, "--require", maxrss, workload, ROUNDS], process.env);
}

function vmprof(i: number): Run {
  const out = join(dir, `v${i}.prof`);
  const env = { ...process.env, NODE_OPTIONS: `--require ${maxrss}` };
  const t = timed([process.execPath, recorder, "--mode", MODE, "--period", "0.001", "-o", out, "--", process.execPath, workload, ROUNDS], env);
  const p = readProfileSync(out);
  let cpuUs = 0;
  for (let k = 0; k < p.samples.count; k++) cpuUs += p.samples.cpu[k];
  const elapsed = (p.samples.time[p.samples.count - 1] - p.samples.time[0]) / 1e6;
  const rate = p.samples.count / (MODE === "cpu" ? cpuUs / 1e6 : elapsed);
  return { ...t, samples: p.samples.count, rate, bytesPerSample: statSync(out).size / p.samples.count };
}

function cpuProf(i: number): Run {
  const d = join(dir, `c${i}`);
  const t = timed([process.execPath, "--require", maxrss, "--cpu-prof", "--cpu-prof-interval", "1000", "--cpu-prof-dir", d, workload, ROUNDS], process.env);
  const file = join(d, readdirSync(d)[0]);
  const cp = JSON.parse(readFileSync(file, "utf8")) as { samples: number[]; startTime: number; endTime: number };
  const rate = cp.samples.length / ((cp.endTime - cp.startTime) / 1e6);
  return { ...t, samples: cp.samples.length, rate, bytesPerSample: statSync(file).size / cp.samples.length };
}

const runs: Record<"plain" | "vmprof" | "cpuprof", Run[]> = { plain: [], vmprof: [], cpuprof: [] };
plain(); // warm the file cache
for (let i = 0; i < RUNS; i++) {
  runs.plain.push(plain());
  runs.vmprof.push(vmprof(i));
  runs.cpuprof.push(cpuProf(i));
  process.stderr.write(`run ${i + 1}/${RUNS}: plain ${runs.plain[i].ms.toFixed(0)} ms, vmprof ${runs.vmprof[i].ms.toFixed(0)} ms, --cpu-prof ${runs.cpuprof[i].ms.toFixed(0)} ms\n`);
}
rmSync(dir, { recursive: true, force: true });

const base = median(runs.plain.map((r) => r.ms));
console.log(`workload: ${ROUNDS} rounds, ${RUNS} runs each, alternating; medians; vmprof in ${MODE} mode at 1 ms, --cpu-prof at 1000 µs`);
console.log("profiler     process ms   slowdown   command ms   samples/s   bytes/sample   peak RSS MiB (+ vs plain)");
for (const [name, rs] of Object.entries(runs)) {
  const ms = median(rs.map((r) => r.ms));
  const rss = median(rs.map((r) => r.rssKiB)) / 1024;
  const plainRss = median(runs.plain.map((r) => r.rssKiB)) / 1024;
  const rate = rs[0].rate === undefined ? "-" : median(rs.map((r) => r.rate!)).toFixed(0);
  const bps = rs[0].bytesPerSample === undefined ? "-" : median(rs.map((r) => r.bytesPerSample!)).toFixed(2);
  const slow = `${(((ms - base) / base) * 100).toFixed(2)}%`;
  const cmd = median(rs.map((r) => r.commandMs));
  console.log(`${name.padEnd(12)} ${ms.toFixed(0).padStart(10)} ${slow.padStart(10)} ${cmd.toFixed(0).padStart(12)} ${rate.padStart(11)} ${bps.padStart(14)}   ${rss.toFixed(1)} (+${(rss - plainRss).toFixed(1)})`);
}
const v = median(runs.vmprof.map((r) => r.ms));
const c = median(runs.cpuprof.map((r) => r.ms));
console.log(`process time against plain: vmprof ${(v / base).toFixed(4)}x, --cpu-prof ${(c / base).toFixed(4)}x; vmprof/--cpu-prof ${(v / c).toFixed(4)}`);
