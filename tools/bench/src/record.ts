/**
 * Sampler cost benchmark: the same CPU-bound workload (packages/record/test/fixtures/workload.cjs:
 * JSON, regexes, allocation, sorting, recursion, classes) run plain and under each profiler at a 1 ms
 * interval, alternating, several runs each, on a short and a long workload:
 *   vmprof     vmprof-record --period 0.001 (cpu mode)
 *   vmprof@10  vmprof-record --rate 10: the recorder's fixed costs (start, finish), to tell them from
 *              the per-sample cost
 *   vmprof-nl  vmprof-record --period 0.001 --no-lines: functions only, to show what lines cost
 *   vmprof-nat vmprof-record --period 0.001 --native: C++ frames too (issue 18), its cost apart
 *   floor      plain node with signal-floor.c preloaded: a thread set up as vmprof's sampler thread
 *              (no timer slack, SCHED_FIFO 1 where allowed) queues an empty-handled signal to the
 *              main thread every 1 ms, as vmprof's sampler thread does, and nothing else. What any
 *              in-process signal sampler at 1 kHz costs on this machine before doing any work; vmprof's
 *              slowdown minus this one is its own
 *   floor-wake the same thread waking every 1 ms without sending anything: what a thread waking on
 *              another CPU costs the program by itself
 *   cpu-prof   node --cpu-prof --cpu-prof-interval 1000 (V8's CpuProfiler)
 *   datadog    @datadog/pprof's time profiler, intervalMicros 1000, CPU time and contexts on, its
 *              profile encoded at exit (as an agent would before upload)
 * Per profiler: the workload process's wall-clock slowdown, extra CPU seconds (user+sys of every
 * thread of every process of the command, recorder included, minus plain's), achieved sample rate,
 * profile bytes per sample, peak RSS of the workload process; and, for vmprof, the CPU cost of one
 * sample: (extra CPU at 1 kHz - extra CPU at 10 Hz) / (samples at 1 kHz - samples at 10 Hz).
 *
 *   node tools/bench/dist/record.js [runs=5] [short seconds=1.5] [long seconds=20] [left out]
 *
 * `left out`: a comma-separated list of the rows not to run, among floor-wake, vmprof-nl, vmprof-nat
 * and datadog (to shorten a run that does not need them).
 *
 * Run it on a quiet machine: nothing else heavy (builds, tests) at the same time.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readProfileSync } from "@vmprof/format";

const RUNS = Number(process.argv[2] ?? 5);
const DURATIONS = [Number(process.argv[3] ?? 1.5), Number(process.argv[4] ?? 20)];
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const workload = join(root, "packages/record/test/fixtures/workload.cjs");
const recorder = join(root, "packages/record/bin/run.cjs");
const maxrss = join(root, "tools/bench/src/maxrss.cjs");
const dir = mkdtempSync(join(tmpdir(), "vmprof-bench-"));
const ddPreload = join(dir, "datadog.cjs");
writeFileSync(
  ddPreload,
  `// @datadog/pprof's time profiler as an agent runs it: started first, stopped and encoded at exit.
const { time, encodeSync } = require(${JSON.stringify(createRequire(import.meta.url).resolve("@datadog/pprof"))});
time.start({ intervalMicros: 1000, durationMillis: 3600000, withContexts: true, collectCpuTime: true });
// Before the library's own exit handler, which stops the profiler and drops the profile.
process.prependListener("exit", () => { require("node:fs").writeFileSync(process.env.BENCH_DD_OUT, encodeSync(time.stop())); });
`,
);

// The floor's library, built here with the system's C compiler (node-gyp needs one for the addon).
const floorSo = join(dir, "signal-floor.so");
execFileSync("cc", ["-O2", "-shared", "-fPIC", "-pthread", "-o", floorSo, join(root, "tools/bench/src/signal-floor.c")], { stdio: "inherit" });

interface Run { ms: number; cpuS: number; programCpuS: number; rssKiB: number; samples?: number; rate?: number; bytesPerSample?: number; handlerNs?: number }
type Name = "plain" | "floor-wake" | "floor" | "vmprof" | "vmprof-nl" | "vmprof-nat" | "vmprof@10" | "cpu-prof" | "datadog";
const OPTIONAL = new Set<Name>(["floor-wake", "vmprof-nl", "vmprof-nat", "datadog"]);
const LEFT_OUT = new Set((process.argv[5] ?? "").split(",").filter(Boolean));
for (const n of LEFT_OUT) if (!OPTIONAL.has(n as Name)) throw new Error(`cannot leave out ${n}: only ${[...OPTIONAL].join(", ")}`);
const NAMES = (["plain", "floor-wake", "floor", "vmprof", "vmprof-nl", "vmprof-nat", "vmprof@10", "cpu-prof", "datadog"] as Name[]).filter((n) => !LEFT_OUT.has(n));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}..${Math.max(...xs).toFixed(2)}`;

/** The CPU seconds of the processes a bash waited for, from the last line of its `times` (its own user/sys, then its children's). */
function childrenCpu(stdout: string): number {
  const children = stdout.trim().split("\n").pop()!.match(/(\d+)m([\d.]+)s/g)!;
  return children.map((t) => { const [, m, s] = /(\d+)m([\d.]+)s/.exec(t)!; return Number(m) * 60 + Number(s); }).reduce((a, b) => a + b, 0);
}

