/**
 * The side of `vmprof-record --pid` that runs inside the attached process. The recorder loads this
 * file by its absolute path through the process's inspector (Runtime.evaluate on the main thread)
 * and calls `start()`; nothing else of ours runs there. It never writes to the process's stdout or
 * stderr, installs no signal handler of the program's signals, and leaves no timer or handle that
 * keeps the process alive.
 *
 * The session ends when the recorder closes its end of the control FIFO (or dies): the sampler's
 * writer thread sees it, writes the END record and stops sampling at once, even while this thread
 * is busy; the next time the event loop turns, `teardown` joins the sampler's threads and removes
 * the JIT code event handlers of the main thread and of every worker it had joined. If the process
 * exits first, its 'exit' listener finishes the file.
 *
 * Worker threads: an in-process inspector session (not the network inspector, which the recorder
 * closes as soon as `start()` returns) reports the workers that run now and those started later
 * (NodeWorker domain); each joins the session on its own thread (workerExpression).
 */
import fs = require("node:fs");
import inspector = require("node:inspector");
import addon = require("./addon.cjs");
import type Meta = require("@vmprof/format/meta");

const meta = require(addon.resolveExport(__dirname, "@vmprof/format", "./meta")) as typeof Meta;

/** What the recorder asks for. */
export interface AttachConfig {
  /** The file the profile is appended to (created by the recorder, who reads it as it grows). */
  output: string;
  /** A FIFO the recorder holds open for writing: its close ends the session. */
  control: string;
  /** Sampling period, µs. */
  periodUs: number;
  mode: "cpu" | "wall";
  /** Frames kept per sample. */
  maxDepth: number;
  /** Give frames their line and column. */
  lines: boolean;
  /** Unwind and name native frames too (libunwind; see `enable`'s `native`). */
  native?: boolean;
  /** Record the process's command line (redacted of secret-looking values). */
  argv: boolean;
  /** More metadata (the recorder's labels). */
  meta: [string, addon.MetaValue][];
}

/** What `start()` reports: the process, its Node, and how long the start took the main thread (ms). */
export interface AttachStarted {
  pid: number;
  node: string;
  ms: number;
}

interface Running {
  fd: number;
  control: number;
  timer: NodeJS.Timeout;
  session?: inspector.Session;
  /** Inspector session ids of the workers that joined. */
  workers: Set<string>;
}

let running: Running | undefined;

/**
 * The expression run in a worker to join it to the session (or, after the session, to remove its JIT
 * code event handler). It loads the addon with process.dlopen, never through the module system: a
 * worker still starting has not set up its module loaders, and a module loaded before they are
 * makes Node's own start of the worker fail an internal assertion (the worker dies, and with it a
 * program that does not handle its error). "retry" while the worker's `process` is not there yet.
 */
function workerExpression(call: "join" | "leave", name: string): string {
  const binary = JSON.stringify(addon.addonBinary());
  const act = call === "join" ? `if (!m.exports.isEnabled()) return "ended"; m.exports.addThread(${JSON.stringify(name)}, 1); return "ok";` : `return m.exports.releaseThread() ? "ok" : "sampled";`;
  return `(function () {
  if (typeof process !== "object" || typeof process.dlopen !== "function") return "retry";
  var key = Symbol.for("vmprof.attach.addon");
  var m = globalThis[key];
  try {
    if (!m) {
      m = { exports: {} };
      process.dlopen(m, ${binary});
      Object.defineProperty(globalThis, key, { value: m });
    }
    ${act}
  } catch (e) {
    return "error: " + (e && e.message);
  }
})()`;
}

/**
 * A worker's thread name as the preload names it (addon.workerName): on a Node that tells workers
 * their `name` (22 and later), the inspector's title "[worker N] NAME" gives it; else "worker N".
 */
function workerThreadName(info: { workerId: string; title: string }): string {
  const named = (require("node:worker_threads") as { threadName?: string }).threadName !== undefined;
  const m = /^\[worker \d+\] (.+)$/.exec(info.title);
  return named && m && m[1] !== "WorkerThread" ? m[1] : `worker ${info.workerId}`;
}

/** Sends `expression` to a worker to evaluate; its answer (id `id`) comes as a NodeWorker.receivedMessageFromWorker event. */
function evaluateInWorker(session: inspector.Session, sessionId: string, expression: string, id: number): void {
  const message = JSON.stringify({ id, method: "Runtime.evaluate", params: { expression, returnByValue: true } });
  session.post("NodeWorker.sendMessageToWorker", { sessionId, message }, () => {
    /* answers come as NodeWorker.receivedMessageFromWorker */
  });
}

