/**
 * vmprof-record --pid: profiles a Node process that is already running, without restarting it.
 *
 * How: SIGUSR1 makes Node open its inspector (unless it is open already); over it, one
 * Runtime.evaluate loads @vmprof/native's attach agent into the main thread and starts the sampler
 * there, writing to a file in a private directory of ours; then the inspector is closed again (when
 * we opened it), so the process is never left waiting on a debugger. The agent follows worker threads
 * itself. We read the file as it grows (copied to stdout at once with -o -). To end, we close our end
 * of a FIFO the sampler watches: its writer thread writes the END record and stops sampling, even if
 * the process's JS thread is busy. If we die, the FIFO closes all the same.
 *
 * What the process sees: the sampler's threads while attached, one handler of a real-time signal that
 * stays (SPEC of the sampler: a late tick must not find the default action), and Node's own lines on
 * its stderr when its inspector opens and a client attaches ("Debugger listening on ...", "For
 * help...", "Debugger attached."): Node prints them, and no public switch silences them from outside.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { builds } from "@vmprof/native";
import { ProfileDecoder, ProfileFormatError } from "@vmprof/format";
import { RecordUsageError, openTemp, takeSingle, type RecordOptions, type RecordResult } from "./record.js";

/** What to attach to, for how long; the sampling options are vmprof-record's. */
export interface AttachOptions extends Omit<RecordOptions, "command" | "children" | "allowUnprofiled"> {
  pid: number;
  /** Seconds to sample; undefined: until SIGINT, SIGTERM or SIGHUP, or the process exits. */
  durationS?: number;
}

/** How long the inspector steps may take before we give up, ms. */
const STEP_TIMEOUT_MS = 5000;

/** Where the process's inspector listens (or will, once SIGUSR1 opens it), read from its options. */
interface InspectorPlace {
  host: string;
  port: number;
  /** The process was started with --inspect, --inspect-brk or --inspect-wait. */
  startedOpen: boolean;
}

/** The process's Node options: its command line and NODE_OPTIONS (readable only as its user or root). */
function nodeOptions(pid: number): { argv: string[]; env: string[] } {
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  let env: string[] = [];
  try {
    const all = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    const opts = all.find((e) => e.startsWith("NODE_OPTIONS="));
    if (opts) env = opts.slice("NODE_OPTIONS=".length).split(/\s+/).filter(Boolean);
  } catch {
    // not readable: only its command line counts
  }
  // Node's own options come before the script: stop at the first argument that is not an option.
  const own: string[] = [];
  for (const a of argv.slice(1)) {
    if (!a.startsWith("-")) break;
    own.push(a);
  }
  return { argv: own, env };
}

function has(opts: string[], ...names: string[]): boolean {
  return opts.some((o) => names.some((n) => o === n || o.startsWith(`${n}=`)));
}

/** Reads --inspect-port / --inspect[-brk|-wait][=HOST:PORT] as Node does: the last one given wins. */
function inspectorPlace(opts: string[]): InspectorPlace {
  let host = "127.0.0.1";
  let port = 9229;
  let startedOpen = false;
  for (const o of opts) {
    const m = /^--(inspect|inspect-brk|inspect-wait|inspect-port|debug-port)(?:=(.*))?$/.exec(o);
    if (!m) continue;
    if (m[1] !== "inspect-port" && m[1] !== "debug-port") startedOpen = true;
    if (m[2] === undefined) continue;
    const hp = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(m[2]);
    if (hp) {
      if (hp[1]) host = hp[1].replace(/^\[|\]$/g, "");
      port = Number(hp[2]);
    } else host = m[2];
  }
  if (host === "0.0.0.0" || host === "localhost") host = "127.0.0.1";
  return { host, port, startedOpen };
}

