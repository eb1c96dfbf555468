/**
 * Continuous profiling from inside a program:
 *
 *     import { startContinuous } from "@vmprof/native";
 *     const profiling = startContinuous({ url: "http://profiles:8000", every: 10, labels: { service: "api" } });
 *     ...
 *     await profiling.stop();   // the last window is sent
 *
 * The sampler runs in this process as with `enable()`, writing into a pipe; a worker thread (not
 * sampled: it never joins the session) reads the pipe, cuts one profile per window and uploads it with
 * @vmprof/client's ContinuousUploader. The program is never held: the worker does the decoding and the
 * HTTP, is unref'd (it never keeps the process alive), and every problem after the start is a warning
 * (process.emitWarning, type "VmprofWarning"), never an exception. Memory is bounded as the uploader's
 * is: the definitions, the current window encoded, at most three windows waiting to be sent.
 *
 * If the process exits without `stop()`, the sampler is stopped in its 'exit' event; the window in
 * progress is then not sent.
 */
import fs from "node:fs";
import type { ContinuousStats } from "@vmprof/client";
import { Worker } from "node:worker_threads";
import addon from "./addon.cjs";
import { enable } from "./index.js";

/** What to send where, and how the sampler samples. */
export interface ContinuousOptions {
  /** The server's base URL: vmprof-server, or Pyroscope with `to: "pyroscope"`. */
  url: string;
  /** Window length in seconds, 1 to 3600: one profile is uploaded per window. */
  every: number;
  /** Labels of every sample: stored in each window's metadata (`label.KEY`) and sent with it. */
  labels?: Record<string, string>;
  /** Bearer token for the server. */
  token?: string;
  /** "vmprof" (default): vmprof-server's API; "pyroscope": Pyroscope's /ingest. */
  to?: "vmprof" | "pyroscope";
  /** Profile name; default: the command line (vmprof-server), "vmprof-node.cpu" (Pyroscope). */
  name?: string;
  /** Sampling period in seconds (default 0.00099), mode (default "cpu") and frames kept per sample, as for `enable()`. */
  period?: number;
  mode?: "cpu" | "wall";
  maxDepth?: number;
}

/** What happened to the windows: @vmprof/client's, whose uploader the worker runs. */
export type { ContinuousStats };

/** A running continuous profile. */
export interface ContinuousHandle {
  /**
   * Stops sampling, cuts the last window and waits for the windows still to send (at most 15 s);
   * resolves to what happened to them. Never rejects; later calls return the same promise.
   */
  stop(): Promise<ContinuousStats | undefined>;
}

/** The worker's messages. */
type FromWorker = { type: "warning"; text: string } | { type: "done"; stats: ContinuousStats };

const EMPTY_STATS: ContinuousStats = { windows: 0, empty: 0, uploaded: 0, failed: 0, overflowed: 0, samples: 0, uploadedSamples: 0, late: 0, maxHeld: 0, maxHeldBytes: 0 };

function warn(text: string): void {
  process.emitWarning(`vmprof: ${text}`, "VmprofWarning");
}

