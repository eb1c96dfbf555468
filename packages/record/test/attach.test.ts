/**
 * vmprof-record --pid on real processes started without any profiler: an HTTP server under load from
 * a local client on every supported Node, an ESM program, worker threads, a main thread that never
 * yields; the process goes on as before, its inspector closed again, no sampler thread left; and the
 * refusals, each before the process is touched.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ProfileDecoder, functionInfo, type Profile } from "@vmprof/format";
import { BIN, BUILD_ABI, fixture, nodeBinary, read, record, recordAsync, tempDir } from "./helpers.js";

const dir = tempDir();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A program started the way a user starts it: no profiler, stdout and stderr captured. */
interface Target {
  child: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  /** Resolves to the exit code (or 128+signal). */
  exited: Promise<number>;
}

async function startTarget(node: string, args: string[], ready: string): Promise<Target> {
  fs.rmSync(ready, { force: true });
  const child = spawn(node, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number>((resolve) => child.once("exit", (code, sig) => resolve(sig ? 128 + os.constants.signals[sig] : (code ?? 1))));
  for (let i = 0; i < 500 && !(fs.existsSync(ready) && fs.readFileSync(ready, "utf8").length > 0); i++) await sleep(10);
  assert.ok(fs.existsSync(ready), `${args.join(" ")} did not start: ${err}`);
  return { child, pid: child.pid!, stdout: () => out, stderr: () => err, exited };
}

/** What Node itself prints on stderr when SIGUSR1 opens its inspector and a client attaches. */
const NODE_INSPECTOR_LINES = [/^Debugger listening on ws:\/\/127\.0\.0\.1:9229\/[0-9a-f-]+$/, /^For help, see: https:\/\/nodejs\.org\/\S+$/, /^Debugger attached\.$/];

/** The process's stderr holds nothing but Node's own inspector lines: nothing of ours. */
function assertOnlyNodeLines(stderr: string) {
  for (const line of stderr.split("\n").filter(Boolean)) assert.ok(NODE_INSPECTOR_LINES.some((re) => re.test(line)), `unexpected line on the process's stderr: ${line}`);
}

/** Names of the process's threads (vmprof-sampler and vmprof-writer are ours). */
function threadNames(pid: number): string[] {
  return fs.readdirSync(`/proc/${pid}/task`).map((t) => {
    try {
      return fs.readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
    } catch {
      return "";
    }
  });
}

/** True when something listens on 127.0.0.1:9229 (an inspector left open). */
function inspectorListening(): boolean {
  return ["/proc/net/tcp", "/proc/net/tcp6"].some((f) =>
    fs
      .readFileSync(f, "utf8")
      .split("\n")
      .some((l) => {
        const c = l.trim().split(/\s+/);
        return c[3] === "0A" && parseInt(c[1]?.split(":")[1] ?? "", 16) === 9229;
      }),
  );
}

/** A bounded load: `concurrency` clients requesting in a loop until stop(); counts answers and failures. */
function load(port: number, concurrency = 4) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port, path: "/", agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode === 200) ok++;
          else failures.push(`status ${res.statusCode}`);
          resolve();
        });
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => {
        failures.push(e.message);
        resolve();
      });
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) await one();
  });
  return {
    get ok() {
      return ok;
    },
    failures,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

for (const major of ["20", "22", "24", "26"]) {
  test(`Node ${major}: an HTTP server under load, attached twice: the handler is in both profiles, no request fails, it serves on, its inspector is closed again`, async () => {
    const node = nodeBinary(major);
    const portFile = path.join(dir, `port-${major}`);
    const t = await startTarget(node, [fixture("attach-server.cjs"), portFile], portFile);
    const port = Number(fs.readFileSync(portFile, "utf8"));
    const l = load(port);
    try {
      await sleep(300);
      for (const round of [1, 2]) {
        const file = path.join(dir, `server-${major}-${round}.prof`);
        const r = await runRecord(["--pid", String(t.pid), "--duration", "1.5", "-o", file]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`attached to process ${t.pid} \\(Node v${major}\\.`));
        const p = read(file);
        assert.equal(p.truncation, undefined, "the profile has its END record");
        assert.equal(p.processes[0].pid, t.pid);
        assert.equal(p.meta.get("node_version"), execVersion(node));
        // The handlers' time is the server's own code. Which of its functions holds it depends on
        // the Node: code TurboFan or Maglev compiled before the attach comes without its inlining
        // positions (V8 lists existing code to a code event handler without them), so handleReport,
        // inlined into the request callback, may show as that callback.
        assert.ok(selfShareIn(p, "attach-server.cjs") > 50, `the server's own code: ${selfShareIn(p, "attach-server.cjs").toFixed(1)}%`);
        assert.ok(p.samples.count > 300, `${p.samples.count} samples in 1.5 s of a busy server`);
        // Detached: no sampler thread left, the inspector closed again.
        await sleep(300);
        assert.deepEqual(threadNames(t.pid).filter((n) => n.startsWith("vmprof")), []);
        assert.equal(inspectorListening(), false, "an inspector is left listening on 9229");
      }
      const before = l.ok;
      await sleep(500);
      assert.ok(l.ok > before, "the server stopped serving after the attach");
    } finally {
      await l.stop();
      t.child.kill("SIGTERM");
    }
    assert.deepEqual(l.failures, []);
    assert.equal(await t.exited, 128 + os.constants.signals.SIGTERM, "the server dies of SIGTERM as before");
    assert.equal(t.stdout(), "");
    assertOnlyNodeLines(t.stderr());
  });
}