/** Follows worker threads through an in-process inspector session: each joins the sampling session. */
function followWorkers(r: Running): void {
  const session = new inspector.Session();
  session.connect();
  r.session = session;
  const tries = new Map<string, number>();
  const names = new Map<string, string>();
  const join = (sessionId: string) => evaluateInWorker(session, sessionId, workerExpression("join", names.get(sessionId) ?? "worker"), 1);
  session.on("NodeWorker.attachedToWorker", (m: { params: { sessionId: string; workerInfo: { workerId: string; title: string } } }) => {
    tries.set(m.params.sessionId, 0);
    names.set(m.params.sessionId, workerThreadName(m.params.workerInfo));
    join(m.params.sessionId);
  });
  session.on("NodeWorker.receivedMessageFromWorker", (m: { params: { sessionId: string; message: string } }) => {
    const { sessionId, message } = m.params;
    let answer: { id?: number; result?: { result?: { value?: unknown } } };
    try {
      answer = JSON.parse(message);
    } catch {
      return;
    }
    if (answer.id !== 1) return;
    const value = answer.result?.result?.value;
    if (value === "ok") r.workers.add(sessionId);
    else if (value === "retry" || value === undefined) {
      // A worker still starting has no module loader yet: try again shortly, for about a second.
      const n = (tries.get(sessionId) ?? 0) + 1;
      tries.set(sessionId, n);
      if (n < 50 && running === r) setTimeout(() => join(sessionId), 20).unref();
    }
  });
  session.on("NodeWorker.detachedFromWorker", (m: { params: { sessionId: string } }) => {
    r.workers.delete(m.params.sessionId);
    tries.delete(m.params.sessionId);
    names.delete(m.params.sessionId);
  });
  session.post("NodeWorker.enable", { waitForDebuggerOnStart: false }, () => {
    /* workers that exist now are reported as attachedToWorker events */
  });
}

/** Ends what start() began: joins the sampler's threads, removes the JIT code handlers, closes our files. */
function teardown(): void {
  const r = running;
  if (!r) return;
  running = undefined;
  clearInterval(r.timer);
  process.off("exit", teardown);
  addon.loadAddon().stop();
  if (r.session) {
    for (const id of r.workers) evaluateInWorker(r.session, id, workerExpression("leave", ""), 2);
    const session = r.session;
    // Leave the workers' handlers a moment to go, then end the in-process session.
    setTimeout(() => {
      session.post("NodeWorker.disable", () => session.disconnect());
    }, 200).unref();
  }
  for (const fd of [r.fd, r.control]) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  }
}

/**
 * Starts sampling this process (its main thread now, its workers as they are reported) into
 * `config.output`. Throws, having started nothing, when a session already runs here (the process
 * runs under vmprof-record, or enable() was called) or the addon cannot load for this Node.
 */
export function start(config: AttachConfig): AttachStarted {
  const t0 = process.hrtime.bigint();
  const native = addon.loadAddon();
  if (running || native.isEnabled()) throw new Error("it is already being profiled (a vmprof session runs in it)");
  const fd = fs.openSync(config.output, "a");
  let control = -1;
  try {
    control = fs.openSync(config.control, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const entries = addon.processMeta(config.argv ? meta.redactArgv(addon.commandLine()) : undefined);
    entries.push(...config.meta);
    native.start(fd, { periodUs: config.periodUs, mode: config.mode, maxDepth: config.maxDepth, lines: config.lines, native: config.native === true, controlFd: control }, entries, addon.processName());
    native.addThread("main", 0);
  } catch (e) {
    if (native.isEnabled()) native.stop();
    fs.closeSync(fd);
    if (control >= 0) fs.closeSync(control);
    throw e;
  }
  // The writer thread ends the session when the recorder lets go; this notices it when the loop turns.
  const timer = setInterval(() => {
    if (!native.isEnabled()) teardown();
  }, 200).unref();
  running = { fd, control, timer, workers: new Set() };
  process.on("exit", teardown);
  try {
    followWorkers(running);
  } catch {
    // No inspector for workers (it cannot be, since we came through it; but never fail the main thread's profile for them).
  }
  return { pid: process.pid, node: process.version, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}