/** Inodes of the sockets listening on `port` in the process's network namespace. */
function listeners(pid: number, port: number): Set<string> {
  const out = new Set<string>();
  for (const f of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${f}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== "0A") continue; // 0A: LISTEN
      if (parseInt(cols[1].split(":")[1], 16) === port) out.add(cols[9]);
    }
  }
  return out;
}

/** Inodes of the process's own sockets. */
function ownSockets(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** True when the process itself listens on `port`. */
function listensOn(pid: number, port: number): boolean {
  const mine = ownSockets(pid);
  for (const inode of listeners(pid, port)) if (mine.has(inode)) return true;
  return false;
}

/** Whether the process catches SIGUSR1 (/proc/PID/status SigCgt): if not, SIGUSR1 would kill it. */
function catchesSigusr1(pid: number): boolean {
  const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m !== null && (BigInt(`0x${m[1]}`) & (1n << BigInt(os.constants.signals.SIGUSR1 - 1))) !== 0n;
}

/** The process's uid and gid (real). */
function owner(pid: number): { uid: number; gid: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return { uid: Number(/^Uid:\s*(\d+)/m.exec(status)?.[1] ?? -1), gid: Number(/^Gid:\s*(\d+)/m.exec(status)?.[1] ?? -1) };
}

/**
 * Checks everything that can be known before touching the process, so that a refusal never leaves a
 * trace in it. Throws RecordUsageError with the one-line reason.
 */
function precheck(pid: number): { node: string; place: InspectorPlace } {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new RecordUsageError(`--pid: expected a process id, got "${pid}"`);
  if (pid === process.pid) throw new RecordUsageError(`--pid ${pid}: that is vmprof-record itself`);
  try {
    process.kill(pid, 0);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ESRCH") throw new RecordUsageError(`--pid ${pid}: no such process`);
    if (code === "EPERM") throw new RecordUsageError(`--pid ${pid}: not allowed: the process belongs to another user (run vmprof-record as that user, or as root)`);
    throw e;
  }
  let exe: string;
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
  } catch {
    throw new RecordUsageError(`--pid ${pid}: not allowed to look into the process (/proc/${pid}/exe is not readable; run vmprof-record as its user, or as root)`);
  }
  if (!/^(node|nodejs)[\d.-]*$/.test(path.basename(exe))) throw new RecordUsageError(`--pid ${pid}: not a Node.js process (it runs ${exe})`);
  let node: string;
  try {
    node = execFileSync(`/proc/${pid}/exe`, ["--version"], { encoding: "utf8", timeout: 10000, stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    throw new RecordUsageError(`--pid ${pid}: could not run its Node (${exe} --version) to learn its version`);
  }
  const major = /^v(\d+)\./.exec(node)?.[1];
  const built = builds();
  if (!major || !built.some((b) => b.node.startsWith(`v${major}.`))) {
    const list = built.map((b) => b.node).join(", ") || "none";
    throw new RecordUsageError(`--pid ${pid}: it runs Node ${node}, for which the vmprof sampler is not built (built for: ${list})`);
  }
  const { argv, env } = nodeOptions(pid);
  const opts = [...env, ...argv]; // the command line comes after NODE_OPTIONS, and wins
  if (has(opts, "--disable-sigusr1")) throw new RecordUsageError(`--pid ${pid}: its inspector cannot be opened: it was started with --disable-sigusr1`);
  if (has(opts, "--permission", "--experimental-permission")) throw new RecordUsageError(`--pid ${pid}: its inspector cannot be opened: it runs under Node's permission model (--permission)`);
  const place = inspectorPlace(opts);
  const open = listensOn(pid, place.port);
  if (!open) {
    if (listeners(pid, place.port).size > 0)
      throw new RecordUsageError(`--pid ${pid}: its inspector port ${place.port} is taken by another process, so the inspector cannot open (free the port, or start the program with --inspect-port=PORT)`);
    if (!catchesSigusr1(pid)) throw new RecordUsageError(`--pid ${pid}: it does not handle SIGUSR1 (inspector disabled), so its inspector cannot be opened; SIGUSR1 would kill it`);
  }
  return { node, place: { ...place, startedOpen: open } };
}

/** A DevTools protocol connection: one call at a time is all we need. */
class Inspector {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed?: Error;

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data) => {
      let m: { id?: number; result?: unknown; error?: { message: string } };
      try {
        m = JSON.parse(String(data));
      } catch {
        return;
      }
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (m.error) w.reject(new Error(m.error.message));
      else w.resolve(m.result);
    });
    ws.on("close", () => {
      this.closed = new Error("the inspector connection closed");
      for (const w of this.waiting.values()) w.reject(this.closed);
      this.waiting.clear();
    });
    ws.on("error", () => {
      /* close follows */
    });
  }

  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: STEP_TIMEOUT_MS });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new Inspector(ws);
  }

  /** Evaluates `expression` in the main context; resolves to its value, rejects with the exception's text. */
  async evaluate(expression: string): Promise<unknown> {
    const r = (await this.call("Runtime.evaluate", { expression, returnByValue: true, includeCommandLineAPI: true, silent: true })) as {
      result?: { value?: unknown };
      exceptionDetails?: { text?: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) {
      const d = r.exceptionDetails.exception?.description ?? r.exceptionDetails.text ?? "an exception";
      throw new Error(d.split("\n")[0].replace(/^Error: /, ""));
    }
    return r.result?.value;
  }

  /** Sends a message whose answer may never come (the connection closes on it). */
  send(method: string, params: object): void {
    if (!this.closed) this.ws.send(JSON.stringify({ id: this.next++, method, params }));
  }

  call(method: string, params: object): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer to ${method} within ${STEP_TIMEOUT_MS / 1000} s`));
      }, STEP_TIMEOUT_MS);
      this.waiting.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Closes the connection and resolves once it is closed (at most a second later). */
  close(): Promise<void> {
    if (!this.closed) this.ws.close();
    return this.closedBy(1000);
  }

  /** Resolves when the other side closes the connection (or after `ms`). */
  closedBy(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, ms);
      this.ws.once("close", () => (clearTimeout(t), resolve()));
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process's main inspector target (GET /json/list), waiting for the inspector to come up. */
async function debuggerUrl(pid: number, place: InspectorPlace): Promise<string> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!listensOn(pid, place.port)) {
    if (Date.now() > deadline) throw new RecordUsageError(`--pid ${pid}: its inspector did not open within ${STEP_TIMEOUT_MS / 1000} s of SIGUSR1`);
    try {
      process.kill(pid, 0);
    } catch {
      throw new RecordUsageError(`--pid ${pid}: the process ended while its inspector was opening`);
    }
    await sleep(5);
  }
  const host = place.host.includes(":") ? `[${place.host}]` : place.host;
  const res = await fetch(`http://${host}:${place.port}/json/list`, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
  const list = (await res.json()) as { type?: string; webSocketDebuggerUrl?: string }[];
  const target = list.find((t) => t.type === "node" && t.webSocketDebuggerUrl);
  if (!target?.webSocketDebuggerUrl) throw new RecordUsageError(`--pid ${pid}: its inspector lists no Node target (is a debugger attached already?)`);
  return target.webSocketDebuggerUrl;
}