/** Percent of samples whose innermost JS frame is in a file named `base`. */
function selfShareIn(p: Profile, base: string): number {
  let n = 0;
  for (let i = 0; i < p.samples.count; i++) {
    for (let st = p.samples.stack[i]; st !== 0; st = p.stacks.parent[st]) {
      const f = functionInfo(p, p.frames[p.stacks.frame[st] - 1].function);
      if (f.kind !== 0) continue;
      if (f.file?.endsWith(`/${base}`)) n++;
      break;
    }
  }
  return (100 * n) / p.samples.count;
}

function execVersion(node: string): string {
  return spawnSync(node, ["-p", "process.version"], { encoding: "utf8" }).stdout.trim();
}

/** Runs vmprof-record to its end; resolves to its exit code, stdout (bytes) and stderr. */
function runRecord(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const c = recordAsync(args);
    const out: Buffer[] = [];
    let err = "";
    c.stdout.on("data", (d: Buffer) => out.push(d));
    c.stderr.on("data", (d) => (err += d));
    c.once("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: err }));
  });
}

test("an ESM server is attached the same way (Node 22)", async () => {
  const portFile = path.join(dir, "port-esm");
  const t = await startTarget(nodeBinary("22"), [fixture("attach-server.mjs"), portFile], portFile);
  const l = load(Number(fs.readFileSync(portFile, "utf8")), 2);
  try {
    const file = path.join(dir, "esm.prof");
    const r = await runRecord(["--pid", String(t.pid), "--duration", "1", "-o", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(selfShareIn(read(file), "attach-server.mjs") > 50);
  } finally {
    await l.stop();
    t.child.kill();
  }
  assert.deepEqual(l.failures, []);
});

for (const major of ["20", "26"]) {
  test(`Node ${major}: worker threads that run before the attach and start during it are sampled, each on its own thread`, async () => {
    const ready = path.join(dir, `workers-${major}`);
    const t = await startTarget(nodeBinary(major), [fixture("attach-workers.mjs"), ready, "1200"], ready);
    try {
      const file = path.join(dir, `workers-${major}.prof`);
      const r = await runRecord(["--pid", String(t.pid), "--duration", "2.5", "-o", file]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(t.child.exitCode, null, `the program ended (${t.child.exitCode}, ${t.child.signalCode}): ${t.stderr()}`);
      const p = read(file);
      const names = p.threads.map((th) => th.name).sort();
      // Node 22 and later name a worker's thread after its `name` option; Node 20 by its thread id.
      assert.deepEqual(names, major === "20" ? ["main", "worker 1", "worker 2"] : ["early", "late", "main"]);
      for (const th of p.threads) {
        const n = Array.from(p.samples.thread).filter((x) => x === th.id).length;
        assert.ok(n > 100, `thread ${th.name}: ${n} samples of ${p.samples.count}; the recorder said: ${r.stderr}`);
      }
      await sleep(400);
      assert.equal(t.child.exitCode, null, `the program ended after the detach: ${t.stderr()}`);
      assert.deepEqual(threadNames(t.pid).filter((n) => n.startsWith("vmprof")), []);
    } finally {
      t.child.kill();
    }
    assertOnlyNodeLines(t.stderr());
  });
}

test("a main thread that never yields: the attach starts inside its loop and the profile ends when we detach", async () => {
  const ready = path.join(dir, "busy");
  const t = await startTarget(process.execPath, [fixture("attach-busy.cjs"), ready, "8000"], ready);
  try {
    const file = path.join(dir, "busy.prof");
    const started = performance.now();
    const r = await runRecord(["--pid", String(t.pid), "--duration", "1", "-o", file]);
    const took = performance.now() - started;
    assert.equal(r.code, 0, r.stderr);
    const p = read(file);
    assert.equal(p.truncation, undefined, "the sampler's own thread wrote the END record");
    // busyLoop runs in code V8 compiled on stack (OSR) before the attach, which V8 never lists to a
    // code event handler: its time goes to its caller in the same file.
    assert.ok(selfShareIn(p, "attach-busy.cjs") > 90, `${selfShareIn(p, "attach-busy.cjs").toFixed(1)}%`);
    assert.ok(took < 6000, `the recorder took ${took.toFixed(0)} ms: it waited for the busy thread`);
    assert.equal(t.child.exitCode, null, "the program still runs its loop");
  } finally {
    t.child.kill();
  }
});

test("-o - streams the profile while it is taken; a reader that leaves (| head) ends the attach and the process goes on", async () => {
  const portFile = path.join(dir, "port-stream");
  const t = await startTarget(process.execPath, [fixture("attach-server.cjs"), portFile], portFile);
  const l = load(Number(fs.readFileSync(portFile, "utf8")), 2);
  try {
    // Streaming: bytes (a decodable prefix) arrive long before the 6 s are over.
    const c = recordAsync(["--pid", String(t.pid), "--duration", "6", "-o", "-"]);
    const t0 = performance.now();
    const d = new ProfileDecoder("<pipe>");
    const firstSamples = await new Promise<number>((resolve) => {
      c.stdout.on("data", (chunk: Buffer) => {
        d.push(chunk);
        if (d.sampleCount > 0) resolve(performance.now() - t0);
      });
    });
    assert.ok(firstSamples < 4000, `first samples after ${firstSamples.toFixed(0)} ms of a 6 s attach`);
    // The reader goes away: the recorder detaches well before the 6 s, exit 0.
    c.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => c.once("exit", resolve));
    assert.equal(code, 0);
    assert.ok(performance.now() - t0 < 5500, "the recorder went on after its reader left");
    await sleep(300);
    assert.deepEqual(threadNames(t.pid).filter((n) => n.startsWith("vmprof")), []);
    const before = l.ok;
    await sleep(300);
    assert.ok(l.ok > before, "the server stopped serving");
  } finally {
    await l.stop();
    t.child.kill();
  }
  assert.deepEqual(l.failures, []);
});

const REPORT = path.resolve(fixture("."), "../../../report/bin/run.js");

test("on a terminal (tmux): vmprof-record --pid -o - | vmprof-report --top --live redraws the attached server's view, and the last view stays", async () => {
  const portFile = path.join(dir, "port-tmux");
  const t = await startTarget(process.execPath, [fixture("attach-server.cjs"), portFile], portFile);
  const l = load(Number(fs.readFileSync(portFile, "utf8")), 2);
  const socket = `vmprof-attach-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  try {
    const pipeline = `${process.execPath} ${BIN} --pid ${t.pid} --duration 4 -o - 2>/dev/null | ${process.execPath} ${REPORT} --top --live; sleep 30`;
    assert.equal(tmux("new-session", "-d", "-s", "live", "-x", "120", "-y", "30", pipeline).status, 0);
    // While attached: the view is drawn in place (alternate screen) and names the server's code.
    let screen = "";
    for (let i = 0; i < 100 && !/attach-server\.cjs/.test(screen); i++) {
      await sleep(100);
      screen = tmux("capture-pane", "-p", "-t", "live").stdout;
    }
    assert.match(screen, /attach-server\.cjs/);
    assert.equal(tmux("display-message", "-p", "-t", "live", "#{alternate_on}").stdout.trim(), "1", "drawn on the alternate screen");
    // After the 4 s: the terminal is back to its normal screen with the final view on it.
    for (let i = 0; i < 100 && tmux("display-message", "-p", "-t", "live", "#{alternate_on}").stdout.trim() !== "0"; i++) await sleep(100);
    screen = tmux("capture-pane", "-p", "-t", "live", "-S", "-200").stdout;
    assert.match(screen, /· end/);
    assert.match(screen, /attach-server\.cjs/);
  } finally {
    tmux("kill-server");
    await l.stop();
    t.child.kill();
  }
  assert.deepEqual(l.failures, []);
});

test("Ctrl-C ends the attach with a complete profile; a killed recorder ends the sampling in the process all the same", async () => {
  const ready = path.join(dir, "ctrlc");
  const t = await startTarget(process.execPath, [fixture("attach-workers.mjs"), ready, "100000"], ready);
  try {
    const file = path.join(dir, "ctrlc.prof");
    const c = recordAsync(["--pid", String(t.pid), "-o", file]);
    let err = "";
    c.stderr.on("data", (x) => (err += x));
    for (let i = 0; i < 300 && !err.includes("attached to"); i++) await sleep(10);
    await sleep(800);
    c.kill("SIGINT");
    assert.equal(await new Promise((resolve) => c.once("exit", resolve)), 0, err);
    const p = read(file);
    assert.equal(p.truncation, undefined);
    assert.ok(p.samples.count > 100);

    const k = recordAsync(["--pid", String(t.pid), "-o", path.join(dir, "killed.prof")]);
    let kerr = "";
    k.stderr.on("data", (x) => (kerr += x));
    for (let i = 0; i < 300 && !kerr.includes("attached to"); i++) await sleep(10);
    assert.ok(threadNames(t.pid).includes("vmprof-sampler"), "sampling while attached");
    k.kill("SIGKILL");
    await sleep(1000);
    assert.deepEqual(threadNames(t.pid).filter((n) => n.startsWith("vmprof")), [], "the sampler ran on after its recorder died");
    assert.equal(inspectorListening(), false);
    assert.equal(t.child.exitCode, null);
  } finally {
    t.child.kill();
  }
});

test("a process that exits while attached: what was taken is kept, exit 0 with a note", async () => {
  const ready = path.join(dir, "exits");
  const t = await startTarget(process.execPath, [fixture("attach-busy.cjs"), ready, "3000"], ready);
  const file = path.join(dir, "exits.prof");
  const r = await runRecord(["--pid", String(t.pid), "-o", file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`process ${t.pid} exited while attached`));
  assert.equal(await t.exited, 0, "the program's own exit status");
  const p = read(file);
  assert.ok(p.samples.count > 300, `${p.samples.count} samples`);
  assert.ok(selfShareIn(p, "attach-busy.cjs") > 90);
});

/** One line on stderr, exit 2, nothing written. */
function assertRefused(args: string[], message: RegExp) {
  const out = path.join(dir, "refused.prof");
  const r = record([...args, "-o", out]);
  assert.equal(r.status, 2, r.stderr.toString());
  const err = r.stderr.toString();
  assert.equal(err.trim().split("\n").length, 1, err);
  assert.match(err, message);
  assert.equal(fs.existsSync(out), false);
}

test("refusals, one line and exit 2, before the process is touched: no such process, not Node, another user's, no build for its Node", async () => {
  assertRefused(["--pid", "999999"], /--pid 999999: no such process/);
  const sleeper = spawn("sleep", ["30"]);
  try {
    assertRefused(["--pid", String(sleeper.pid)], /not a Node\.js process \(it runs \/usr\/bin\/sleep\)/);
  } finally {
    sleeper.kill();
  }
  // A Node the sampler is not built for: Node 21 (fetched only for tests).
  const n21 = spawnSync(process.execPath, [BUILD_ABI, "--fetch-only", "21"], { encoding: "utf8" });
  assert.equal(n21.status, 0, n21.stderr);
  const ready = path.join(dir, "n21");
  const t = await startTarget(nodeBinary("21"), ["-e", `require("fs").writeFileSync(${JSON.stringify(ready)}, "ready"); setInterval(() => {}, 1000)`], ready);
  try {
    assertRefused(["--pid", String(t.pid)], /it runs Node v21\.[\d.]+, for which the vmprof sampler is not built \(built for: .*v20\./);
  } finally {
    t.child.kill();
  }
  assert.equal(t.stderr(), "", "the refused process was not signalled");
  // Another user's process, seen from an unprivileged user (the tests run as root in CI).
  if (process.getuid?.() === 0) {
    const other = path.join(dir, "other");
    fs.chmodSync(dir, 0o777);
    const o = await startTarget("runuser", ["-u", "daemon", "--", process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(other)}, "ready"); setInterval(() => {}, 1000)`], other);
    try {
      const pid = Number(spawnSync("pgrep", ["-u", "daemon", "-f", other], { encoding: "utf8" }).stdout.trim().split("\n")[0]);
      const r = spawnSync("runuser", ["-u", "nobody", "--", process.execPath, BIN, "--pid", String(pid)], { encoding: "utf8" });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /not allowed: the process belongs to another user/);
    } finally {
      spawnSync("pkill", ["-u", "daemon", "-f", other]);
      o.child.kill();
    }
  }
});

