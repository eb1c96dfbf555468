/**
 * startContinuous: programs that profile themselves continuously, uploading to a real vmprof-server
 * process (SQLite in a temporary directory), or to a port where nothing listens; on this Node and on
 * the other Nodes the addon is built for.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { decodeProfile, metaValue } from "@vmprof/format";
import { enable, disable, startContinuous } from "../src/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const api = path.resolve(here, "../src/index.js");
const SERVER = path.resolve(here, "../../../server/bin/run.js");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-continuous-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

/** Node `major`'s binary: this one, or the one the native build fetched for its ABI build. */
function nodeBinary(major: string): string {
  if (process.versions.node.split(".")[0] === major) return process.execPath;
  const { nodeHome } = createRequire(import.meta.url)(path.resolve(here, "../../scripts/build-abi.cjs")) as { nodeHome: (m: string) => string };
  return path.join(nodeHome(major), "bin", "node");
}

/**
 * A program that starts continuous profiling with `options`, works `seconds` seconds (labelled work
 * on two routes, yielding between), prints "bye" and, unless `stop` is false, first prints what
 * stop() resolved to. Exits with 3, to show the exit status is the program's.
 */
function program(options: object, seconds: number, stop = true): string {
  return `
    import { startContinuous, withLabels } from ${JSON.stringify(api)};
    const profiling = startContinuous(${JSON.stringify(options)});
    function burn(ms) { const end = performance.now() + ms; let x = 0; while (performance.now() < end) x += Math.sqrt(x + 1); return x; }
    function routeA() { return burn(7); }
    function routeB() { return burn(3); }
    const end = performance.now() + ${seconds * 1000};
    while (performance.now() < end) {
      withLabels({ route: "/a" }, routeA);
      withLabels({ route: "/b" }, routeB);
      await new Promise((r) => setImmediate(r));
    }
    ${stop ? "console.log(JSON.stringify(await profiling.stop()));" : ""}
    console.log("bye");
    process.exitCode = 3;
  `;
}

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(node: string, source: string): Promise<Ran> {
  const t0 = performance.now();
  const child = spawn(node, ["--input-type=module", "-e", source], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) =>
    child.once("exit", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: performance.now() - t0 });
    }),
  );
}

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

interface Listed {
  id: string;
  name: string;
  labels: Record<string, string>;
  samples: number;
  startTime: number;
  durationUs: number;
}

async function listed(name: string): Promise<Listed[]> {
  const r = (await (await fetch(new URL(`/api/profiles?name=${encodeURIComponent(name)}&limit=1000`, server.url))).json()) as { profiles: Listed[] };
  return r.profiles.sort((a, b) => a.startTime - b.startTime);
}