/** Absolute path of the attach agent (@vmprof/native/attach). */
function agentPath(): string {
  return fileURLToPath(import.meta.resolve("@vmprof/native/attach"));
}

/**
 * The expression that loads the agent in the process and starts it (CommonJS and ESM programs
 * alike), in one round trip; it starts nothing in a process other than `pid` (whose inspector a
 * port we did not expect led us to), answering `{otherPid}` instead.
 */
function startExpression(pid: number, config: object): string {
  const agent = JSON.stringify(agentPath());
  return `(function () {
  if (process.pid !== ${pid}) return { otherPid: process.pid };
  var m = typeof process.getBuiltinModule === "function" ? process.getBuiltinModule("module") : require("module");
  return m.createRequire(${agent})(${agent}).start(${JSON.stringify(config)});
})()`;
}

/** Follows the file the process writes: feeds the decoder, copies to stdout when streaming. */
class Follower {
  readonly decoder: ProfileDecoder;
  private offset = 0;
  private readonly buf = Buffer.alloc(1 << 20);
  /** Set when stdout's reader went away (| head): time to detach. */
  readerGone = false;

  /** `decoder`: one to feed instead of a new one (continuous profiling's, which hands its samples over as it goes). */
  constructor(
    private readonly fd: number,
    private readonly toStdout: boolean,
    source: string,
    decoder?: ProfileDecoder,
  ) {
    this.decoder = decoder ?? new ProfileDecoder(source);
  }