test("refusals: an inspector disabled by --disable-sigusr1 or the permission model, its port taken by another process", async () => {
  const node = nodeBinary("22");
  for (const [flag, message] of [
    ["--disable-sigusr1", /started with --disable-sigusr1/],
    ["--permission", /permission model/],
  ] as const) {
    const ready = path.join(dir, `flag${flag}`);
    const t = await startTarget(node, [flag, ...(flag === "--permission" ? ["--allow-fs-write=*"] : []), "-e", `require("fs").writeFileSync(${JSON.stringify(ready)}, "ready"); setInterval(() => {}, 1000)`], ready);
    try {
      assertRefused(["--pid", String(t.pid)], message);
      assert.equal(t.child.exitCode, null, "still running: SIGUSR1 was not sent (it would have killed it)");
    } finally {
      t.child.kill();
    }
  }
  const blocker = http.createServer().listen(9229, "127.0.0.1");
  await new Promise((r) => blocker.once("listening", r));
  const ready = path.join(dir, "porttaken");
  const t = await startTarget(process.execPath, ["-e", `require("fs").writeFileSync(${JSON.stringify(ready)}, "ready"); setInterval(() => {}, 1000)`], ready);
  try {
    assertRefused(["--pid", String(t.pid)], /inspector port 9229 is taken by another process/);
  } finally {
    t.child.kill();
    blocker.close();
  }
  assert.equal(t.stderr(), "", "nothing happened in the process");
});

