/**
 * Attach benchmark (issue 15): an HTTP server (packages/record/test/fixtures/attach-server.cjs, one
 * CPU-bound handler) under a steady local load from a process of its own (attach-load.cjs, 4
 * keep-alive clients), measured in four ways, alternating, several rounds:
 *   plain     no profiler
 *   attach    started plain; `vmprof-record --pid --period 0.001` attaches after the warm-up: the
 *             attach itself (how long the sampler's start held the main thread, as the agent
 *             measures it, and the slowest request in flight while attaching), then the sampling
 *   record    started under `vmprof-record --period 0.001 -- node server.js`
 *   datadog   @datadog/pprof's time profiler (intervalMicros 1000, CPU time and contexts on),
 *             started by a preload
 * Per way: requests per second, p50 and p99 latency over the measured window, and CPU (user+sys of
 * every thread of the server process, plus the recorder's in attach and record) per second of
 * window; ratios against plain of the same round.
 *
 *   node tools/bench/dist/attach.js [rounds=5] [window seconds=5]
 *
 * Run it on a quiet machine: nothing else heavy at the same time (2 cores: the load takes one).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROUNDS = Number(process.argv[2] ?? 5);
const WINDOW_S = Number(process.argv[3] ?? 5);
const WARMUP_S = 2;
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const server = join(root, "packages/record/test/fixtures/attach-server.cjs");
const recorder = join(root, "packages/record/bin/run.cjs");
const loader = join(root, "tools/bench/src/attach-load.cjs");
const dir = mkdtempSync(join(tmpdir(), "vmprof-bench-attach-"));
const ddPreload = join(dir, "datadog.cjs");
writeFileSync(
  ddPreload,
  `const { time } = require(${JSON.stringify(createRequire(import.meta.url).resolve("@datadog/pprof"))});
time.start({ intervalMicros: 1000, durationMillis: 3600000, withContexts: true, collectCpuTime: true });
`,
);

type Way = "plain" | "attach" | "record" | "datadog";
const WAYS: Way[] = ["plain", "attach", "record", "datadog"];
interface Window { rps: number; p50: number; p99: number; cpuPerS: number; failures: number }
interface AttachMoment { heldMs: number; attachMs: number; slowestMs: number }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const range = (xs: number[], d = 1) => `${Math.min(...xs).toFixed(d)}..${Math.max(...xs).toFixed(d)}`;

/** CPU seconds (user+sys, all threads) of a process so far. */
function cpuOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

/** The server's pid once it wrote its port; under vmprof-record, the node child's. */
async function startServer(way: Way): Promise<{ proc: ChildProcess; pid: number; port: number; extraPid?: number }> {
  const portFile = join(dir, "port");
  rmSync(portFile, { force: true });
  const node = process.execPath;
  const args =
    way === "record"
      ? [recorder, "--period", "0.001", "-o", join(dir, "record.prof"), "--", node, server, portFile]
      : way === "datadog"
        ? ["--require", ddPreload, server, portFile]
        : [server, portFile];
  const proc = spawn(node, args, { stdio: ["ignore", "ignore", "ignore"] });
  for (let i = 0; i < 1000 && !(existsSync(portFile) && readFileSync(portFile, "utf8")); i++) await sleep(10);
  const port = Number(readFileSync(portFile, "utf8"));
  if (way !== "record") return { proc, pid: proc.pid!, port };
  // The server is the recorder's child.
  const children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8").trim().split(/\s+/).map(Number);
  return { proc, pid: children[0], port, extraPid: proc.pid };
}

function windowOf(requests: [number, number][], from: number, to: number, cpuS: number, failures: number): Window {
  const inside = requests.filter(([s]) => s >= from && s < to).map(([, l]) => l);
  const seconds = (to - from) / 1000;
  return { rps: inside.length / seconds, p50: pct(inside, 0.5), p99: pct(inside, 0.99), cpuPerS: cpuS / seconds, failures };
}