  /** Reads what was appended since the last call; resolves to the bytes read. */
  async poll(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = fs.readSync(this.fd, this.buf, 0, this.buf.length, this.offset);
      if (n === 0) return total;
      this.offset += n;
      total += n;
      const chunk = Buffer.from(this.buf.subarray(0, n));
      this.decoder.push(chunk);
      if (this.toStdout && !this.readerGone) await this.write(chunk);
    }
  }

  private write(chunk: Buffer): Promise<void> {
    return new Promise((resolve) => {
      const onError = () => {
        this.readerGone = true;
        resolve();
      };
      process.stdout.once("error", onError);
      process.stdout.write(chunk, (err) => {
        process.stdout.off("error", onError);
        if (err) this.readerGone = true;
        resolve();
      });
    });
  }
}

/** Attaches to `o.pid`, samples until the duration ends or we are told to stop, detaches, writes the profile. */
export async function attach(o: AttachOptions): Promise<RecordResult> {
  const { node, place } = precheck(o.pid);
  const toStdout = o.output === "-";
  const output = path.resolve(o.output ?? `vmprof-${o.pid}.prof`);
  const temp = toStdout || o.write === false ? undefined : openTemp(output);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-attach-"));
  const file = path.join(dir, "profile.prof");
  const fifo = path.join(dir, "control");
  let control = -1;
  let data = -1;
  const cleanup = () => {
    for (const fd of [control, data]) if (fd >= 0) fs.closeSync(fd);
    control = data = -1;
    fs.rmSync(dir, { recursive: true, force: true });
    if (temp) fs.rmSync(temp, { force: true });
  };
  try {
    fs.closeSync(fs.openSync(file, "wx", 0o600));
    const made = spawnSync("mkfifo", ["-m", "600", fifo]);
    if (made.status !== 0) throw new Error(`mkfifo ${fifo}: ${String(made.stderr).trim() || made.error?.message}`);
    // The process writes as its own user: as root, hand it our files.
    const { uid, gid } = owner(o.pid);
    if (process.getuid?.() === 0 && uid !== 0) for (const p of [dir, file, fifo]) fs.chownSync(p, uid, gid);
    // Held open for writing (O_RDWR never blocks on a FIFO): our close, or our death, ends the session.
    control = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    data = fs.openSync(file, "r");

    const t0 = performance.now();
    if (!place.startedOpen) process.kill(o.pid, "SIGUSR1");
    let inspector: Inspector | undefined;
    let theirs = false; // the inspector we reached is another process's: leave it as it is
    let started: { pid: number; node: string; ms: number };
    try {
      inspector = await Inspector.connect(await debuggerUrl(o.pid, place));
      const config = {
        output: file,
        control: fifo,
        periodUs: o.periodUs,
        mode: o.mode,
        maxDepth: o.maxDepth,
        lines: o.lines !== false,
        native: o.native === true,
        argv: o.argv,
        meta: Object.entries(o.labels).map(([k, v]) => [`label.${k}`, v]),
      };
      let answer: typeof started | { otherPid: number };
      try {
        answer = (await inspector.evaluate(startExpression(o.pid, config))) as typeof answer;
      } catch (e) {
        throw new RecordUsageError(`--pid ${o.pid}: could not start the sampler in it: ${(e as Error).message}`);
      }
      if ("otherPid" in answer) {
        theirs = true;
        throw new RecordUsageError(`--pid ${o.pid}: the inspector at ${place.host}:${place.port} belongs to process ${answer.otherPid}, not to ${o.pid}`);
      }
      started = answer;
    } finally {
      // Leave the inspector as we found it: closed again if we opened it.
      if (inspector && !place.startedOpen && !theirs) {
        // Closed once the event loop turns: SIGUSR1 also queued an open on the loop (Node opens the
        // inspector from whichever comes first, an interrupt or the loop), and a close before that
        // one runs would be undone by it. A busy main thread keeps it open until the loop turns.
        inspector.send("Runtime.evaluate", { expression: "setImmediate(() => setImmediate(() => process._debugEnd()))" });
        await inspector.closedBy(2000);
      } else await inspector?.close();
    }
    o.log(`attached to process ${o.pid} (Node ${node}) in ${Math.round(performance.now() - t0)} ms; its main thread was held ${started.ms.toFixed(1)} ms`);

    const follower = new Follower(data, toStdout, `process ${o.pid}`, o.continuous?.addSource(`process ${o.pid}`).decoder);
    const why = await sampleUntilDone(o, follower);
    // Detach: the sampler finishes the file when our end of the FIFO closes.
    fs.closeSync(control);
    control = -1;
    const gone = await waitForEnd(o.pid, follower);
    if (why === "exited" || gone) o.log(`process ${o.pid} exited while attached: the profile holds what was taken before it ended`);
    else if (!follower.decoder.complete) o.log(`process ${o.pid} did not finish its profile within ${STEP_TIMEOUT_MS / 1000} s of detaching: kept what it had written`);
    // The last windows are cut now, and sent while the whole profile is written.
    const uploads = o.continuous?.finish();
    let written: string | undefined = toStdout ? "-" : undefined;
    if (!toStdout && o.write !== false) written = await takeSingle({ ...o, command: [], children: false, allowUnprofiled: false }, file, temp, output);
    const samples = o.continuous ? (await uploads)!.samples : follower.decoder.sampleCount;
    return { exitCode: 0, output: written, samples, processes: 1, threads: 0 };
  } catch (e) {
    if (e instanceof ProfileFormatError) throw new RecordUsageError(`--pid ${o.pid}: the profile it wrote is unreadable: ${e.message}`);
    throw e;
  } finally {
    cleanup();
  }
}