test("a process that vmprof-record already profiles is refused, and its own profile goes on", async () => {
  const ready = path.join(dir, "twice");
  const outer = path.join(dir, "outer.prof");
  const c = recordAsync(["-o", outer, "--", process.execPath, fixture("attach-busy.cjs"), ready, "2500"]);
  // Listened for now: on a loaded machine the program may be over before the refused attach is.
  const exited = new Promise((resolve) => c.once("exit", resolve));
  for (let i = 0; i < 500 && !fs.existsSync(ready); i++) await sleep(10);
  const pid = Number(spawnSync("pgrep", ["-f", `attach-busy.cjs ${ready}`], { encoding: "utf8" }).stdout.trim().split("\n").pop());
  const r = await runRecord(["--pid", String(pid), "-o", path.join(dir, "inner.prof")]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /could not start the sampler in it: it is already being profiled/);
  assert.equal(fs.existsSync(path.join(dir, "inner.prof")), false);
  assert.equal(await exited, 0);
  assert.equal(read(outer).truncation, undefined);
});

test("a process started with --inspect keeps its inspector open after we detach", async () => {
  const ready = path.join(dir, "inspect");
  const t = await startTarget(process.execPath, ["--inspect=127.0.0.1:9333", fixture("attach-busy.cjs"), ready, "100000"], ready);
  try {
    const file = path.join(dir, "inspect.prof");
    const r = await runRecord(["--pid", String(t.pid), "--duration", "0.5", "-o", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(read(file).samples.count > 100);
    const res = await fetch("http://127.0.0.1:9333/json/list");
    assert.equal(res.status, 200, "its own inspector is still there");
  } finally {
    t.child.kill();
  }
});

test("usage: --pid with a program, --duration without --pid or not a number", () => {
  for (const [args, message] of [
    [["--pid", "12", "--", "node", "x.js"], /--pid attaches to a running process: give no program/],
    [["--duration", "3", "--", "node", "-e", "0"], /--duration applies to --pid/],
    [["--pid", String(process.pid), "--duration", "soon"], /--duration: expected a positive number of seconds, got "soon"/],
  ] as const) {
    const r = record([...args]);
    assert.equal(r.status, 2, r.stderr.toString());
    assert.match(r.stderr.toString(), message);
  }
});
