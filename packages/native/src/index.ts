/**
 * @vmprof/native: vmprof's API for profiling a section of a program from inside it.
 *
 *     const fd = fs.openSync("out.prof", "w");
 *     enable(fd, { period: 0.00099, mode: "cpu" });
 *     ...
 *     disable();            // writes the rest and the end record; the fd stays open
 *
 * One session per process at a time. `enable` profiles the calling thread; a worker thread joins a
 * running session with `addThread()`.
 */
import { redactArgv } from "@vmprof/format/meta";
import { isMainThread } from "node:worker_threads";
import addon from "./addon.cjs";

export type { SamplerStats } from "./addon.cjs";
export const { DEFAULT_PERIOD, DEFAULT_MAX_DEPTH, AddonLoadError, loadAddon, builds } = addon;

/** Options of `enable`. */
export interface EnableOptions {
  /** Sampling period in seconds (vmprof's unit); default 0.00099. At least 50 µs. */
  period?: number;
  /** "cpu" (default): samples CPU time, idle time is not sampled; "wall": wall-clock time, idle shown as such. */
  mode?: "cpu" | "wall";
  /** Frames kept per sample, innermost first (default 256, at most 1024). */
  maxDepth?: number;
  /** Free metadata stored in the profile (for example `label.env`). */
  meta?: Record<string, string | number | string[]>;
  /** Store the command line (redacted of secret-looking values); default true. */
  argv?: boolean;
}

/**
 * Starts profiling the calling thread into `fd` (a file descriptor open for writing; not closed by
 * the profiler). Throws if a session is already running, the addon cannot be loaded for this Node,
 * or the fd cannot be written.
 */
export function enable(fd: number, options: EnableOptions = {}): void {
  const period = options.period ?? DEFAULT_PERIOD;
  if (!(period > 0) || !Number.isFinite(period)) throw new RangeError(`period must be a positive number of seconds, got ${period}`);
  const mode = options.mode ?? "cpu";
  if (mode !== "cpu" && mode !== "wall") throw new RangeError(`mode must be "cpu" or "wall", got ${String(mode)}`);
  const native = loadAddon();
  const meta = addon.processMeta(options.argv === false ? undefined : redactArgv(addon.commandLine()));
  for (const [k, v] of Object.entries(options.meta ?? {})) meta.push([k, v]);
  native.start(fd, { periodUs: Math.round(period * 1e6), mode, maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH }, meta, addon.processName());
  try {
    native.addThread(threadName(), threadKind());
  } catch (e) {
    native.stop();
    throw e;
  }
}

/** Profiles the calling worker thread in the session that runs in this process. */
export function addThread(name = threadName()): void {
  loadAddon().addThread(name, threadKind());
}

/** Ends the session: writes the remaining samples, the counters and the end record. Returns the counters. */
export function disable(): addon.SamplerStats {
  return loadAddon().stop();
}

/** True while a session runs in this process. */
export function isEnabled(): boolean {
  return loadAddon().isEnabled();
}

/** Counters of the running (or last) session. */
export function stats(): addon.SamplerStats {
  return loadAddon().stats();
}

function threadName(): string {
  return isMainThread ? "main" : addon.workerName();
}
function threadKind(): number {
  return isMainThread ? 0 : 1;
}
