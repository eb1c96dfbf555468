/**
 * vmprof-record --every: continuous profiling of real programs (a parent that forks a child halfway,
 * labelled work) uploaded to a real vmprof-server process, for a minute on this Node and for a few
 * seconds on the others; attached with --pid until Ctrl-C; and an upload target where nothing
 * listens. The recorder's memory is read from /proc while it runs.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { decodeProfile, metaValue, stackFrames, type Profile } from "@vmprof/format";
import { BIN, fixture, nodeBinary, read, record, tempDir } from "./helpers.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER = path.resolve(here, "../../../server/bin/run.js");
const PROGRAM = fixture("continuous.mjs");
const dir = tempDir();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: { url: string; stop: () => Promise<void> };
before(async () => {
  const child = spawn(process.execPath, [SERVER, "--port", "0", "--db", path.join(dir, "profiles.db")], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(String(d).split("\n")[0]));
    child.once("exit", (c) => reject(new Error(`vmprof-server exited ${c}`)));
  });
  server = { url, stop: () => new Promise((r) => (child.kill("SIGTERM"), child.once("exit", () => r()))) };
});
after(async () => server?.stop());

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** The recorder's peak resident memory (VmHWM), kB, and its resident memory (VmRSS) over time: [ms since start, kB]. */
  hwm: number;
  rss: [number, number][];
}

/** Runs vmprof-record (not blocking this process: its server must answer), reading its memory twice a second; `signalAt` sends SIGINT after that many ms. */
function recordWatched(args: string[], o: { cwd?: string; signalAt?: number } = {}): Promise<Ran> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], { cwd: o.cwd ?? dir, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  let hwm = 0;
  const rss: [number, number][] = [];
  const watch = setInterval(() => {
    try {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
      hwm = Math.max(hwm, Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0));
      rss.push([performance.now() - t0, Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0)]);
    } catch {
      // ended
    }
  }, 500);
  if (o.signalAt !== undefined) setTimeout(() => child.kill("SIGINT"), o.signalAt);
  const kill = setTimeout(() => child.kill("SIGKILL"), 150_000);
  return new Promise((resolve) =>
    child.once("exit", (status) => {
      clearInterval(watch);
      clearTimeout(kill);
      resolve({ status, stdout, stderr, ms: performance.now() - t0, hwm, rss });
    }),
  );
}

interface Listed {
  id: string;
  name: string;
  labels: Record<string, string>;
  samples: number;
  startTime: number;
  durationUs: number;
}

/** The server's profiles named `name`, oldest window first. */
async function listed(name: string): Promise<Listed[]> {
  const r = (await (await fetch(new URL(`/api/profiles?name=${encodeURIComponent(name)}&limit=1000`, server.url))).json()) as { profiles: Listed[] };
  return r.profiles.sort((a, b) => a.startTime - b.startTime);
}

async function download(id: string): Promise<Profile> {
  return decodeProfile(Buffer.from(await (await fetch(new URL(`/api/profiles/${id}/download?format=vmprof`, server.url))).arrayBuffer()), id);
}

/** Windows one after the other: each starts where the one before ended; all `every` s long but the last, which is not longer. */
function assertConsecutive(list: Listed[], every: number): void {
  for (let i = 1; i < list.length; i++) assert.equal(list[i].startTime, list[i - 1].startTime + list[i - 1].durationUs, `window ${i} does not start where window ${i - 1} ended`);
  for (const w of list.slice(0, -1)) assert.equal(w.durationUs, every * 1e6);
  assert.ok(list.at(-1)!.durationUs <= every * 1e6);
}

/** Each sample as "pid/tid@µs since the epoch leaf [labels]". */
function sampleLines(p: Profile): string[] {
  const origin = Number(metaValue(p, "start_time"));
  const out: string[] = [];
  for (let i = 0; i < p.samples.count; i++) {
    const th = p.threads[p.samples.thread[i] - 1];
    const frames = stackFrames(p, p.samples.stack[i]);
    const leaf = frames.length ? p.functions[p.frames[frames[frames.length - 1] - 1].function - 1].name : "-";
    const l = p.samples.labels[i];
    out.push(`${p.processes[th.process - 1].pid}/${th.tid}@${origin + p.samples.time[i]} ${leaf} [${l ? p.labelSets[l - 1].map((kv) => kv.join("=")).join(",") : ""}]`);
  }
  return out;
}