/** Polls the file until the duration ends, a signal asks us to stop, stdout's reader leaves or the process exits. */
async function sampleUntilDone(o: AttachOptions, f: Follower): Promise<"duration" | "signal" | "reader" | "exited"> {
  let signalled = false;
  const onSignal = () => {
    signalled = true;
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) process.on(s, onSignal);
  const end = o.durationS === undefined ? Infinity : performance.now() + o.durationS * 1000;
  try {
    for (;;) {
      await f.poll();
      o.continuous?.tick();
      if (f.readerGone) return "reader";
      if (signalled) return "signal";
      if (performance.now() >= end) return "duration";
      if (!alive(o.pid)) return "exited";
      await sleep(Math.max(1, Math.min(100, end - performance.now())));
    }
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie (ended, not yet reaped by its parent) is not alive for us.
    return !/^State:\s*Z/m.test(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** Reads the file until its END record (or the process is gone, or 5 s). Resolves true if the process is gone. */
async function waitForEnd(pid: number, f: Follower): Promise<boolean> {
  const deadline = performance.now() + STEP_TIMEOUT_MS;
  for (;;) {
    await f.poll();
    if (f.decoder.complete) return false;
    if (!alive(pid)) {
      await f.poll();
      return true;
    }
    if (performance.now() > deadline) return false;
    await sleep(10);
  }
}