/** One way, one round: warm-up, then the measured window (and for attach, the attach before it). */
async function measure(way: Way): Promise<{ window: Window; moment?: AttachMoment }> {
  const s = await startServer(way);
  const total = WARMUP_S + WINDOW_S + (way === "attach" ? 2 : 0) + 1;
  const load = spawn(process.execPath, [loader, String(s.port), String(total), "4"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  load.stdout!.on("data", (d) => (out += d));
  const loadDone = new Promise((r) => load.once("exit", r));
  await sleep(WARMUP_S * 1000);
  let moment: AttachMoment | undefined;
  let attacher: ChildProcess | undefined;
  let attacherDone: Promise<unknown> = Promise.resolve();
  let attachFrom = 0;
  let attachTo = 0;
  if (way === "attach") {
    attachFrom = performance.timeOrigin + performance.now();
    attacher = spawn(process.execPath, [recorder, "--pid", String(s.pid), "--period", "0.001", "--duration", String(WINDOW_S + 1.5), "-o", join(dir, "attach.prof")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    attacherDone = new Promise((r) => attacher!.once("exit", r));
    let err = "";
    attacher.stderr!.on("data", (d) => (err += d));
    while (!/held ([\d.]+) ms/.test(err)) {
      if (attacher.exitCode !== null) throw new Error(`vmprof-record --pid failed: ${err}`);
      await sleep(5);
    }
    attachTo = performance.timeOrigin + performance.now() + 200;
    const m = /attached to process \d+ \(Node [^)]+\) in (\d+) ms; its main thread was held ([\d.]+) ms/.exec(err)!;
    moment = { heldMs: Number(m[2]), attachMs: Number(m[1]), slowestMs: 0 };
    await sleep(500);
  }
  const from = performance.timeOrigin + performance.now();
  const cpu0 = cpuOf(s.pid) + (s.extraPid ? cpuOf(s.extraPid) : 0) + (attacher ? cpuOf(attacher.pid!) : 0);
  await sleep(WINDOW_S * 1000);
  const cpu1 = cpuOf(s.pid) + (s.extraPid ? cpuOf(s.extraPid) : 0) + (attacher ? cpuOf(attacher.pid!) : 0);
  const to = performance.timeOrigin + performance.now();
  await loadDone;
  const { requests, failures } = JSON.parse(out) as { requests: [number, number][]; failures: number };
  if (moment) {
    // The slowest request that was in flight at any time during the attach.
    moment.slowestMs = Math.max(0, ...requests.filter(([st, l]) => st < attachTo && st + l > attachFrom).map(([, l]) => l));
    await attacherDone;
  }
  s.proc.kill("SIGTERM");
  await new Promise((r) => s.proc.once("exit", r));
  return { window: windowOf(requests, from, to, cpu1 - cpu0, failures), moment };
}

async function main() {
  const results = new Map<Way, Window[]>(WAYS.map((w) => [w, []]));
  const moments: AttachMoment[] = [];
  const plainP99: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternating: each round starts with another way.
    const order = WAYS.map((_, i) => WAYS[(i + r) % WAYS.length]);
    for (const way of order) {
      const { window, moment } = await measure(way);
      results.get(way)!.push(window);
      if (moment) moments.push(moment);
      if (way === "plain") plainP99.push(window.p99);
      process.stderr.write(`round ${r + 1} ${way}: ${window.rps.toFixed(0)} req/s, p99 ${window.p99.toFixed(1)} ms, CPU ${window.cpuPerS.toFixed(2)} s/s\n`);
    }
  }
  const plain = results.get("plain")!;
  console.log(`\nbench:attach: ${ROUNDS} rounds, ${WINDOW_S} s windows, 4 keep-alive clients; medians (range); ratios against plain of the same round`);
  console.log("way        req/s              p50 ms           p99 ms             CPU s/s          req/s ratio  p99 ratio  CPU ratio  failures");
  for (const way of WAYS) {
    const w = results.get(way)!;
    const ratio = (f: (x: Window) => number) => median(w.map((x, i) => f(x) / f(plain[i]))).toFixed(3);
    console.log(
      `${way.padEnd(10)} ${median(w.map((x) => x.rps)).toFixed(0).padStart(5)} (${range(w.map((x) => x.rps), 0)})`.padEnd(30) +
        `${median(w.map((x) => x.p50)).toFixed(1)} (${range(w.map((x) => x.p50))})`.padEnd(17) +
        `${median(w.map((x) => x.p99)).toFixed(1)} (${range(w.map((x) => x.p99))})`.padEnd(19) +
        `${median(w.map((x) => x.cpuPerS)).toFixed(2)} (${range(w.map((x) => x.cpuPerS), 2)})`.padEnd(17) +
        `${ratio((x) => x.rps).padStart(11)}  ${ratio((x) => x.p99).padStart(9)}  ${ratio((x) => x.cpuPerS).padStart(9)}  ${w.reduce((n, x) => n + x.failures, 0)}`,
    );
  }
  console.log(
    `\nattach moment: main thread held ${median(moments.map((m) => m.heldMs)).toFixed(1)} ms (${range(moments.map((m) => m.heldMs))}); ` +
      `whole attach ${median(moments.map((m) => m.attachMs)).toFixed(0)} ms (${range(moments.map((m) => m.attachMs), 0)}); ` +
      `slowest request in flight meanwhile ${median(moments.map((m) => m.slowestMs)).toFixed(1)} ms (${range(moments.map((m) => m.slowestMs))}) against plain p99 ${median(plainP99).toFixed(1)} ms`,
  );
  rmSync(dir, { recursive: true, force: true });
}

await main();