/** Runs a command under bash, whose `times` gives the CPU of every process it waited for. */
function timed(cmd: string[], env: NodeJS.ProcessEnv): { ms: number; cpuS: number; programCpuS: number; rssKiB: number } {
  const rssFile = join(dir, "rss");
  const quoted = cmd.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const r = spawnSync("bash", ["-c", `${quoted} >/dev/null || exit $?; times`], {
    env: { ...env, BENCH_RSS_FILE: rssFile },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} exited with ${r.status}`);
  const cpuS = childrenCpu(r.stdout);
  const inside = JSON.parse(readFileSync(rssFile, "utf8")) as { ms: number; rssKiB: number; programCpuS: number };
  return { ...inside, cpuS };
}

function run(name: Name, rounds: string, i: number): Run {
  const node = process.execPath;
  if (name === "plain") return timed([node, "--require", maxrss, workload, rounds], process.env);
  // env sets LD_PRELOAD for Node alone (not for the bash that times it) and execs it.
  if (name === "floor" || name === "floor-wake") {
    const signal = name === "floor" ? "1" : "0";
    return timed(["env", `LD_PRELOAD=${floorSo}`, `BENCH_FLOOR_SIGNAL=${signal}`, node, "--require", maxrss, workload, rounds], process.env);
  }
  if (name === "vmprof" || name === "vmprof@10" || name === "vmprof-nl" || name === "vmprof-nat") {
    const out = join(dir, `v${i}.prof`);
    // Run as a user runs it: the command (its sh line starts the recorder's Node), on this Node.
    const env = { ...process.env, NODE_OPTIONS: `--require ${maxrss}`, PATH: `${dirname(node)}:${process.env.PATH}` };
    const rate = { vmprof: ["--period", "0.001"], "vmprof-nl": ["--period", "0.001", "--no-lines"], "vmprof-nat": ["--period", "0.001", "--native"], "vmprof@10": ["--rate", "10"] }[name];
    const t = timed([recorder, ...rate, "-o", out, "--", node, workload, rounds], env);
    const p = readProfileSync(out);
    let cpuUs = 0;
    for (let k = 0; k < p.samples.count; k++) cpuUs += p.samples.cpu[k];
    return { ...t, samples: p.samples.count, rate: p.samples.count / (cpuUs / 1e6), bytesPerSample: statSync(out).size / p.samples.count, handlerNs: Number(p.meta.get("sample_cost_ns")) };
  }
  if (name === "cpu-prof") {
    const d = join(dir, `c${i}`);
    const t = timed([node, "--require", maxrss, "--cpu-prof", "--cpu-prof-interval", "1000", "--cpu-prof-dir", d, workload, rounds], process.env);
    const file = join(d, readdirSync(d)[0]);
    const cp = JSON.parse(readFileSync(file, "utf8")) as { samples: number[]; startTime: number; endTime: number };
    const bytes = statSync(file).size;
    rmSync(d, { recursive: true, force: true });
    return { ...t, samples: cp.samples.length, rate: cp.samples.length / ((cp.endTime - cp.startTime) / 1e6), bytesPerSample: bytes / cp.samples.length };
  }
  const out = join(dir, `d${i}.pb.gz`);
  const t = timed([node, "--require", maxrss, "--require", ddPreload, workload, rounds], { ...process.env, BENCH_DD_OUT: out });
  return { ...t, bytesPerSample: undefined };
}

/** Rounds of the workload that take about `seconds` plain. */
function calibrate(seconds: number): string {
  const probe = timed([process.execPath, "--require", maxrss, workload, "20"], process.env);
  return String(Math.max(1, Math.round((20 * seconds * 1000) / probe.ms)));
}

for (const seconds of DURATIONS) {
  const rounds = calibrate(seconds);
  const runs = Object.fromEntries(NAMES.map((n) => [n, [] as Run[]])) as Record<Name, Run[]>;
  const ran = (n: Name) => NAMES.includes(n);
  for (let i = 0; i < RUNS; i++) {
    // Each round starts one row later than the one before, so that no row always runs right after
    // plain (or always last) while the machine's speed drifts within a round.
    const order = [...NAMES.slice(i % NAMES.length), ...NAMES.slice(0, i % NAMES.length)];
    for (const n of order) runs[n].push(run(n, rounds, i));
    process.stderr.write(`${seconds} s, run ${i + 1}/${RUNS}: ${NAMES.map((n) => `${n} ${runs[n][i].ms.toFixed(0)} ms ${runs[n][i].cpuS.toFixed(2)} s CPU`).join(", ")}\n`);
  }
  const base = median(runs.plain.map((r) => r.ms));
  /** Extra CPU seconds of each run against the plain run of its round. */
  const extraOf = (n: Name) => runs[n].map((r, k) => r.cpuS - runs.plain[k].cpuS);
  const baseRss = median(runs.plain.map((r) => r.rssKiB)) / 1024;
  console.log(`\nworkload ${rounds} rounds (~${seconds} s plain), ${RUNS} runs each, alternating; against the plain run of the same round: medians (spread min..max); 1 ms interval`);
  console.log("profiler      wall slowdown          extra CPU s              samples/s  bytes/sample  peak RSS MiB (+plain)");
  for (const n of NAMES) {
    const rs = runs[n];
    // Each run against the plain run of its own round (the machine's speed drifts between rounds).
    const slow = rs.map((r, k) => ((r.ms - runs.plain[k].ms) / runs.plain[k].ms) * 100);
    const extra = extraOf(n);
    const rate = rs[0].rate === undefined ? "-" : median(rs.map((r) => r.rate!)).toFixed(0);
    const bps = rs[0].bytesPerSample ? median(rs.map((r) => r.bytesPerSample!)).toFixed(2) : "-";
    const rss = median(rs.map((r) => r.rssKiB)) / 1024;
    console.log(
      `${n.padEnd(12)} ${`${median(slow).toFixed(2)}% (${spread(slow)})`.padEnd(22)} ${`${median(extra).toFixed(3)} (${spread(extra)})`.padEnd(24)} ${rate.padStart(9)} ${bps.padStart(13)}  ${rss.toFixed(1)} (+${(rss - baseRss).toFixed(1)})`,
    );
  }
  // The floor: a bare signal every 1 ms. What each profiler's wall slowdown is above it, in points of
  // the plain run's time, pairwise (runs of the same round).
  const above = (n: Name) => runs[n].map((r, k) => ((r.ms - runs.floor[k].ms) / runs.plain[k].ms) * 100);
  console.log(`wall above the floor (a bare signal every 1 ms), pairwise medians in points: ${(["floor-wake", "vmprof", "vmprof@10", "cpu-prof", "datadog"] as Name[]).filter(ran).map((n) => `${n} ${median(above(n)).toFixed(2)} (${spread(above(n))})`).join(", ")}`);
  const v = runs.vmprof, v10 = runs["vmprof@10"];
  const perSample = (median(v.map((r) => r.cpuS)) - median(v10.map((r) => r.cpuS))) / (median(v.map((r) => r.samples!)) - median(v10.map((r) => r.samples!)));
  const fixed = median(extraOf("vmprof@10"));
  const handler = median(v.map((r) => r.handlerNs!)) / 1000;
  console.log(`vmprof: ${(perSample * 1e6).toFixed(1)} µs of CPU per sample (all threads), of which ${handler.toFixed(1)} µs on the sampled thread in the signal handler (the profile's sample_cost_ns); fixed cost (start, finish) ${fixed.toFixed(3)} s CPU`);
  // Where vmprof's extra CPU is spent: in the profiled process (sampling, code events, the preload;
  // its final write runs before the program's own CPU is read) or in the recorder's own process. A
  // plain run's CPU after that reading (Node's teardown) is taken off the second.
  const inProgram = median(v.map((r) => r.programCpuS)) - median(runs.plain.map((r) => r.programCpuS));
  const recorderCpu = median(v.map((r) => r.cpuS - r.programCpuS)) - median(runs.plain.map((r) => r.cpuS - r.programCpuS));
  console.log(`vmprof's extra CPU: ${inProgram.toFixed(3)} s in the profiled process, ${recorderCpu.toFixed(3)} s in the recorder's own process (medians)`);
  const ratio = (n: Name) => median(extraOf(n)) / median(extraOf("cpu-prof"));
  console.log(`extra CPU against --cpu-prof's: ${(["vmprof", "vmprof-nl", "datadog"] as Name[]).filter(ran).map((n) => `${n} ${ratio(n).toFixed(2)}x`).join(", ")}`);
  if (ran("vmprof-nat")) {
    const nat = (f: (r: Run) => number) => runs["vmprof-nat"].map((r, k) => f(r) - f(v[k]));
    const nCpu = nat((r) => r.cpuS);
    const nWall = nat((r) => (r.ms / base) * 100);
    console.log(`--native: +${median(nCpu).toFixed(3)} s CPU (${spread(nCpu)}), wall ${median(nWall).toFixed(2)} points (${spread(nWall)}) against vmprof without it, pairwise medians`);
  }
  if (!ran("vmprof-nl")) continue;
  // What lines cost: the pairwise (same round) differences of vmprof and vmprof --no-lines.
  const pair = (f: (r: Run) => number) => v.map((r, k) => f(r) - f(runs["vmprof-nl"][k]));
  const dCpu = pair((r) => r.cpuS);
  const dWall = pair((r) => (r.ms / base) * 100);
  const bytes = median(v.map((r) => r.bytesPerSample!)) / median(runs["vmprof-nl"].map((r) => r.bytesPerSample!));
  console.log(`lines: +${median(dCpu).toFixed(3)} s CPU (${spread(dCpu)}), wall ${median(dWall).toFixed(2)} points (${spread(dWall)}), bytes/sample x${bytes.toFixed(2)} against --no-lines, pairwise medians`);
}
rmSync(dir, { recursive: true, force: true });