/** Nothing listens there: connections are refused. */
async function closedPort(): Promise<string> {
  const s = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

for (const major of ["20", "22", "24", "26"]) {
  const node = nodeBinary(major);
  const mine = node === process.execPath;
  test(`Node ${major}: a program uploads one profile per window to a real server, consecutive, each sample once, labels kept`, { skip: !fs.existsSync(node) && `no Node ${major}` }, async () => {
    const name = `inproc-${major}`;
    const seconds = mine ? 5 : 3;
    const r = await run(node, program({ url: server.url, every: 1, labels: { service: "demo" }, name }, seconds));
    assert.equal(r.status, 3, r.stderr);
    const [statsLine, bye] = r.stdout.trim().split("\n");
    assert.equal(bye, "bye");
    assert.equal(r.stderr, "", "no warnings when every upload goes through");
    const stats = JSON.parse(statsLine);
    const list = await listed(name);
    assert.equal(list.length, stats.uploaded);
    assert.equal(stats.failed + stats.overflowed, 0);
    assert.ok(Math.abs(list.length - seconds) <= 1, `${list.length} windows in ${seconds} s`);
    // Consecutive and non-overlapping: each window starts where the one before ended, 1 s long but the last.
    for (let i = 1; i < list.length; i++) assert.equal(list[i].startTime, list[i - 1].startTime + 1_000_000, `window ${i}`);
    for (const w of list.slice(0, -1)) assert.equal(w.durationUs, 1_000_000);
    assert.ok(list.at(-1)!.durationUs <= 1_000_000);
    assert.equal(
      list.reduce((n, w) => n + w.samples, 0),
      stats.samples,
    );
    for (const w of list) assert.deepEqual(w.labels, { service: "demo" });
    // The windows as stored: the program's labels, its thread alone (the worker is not sampled), the routes' label sets.
    let a = 0;
    let b = 0;
    for (const w of list) {
      const stored = Buffer.from(await (await fetch(new URL(`/api/profiles/${w.id}/download?format=vmprof`, server.url))).arrayBuffer());
      const p = decodeProfile(stored);
      assert.equal(metaValue(p, "label.service"), "demo");
      assert.deepEqual(
        p.threads.map((t) => t.name),
        ["main"],
      );
      for (let i = 0; i < p.samples.count; i++) {
        const set = p.samples.labels[i] === 0 ? [] : p.labelSets[p.samples.labels[i] - 1];
        if (set.some(([k, v]) => k === "route" && v === "/a")) a++;
        if (set.some(([k, v]) => k === "route" && v === "/b")) b++;
      }
    }
    // 7 ms of /a for each 3 ms of /b.
    assert.ok(a > 1.5 * b && b > 0, `/a ${a}, /b ${b}`);
  });
}

test("an unreachable server: the program runs to its end with its own output and exit status, and warnings", async () => {
  const url = await closedPort();
  const r = await run(process.execPath, program({ url, every: 1, name: "nowhere" }, 4));
  assert.equal(r.status, 3);
  const [statsLine, bye] = r.stdout.trim().split("\n");
  assert.equal(bye, "bye");
  const stats = JSON.parse(statsLine);
  assert.equal(stats.uploaded, 0);
  assert.ok(stats.windows >= 3 && stats.failed + stats.overflowed === stats.windows, statsLine);
  assert.ok(stats.maxHeld <= 4, `held ${stats.maxHeld} windows`);
  const warnings = r.stderr.split("\n").filter((l) => l.includes("VmprofWarning"));
  // Each window is dropped after its retries, or (on a loaded machine, retries outlasting the
  // windows) pushed out of the queue; at least one says why it could not be sent.
  const refused = /VmprofWarning: vmprof: window \d+ \(.*\) not sent .*: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); dropped/;
  assert.ok(warnings.some((w) => refused.test(w)), r.stderr);
  for (const w of warnings) assert.match(w, /VmprofWarning: vmprof: (window \d+ \(.*\) not sent|\d+ windows? still unsent|\d+ windows in a row were not sent)/);
  assert.ok(warnings.length <= 5, r.stderr);
  // stop() waits for the last window's attempt, not for retries of every window: 4 s of work, a few seconds more at most.
  assert.ok(r.ms < 4000 + 6000, `${r.ms} ms`);
});

test("a program that never calls stop() ends when its work does: the profiler keeps nothing alive", async () => {
  const r = await run(process.execPath, program({ url: server.url, every: 1, name: "nostop" }, 2, false));
  assert.equal(r.status, 3, r.stderr);
  assert.equal(r.stdout, "bye\n");
  assert.ok(r.ms < 2000 + 1500, `${r.ms} ms`);
});

test("bad options and a session already running throw before anything starts", () => {
  assert.throws(() => startContinuous({ url: "nope", every: 10 }), { name: "TypeError", message: 'startContinuous: url "nope" is not a URL (e.g. http://127.0.0.1:8000)' });
  assert.throws(() => startContinuous({ url: "ftp://x", every: 10 }), /is not http or https/);
  assert.throws(() => startContinuous({ url: "http://x", every: 0.5 }), { name: "RangeError", message: "startContinuous: every must be 1 to 3600 seconds, got 0.5" });
  assert.throws(() => startContinuous({ url: "http://x", every: 10, to: "zipkin" as "vmprof" }), /to must be "vmprof" or "pyroscope"/);
  assert.throws(() => startContinuous({ url: "http://x", every: 10, labels: { a: 1 as unknown as string } }), /label "a" must be a string, got number/);
  assert.throws(() => startContinuous({ url: "http://x", every: 10, to: "pyroscope", labels: { a: "b,c" } }), /Pyroscope labels cannot contain/);
  const fd = fs.openSync(path.join(dir, "running.prof"), "w");
  enable(fd);
  try {
    assert.throws(() => startContinuous({ url: "http://x", every: 10 }), /a vmprof session already runs in this process/);
  } finally {
    disable();
    fs.closeSync(fd);
  }
});
