/**
 * What labels per sample cost a server: requests per second and p99 latency of an HTTP server with
 * two routes of known CPU cost (the labels test's server, packages/record/test/fixtures/labels-server.mjs) under a local load of CONCURRENCY requests in
 * flight, each profiler with and without labelling every request by its route:
 *   plain        no profiler
 *   vmprof       vmprof-record --period 0.001 (cpu mode), requests not labelled
 *   vmprof+l     the same, every request in withLabels({ route })
 *   datadog      @datadog/pprof's time profiler (1 ms, CPU time and contexts on), no context set
 *   datadog+l    the same with contexts (AsyncContextFrame), every request in runWithContext({ route })
 * Rounds alternate the five; each round runs WARMUP then REQUESTS requests per configuration in a
 * fresh server. Prints per configuration the median (min..max) over rounds of requests per second and
 * of p99 latency, and each labelled variant's ratio to its unlabelled one (the cost of labels).
 *
 *   node tools/bench/dist/labels.js [rounds=5] [requests=2000] [node=~/.cache/vmprof-node/node-24/bin/node]
 *
 * Node 24 by default: @datadog/pprof's runWithContext needs AsyncContextFrame (Node 24's default).
 * Run it on a quiet machine: nothing else heavy at the same time.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readProfileSync, SampleLabels } from "@vmprof/format";

const ROUNDS = Number(process.argv[2] ?? 5);
const REQUESTS = Number(process.argv[3] ?? 2000);
const NODE = process.argv[4] ?? join(os.homedir(), ".cache/vmprof-node/node-24/bin/node");
const WARMUP = 200;
const CONCURRENCY = 8;
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const server = join(root, "packages/record/test/fixtures/labels-server.mjs");
/** Iterations per unit of work: /a costs about 0.4 ms of CPU here, a light request. */
const UNIT = "1000";
const recorder = join(root, "packages/record/bin/run.cjs");
const dir = mkdtempSync(join(os.tmpdir(), "vmprof-bench-labels-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

type Name = "plain" | "vmprof" | "vmprof+l" | "datadog" | "datadog+l";
const NAMES: Name[] = ["plain", "vmprof", "vmprof+l", "datadog", "datadog+l"];

interface Result { rps: number; p99: number; labelled?: number }

function command(name: Name, out: string): { cmd: string[]; env: NodeJS.ProcessEnv } {
  const env: NodeJS.ProcessEnv = { ...process.env, LABELS_DD_FROM: fileURLToPath(import.meta.url) };
  switch (name) {
    case "plain":
      return { cmd: [NODE, server, UNIT], env: { ...env, LABELS_MODE: "none" } };
    case "vmprof":
    case "vmprof+l":
      return { cmd: [process.execPath, recorder, "--period", "0.001", "-o", out, "--", NODE, server, UNIT], env: { ...env, LABELS_MODE: name === "vmprof" ? "none" : "vmprof" } };
    case "datadog":
    case "datadog+l":
      return { cmd: [NODE, server, UNIT], env: { ...env, LABELS_MODE: name === "datadog" ? "dd-none" : "datadog" } };
  }
}

/** Starts the server, runs the load, stops it; the latencies of the measured requests. */
async function round(name: Name): Promise<Result> {
  const out = join(dir, `${name}.prof`);
  const { cmd, env } = command(name, out);
  const child = spawn(cmd[0], cmd.slice(1), { env, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<number | null>((r) => child.on("close", r));
  const port = await new Promise<number>((r) => child.stdout.once("data", (d) => r(Number(String(d).trim()))));
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const get = (path: string) =>
    new Promise<void>((res, rej) => {
      http.get({ host: "127.0.0.1", port, path, agent }, (r) => {
        r.resume();
        r.on("end", res);
      }).on("error", rej);
    });
  const load = async (n: number, latencies?: number[]) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          const path = next++ % 2 === 0 ? "/a" : "/b";
          const t0 = performance.now();
          await get(path);
          latencies?.push(performance.now() - t0);
        }
      }),
    );
  };
  await load(WARMUP);
  const latencies: number[] = [];
  const t0 = performance.now();
  await load(REQUESTS, latencies);
  const seconds = (performance.now() - t0) / 1000;
  await get("/quit");
  agent.destroy();
  await exited;
  latencies.sort((a, b) => a - b);
  const result: Result = { rps: REQUESTS / seconds, p99: latencies[Math.floor(latencies.length * 0.99)] };
  if (name === "vmprof+l") {
    const p = readProfileSync(out);
    const l = new SampleLabels(p);
    let n = 0;
    for (let i = 0; i < p.samples.count; i++) if (l.of(i).has("route")) n++;
    result.labelled = n / p.samples.count;
  }
  return result;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[], d = 0) => `${Math.min(...xs).toFixed(d)}..${Math.max(...xs).toFixed(d)}`;

createRequire(import.meta.url).resolve("@datadog/pprof"); // fail early when the peer is missing
console.log(`bench:labels on ${NODE}: ${ROUNDS} rounds, ${REQUESTS} requests each (after ${WARMUP}), ${CONCURRENCY} in flight`);
const results = new Map<Name, Result[]>(NAMES.map((n) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const name of NAMES) results.get(name)!.push(await round(name));
  process.stderr.write(`round ${r + 1} of ${ROUNDS} done\n`);
}
console.log("| configuration | requests/s, median (min..max) | p99 ms, median (min..max) |");
console.log("|---|---|---|");
for (const name of NAMES) {
  const rs = results.get(name)!;
  console.log(`| ${name} | ${median(rs.map((x) => x.rps)).toFixed(0)} (${range(rs.map((x) => x.rps))}) | ${median(rs.map((x) => x.p99)).toFixed(2)} (${range(rs.map((x) => x.p99), 2)}) |`);
}
// Per round, labelled against unlabelled of the same profiler (they ran next to each other).
const ratios = (a: Name, b: Name, key: "rps" | "p99") => results.get(a)!.map((x, i) => x[key] / results.get(b)![i][key]);
for (const [a, b] of [["vmprof+l", "vmprof"], ["datadog+l", "datadog"]] as [Name, Name][]) {
  const rps = ratios(a, b, "rps");
  const p99 = ratios(a, b, "p99");
  console.log(`${a} / ${b}: requests/s x${median(rps).toFixed(3)} (${range(rps, 3)}), p99 x${median(p99).toFixed(3)} (${range(p99, 3)})`);
}
const profilers = ratios("vmprof", "plain", "rps");
console.log(`vmprof / plain: requests/s x${median(profilers).toFixed(3)} (${range(profilers, 3)}); datadog / plain: x${median(ratios("datadog", "plain", "rps")).toFixed(3)}`);
console.log(`samples carrying a route label under vmprof+l: ${(100 * median(results.get("vmprof+l")!.map((x) => x.labelled!))).toFixed(1)} %`);