/** The checks that need no upload library: what makes startContinuous throw. */
function check(o: ContinuousOptions): void {
  if (o === null || typeof o !== "object") throw new TypeError("startContinuous: options must be an object ({ url, every })");
  let u: URL;
  try {
    u = new URL(o.url);
  } catch {
    throw new TypeError(`startContinuous: url "${o.url}" is not a URL (e.g. http://127.0.0.1:8000)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new TypeError(`startContinuous: url "${o.url}" is not http or https`);
  if (typeof o.every !== "number" || !(o.every >= 1 && o.every <= 3600)) throw new RangeError(`startContinuous: every must be 1 to 3600 seconds, got ${String(o.every)}`);
  if (o.to !== undefined && o.to !== "vmprof" && o.to !== "pyroscope") throw new RangeError(`startContinuous: to must be "vmprof" or "pyroscope", got ${String(o.to)}`);
  const labels = o.labels ?? {};
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) throw new TypeError("startContinuous: labels must be an object of string values");
  for (const [k, v] of Object.entries(labels)) {
    if (k === "") throw new RangeError("startContinuous: a label key must not be empty");
    if (typeof v !== "string") throw new TypeError(`startContinuous: label "${k}" must be a string, got ${v === null ? "null" : typeof v}`);
    if ((o.to ?? "vmprof") === "pyroscope" && /[{},=]/.test(k + v)) throw new RangeError(`startContinuous: label ${k}=${v}: Pyroscope labels cannot contain { } , or =`);
  }
}

/**
 * Starts sampling this process (its calling thread, as `enable()` does) and uploading one profile per
 * `every` seconds. Throws, having started nothing, for bad options (TypeError, RangeError), when a
 * session already runs in this process (Error), or when the sampler cannot load for this Node
 * (AddonLoadError). After that, nothing it does throws: problems are warnings.
 */
export function startContinuous(o: ContinuousOptions): ContinuousHandle {
  check(o);
  const native = addon.loadAddon();
  if (native.isEnabled()) throw new Error("startContinuous: a vmprof session already runs in this process (vmprof-record, enable() or an earlier startContinuous)");
  const [readFd, writeFd] = native.makePipe();
  const labels = o.labels ?? {};
  try {
    enable(writeFd, { period: o.period, mode: o.mode, maxDepth: o.maxDepth, meta: Object.fromEntries(Object.entries(labels).map(([k, v]) => [`label.${k}`, v])) });
  } catch (e) {
    fs.closeSync(readFd);
    fs.closeSync(writeFd);
    throw e;
  }
  let worker: Worker;
  try {
    worker = new Worker(new URL("./continuous-worker.js", import.meta.url), {
      workerData: { fd: readFd, url: o.url, token: o.token, to: o.to ?? "vmprof", name: o.name, labels, every: o.every, origin: Date.now() * 1000 },
      // None of the program's Node options (--input-type, --import, --require of its own preloads or
      // vmprof-record's, which would join this thread to the session): a plain thread of ours.
      execArgv: [],
      env: { ...process.env, VMPROF_DIR: "" },
      stdin: false,
      stdout: true,
      stderr: true,
    });
  } catch (e) {
    native.stop();
    fs.closeSync(readFd);
    fs.closeSync(writeFd);
    throw e;
  }

  let running = true;
  let stats: ContinuousStats | undefined;
  let resolveDone!: (s: ContinuousStats | undefined) => void;
  const done = new Promise<ContinuousStats | undefined>((r) => (resolveDone = r));
  // Ends the session: the sampler writes the rest and the END record into the pipe, whose closing
  // tells the worker the recording is over.
  const endSession = () => {
    if (!running) return;
    running = false;
    process.off("exit", endSession);
    try {
      native.stop();
    } catch {
      // already stopped
    }
    try {
      fs.closeSync(writeFd);
    } catch {
      // already closed
    }
  };
  process.on("exit", endSession);
  worker.on("message", (m: FromWorker) => {
    if (m.type === "warning") warn(m.text);
    else if (m.type === "done") stats = m.stats;
  });
  worker.on("error", (e) => {
    if (running) warn(`continuous profiling stopped: its worker failed: ${e.message}`);
    endSession();
  });
  worker.on("exit", () => {
    if (running) warn("continuous profiling stopped: its worker ended");
    endSession();
    resolveDone(stats);
  });
  // After the listeners: a 'message' listener refs the worker's port again.
  worker.unref();

  let stopping: Promise<ContinuousStats | undefined> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        // Kept alive until the last window is sent (the worker ends by itself once it is).
        worker.ref();
        endSession();
        return (await done) ?? { ...EMPTY_STATS };
      })();
      return stopping;
    },
  };
}