async function closedPort(): Promise<string> {
  const s = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

test("a continuous run of a minute uploads one profile per window: consecutive windows, every sample of the run in exactly one, labels carried, the recorder's memory flat", async (t) => {
  const whole = path.join(dir, "minute.prof");
  const r = await recordWatched(["--every", "10", "--upload", server.url, "--name", "minute", "--label", "ci=minute", "-o", whole, "--", process.execPath, PROGRAM, "60", "3"]);
  // The program's own exit status and output.
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /^done \d+\n$/);
  const list = await listed("minute");
  assert.ok(Math.abs(list.length - 6) <= 1, `${list.length} windows`);
  assertConsecutive(list, 10);
  assert.match(r.stderr, new RegExp(`vmprof-record: uploaded ${list.length} of ${list.length} windows \\(\\d+ samples\\) to `));
  for (const w of list) assert.deepEqual(w.labels, { ci: "minute" });
  // Every sample of the -o profile in exactly one window (one written after its window was cut would
  // sit at the next window's start: none are expected with the 2 s grace, and none may be lost).
  const all = read(whole);
  const left = new Map<string, number>();
  for (const l of sampleLines(all)) left.set(l, (left.get(l) ?? 0) + 1);
  let late = 0;
  let twoProcesses = 0;
  const routes = new Map<string, number>();
  for (const w of list) {
    const p = await download(w.id);
    assert.equal(p.samples.count, w.samples);
    assert.equal(metaValue(p, "label.ci"), "minute");
    if (p.processes.length === 2) twoProcesses++;
    for (const line of sampleLines(p)) {
      const n = left.get(line);
      if (n) left.set(line, n - 1);
      else {
        assert.ok(line.includes(`@${w.startTime} `), `a sample in window ${w.id} that the whole profile does not have: ${line}`);
        late++;
      }
      const route = /\[route=(\/[ab])\]$/.exec(line)?.[1];
      if (route) routes.set(route, (routes.get(route) ?? 0) + 1);
    }
  }
  const unmatched = [...left.values()].reduce((a, b) => a + b, 0);
  assert.equal(unmatched, late, "samples of the run missing from the windows");
  assert.equal(
    list.reduce((n, w) => n + w.samples, 0),
    all.samples.count,
  );
  // The child ran for the middle half of the minute: in the windows of that time, with its parent.
  assert.ok(twoProcesses >= 2, `${twoProcesses} windows with both processes`);
  assert.ok(routes.get("/a")! > 1.5 * routes.get("/b")!, JSON.stringify([...routes]));
  // Memory: the recorder's resident size does not grow with the run (what it holds is a window).
  const at = (ms: number) => r.rss.find(([t]) => t >= ms)?.[1] ?? 0;
  const growth = r.rss.at(-1)![1] - at(20_000);
  t.diagnostic(`windows ${list.length}, samples ${all.samples.count}, late ${late}; recorder VmHWM ${r.hwm} kB, VmRSS at 20 s ${at(20_000)} kB, at the end ${r.rss.at(-1)![1]} kB`);
  assert.ok(r.hwm < 150_000, `recorder VmHWM ${r.hwm} kB`);
  assert.ok(growth < 15_000, `recorder VmRSS grew ${growth} kB from 20 s to the end`);
});

for (const major of ["22", "24", "26"]) {
  const node = nodeBinary(major);
  test(`Node ${major}: --every 1 for 3 s: one window a second, no profile file without -o`, { skip: !fs.existsSync(node) && `no Node ${major}` }, async () => {
    const cwd = fs.mkdtempSync(path.join(dir, `node${major}-`));
    const r = await recordWatched(["--every", "1", "--upload", server.url, "--name", `short-${major}`, "--label", `node=${major}`, "--", node, PROGRAM, "3", "0"], { cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^done \d+\n$/);
    const list = await listed(`short-${major}`);
    assert.ok(Math.abs(list.length - 3) <= 1, `${list.length} windows`);
    assertConsecutive(list, 1);
    const p = await download(list[0].id);
    assert.equal(metaValue(p, "node_version")?.toString().split(".")[0], `v${major}`);
    assert.equal(metaValue(p, "label.node"), major);
    assert.deepEqual(fs.readdirSync(cwd), [], "a profile file was written without -o");
  });
}

test("--to pyroscope: each window goes to Pyroscope's /ingest (the server's) as pprof, one series per label set, with its name, labels and time range", async () => {
  const r = await recordWatched(["--every", "1", "--upload", server.url, "--to", "pyroscope", "--name", "cont.cpu", "--label", "env=ci", "--", process.execPath, PROGRAM, "3", "0"]);
  assert.equal(r.status, 0, r.stderr);
  const list = await listed("cont.cpu");
  // Pyroscope's from is the window's start in whole seconds (rounded down): 1 s windows are one second apart.
  const starts = [...new Set(list.map((w) => w.startTime))].sort((a, b) => a - b);
  assert.ok(Math.abs(starts.length - 3) <= 1, `${starts.length} windows`);
  for (let i = 1; i < starts.length; i++) assert.equal(starts[i], starts[0] + i * 1e6, `window ${i}`);
  assert.match(r.stderr, new RegExp(`uploaded ${starts.length} of ${starts.length} windows`));
  // Each window's samples as one series per label set: the program's routes, each with the recorder's label.
  for (const w of list) assert.equal(w.labels.env, "ci");
  const routes = list.filter((w) => w.startTime === starts[1]).map((w) => w.labels.route);
  assert.ok(routes.includes("/a") && routes.includes("/b"), JSON.stringify(routes));
});

test("an unreachable upload target: the program's output and exit status unchanged, one warning per dropped window, the recorder's memory bounded", async () => {
  const url = await closedPort();
  const r = await recordWatched(["--every", "1", "--upload", url, "--", process.execPath, PROGRAM, "5", "3"]);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /^done \d+\n$/);
  const ours = r.stderr.split("\n").filter((l) => l.startsWith("vmprof-record: "));
  assert.match(ours[0], /^vmprof-record: window 0 \(.*\) not sent \(3 attempts\): cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); dropped$/);
  assert.match(ours.at(-1)!, /^vmprof-record: uploaded 0 of \d+ windows \(0 samples\) to http:\/\/127\.0\.0\.1:\d+; \d+ dropped$/);
  assert.ok(ours.length <= 6, r.stderr);
  // Not held up by retries at the end: the program's 5 s, its start, the last attempt.
  assert.ok(r.ms < 5000 + 4000, `${r.ms} ms`);
  assert.ok(r.hwm < 150_000, `recorder VmHWM ${r.hwm} kB`);
});

test("--pid --every: windows while attached, and Ctrl-C ends it with the last window sent, the process left running", async () => {
  const ready = path.join(dir, "attach-ready");
  const target = spawn(process.execPath, [PROGRAM, "30", "0", ready], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    for (let i = 0; i < 500 && !fs.existsSync(ready); i++) await sleep(10);
    const r = await recordWatched(["--pid", String(target.pid), "--every", "1", "--upload", server.url, "--name", "attached"], { signalAt: 4000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(target.exitCode, null, "the process was left running");
    const list = await listed("attached");
    assert.ok(list.length >= 3 && list.length <= 5, `${list.length} windows in about 4 s`);
    assertConsecutive(list, 1);
    assert.match(r.stderr, new RegExp(`vmprof-record: uploaded ${list.length} of ${list.length} windows`));
    // The process's own labels (withLabels) came with its samples.
    const p = await download(list[1].id);
    assert.ok(p.labelSets.some((s) => s.some(([k, v]) => k === "route" && v === "/a")));
  } finally {
    target.kill("SIGKILL");
  }
});

test("--every: bad values and missing --upload are usage errors (exit 2, one line)", () => {
  const cases: [string[], RegExp][] = [
    [["--every", "10", "--", "node", "-e", "1"], /^vmprof-record: --every applies to --upload URL \(none given\)\n$/],
    [["--every", "0.5", "--upload", "http://127.0.0.1:1", "--", "node", "-e", "1"], /^vmprof-record: --every: expected a number of seconds from 1 to 3600, got "0.5"\n$/],
    [["--every", "1e9", "--upload", "http://127.0.0.1:1", "--", "node", "-e", "1"], /^vmprof-record: --every: expected a number of seconds from 1 to 3600, got "1e9"\n$/],
    [["--every", "10", "--upload", "not a url", "--", "node", "-e", "1"], /^vmprof-record: --upload: "not a url" is not a URL/],
    [["--to", "pyroscope", "--", "node", "-e", "1"], /^vmprof-record: --to applies to --upload URL \(none given\)\n$/],
  ];
  for (const [args, want] of cases) {
    const r = record(args, { cwd: dir });
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(String(r.stderr), want);
  }
});
