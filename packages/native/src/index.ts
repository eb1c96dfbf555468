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
import { AsyncLocalStorage, createHook } from "node:async_hooks";
import { isMainThread } from "node:worker_threads";
import addon from "./addon.cjs";

export type { SamplerStats } from "./addon.cjs";
export { startContinuous, type ContinuousHandle, type ContinuousOptions, type ContinuousStats } from "./continuous.js";
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
  /**
   * Also record native frames (default false): the C++ between the interrupted pc and the innermost
   * JS frame, and below the outermost JS frame, unwound with libunwind (Debian: libunwind8; Linux
   * x86-64) and named from the process's ELF symbols by the writer. `enable` throws when libunwind
   * cannot be loaded.
   */
  native?: boolean;
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
  native.start(fd, { periodUs: Math.round(period * 1e6), mode, maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH, native: options.native === true }, meta, addon.processName());
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

/** Labels of a piece of work: string keys (non-empty) to string values, for example `{ route: "/users" }`. */
export type Labels = Readonly<Record<string, string>>;

/** Most label sets one process may hold (the sampler's registry); past it, work runs unlabelled, with one warning. */
export const MAX_LABEL_SETS = 100_000;

interface LabelState {
  /** The current label set id along the async context. */
  als: AsyncLocalStorage<number>;
  /** The thread's word the signal handler reads. */
  slot: Uint32Array;
  /** Ids by canonical text, and the pairs of each id. */
  ids: Map<string, number>;
  pairs: Map<number, [string, string][]>;
  /** What the slot held before each callback that is running (async hooks nest before/after). */
  saved: number[];
  warned: boolean;
  /** The sampler's addon; undefined when it cannot load for this Node (labels then only reach currentLabels). */
  native: addon.Addon | undefined;
}
let labelState: LabelState | undefined;

function initLabels(): LabelState {
  if (labelState) return labelState;
  // A program labels its work whether or not it can be profiled: on a Node the sampler is not built
  // for, withLabels still runs fn (one warning), and nothing is hooked.
  let native: addon.Addon | undefined;
  try {
    native = loadAddon();
  } catch (e) {
    if (!(e instanceof AddonLoadError)) throw e;
    process.emitWarning(`vmprof: labels are not recorded: ${e.message}`, "VmprofWarning");
  }
  const st: LabelState = { als: new AsyncLocalStorage<number>(), slot: native ? native.labelSlot() : new Uint32Array(1), ids: new Map(), pairs: new Map(), saved: [], warned: false, native };
  labelState = st;
  if (!native) return st;
  // Every callback (a promise reaction, a timer, an I/O completion) runs with its async context's
  // label set in the slot, and the slot gets back what it held when the callback ends.
  createHook({
    before() {
      if (st.saved.length < 10_000) st.saved.push(st.slot[0]);
      st.slot[0] = st.als.getStore() ?? 0;
    },
    after() {
      st.slot[0] = st.saved.pop() ?? 0;
    },
  }).enable();
  return st;
}

/** The id of `pairs` (sorted, checked), interned in the sampler's registry on first use; 0 when the registry is full. */
function labelSetId(st: LabelState, pairs: [string, string][]): number {
  const key = JSON.stringify(pairs);
  let id = st.ids.get(key);
  if (id !== undefined) return id;
  try {
    id = st.native ? st.native.internLabels(pairs) : st.ids.size + 1;
  } catch (e) {
    if (!(e instanceof RangeError) || !/distinct label sets/.test(e.message)) throw e;
    if (!st.warned) process.emitWarning(`vmprof: ${e.message}; further new label sets are not recorded`, "VmprofWarning");
    st.warned = true;
    return 0;
  }
  st.ids.set(key, id);
  st.pairs.set(id, pairs);
  return id;
}

/** `labels` checked and merged over `outer` (the enclosing withLabels' pairs), sorted by key. */
function labelPairs(labels: Labels, outer: [string, string][] | undefined): [string, string][] {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) throw new TypeError(`withLabels: labels must be an object of string values, got ${labels === null ? "null" : Array.isArray(labels) ? "an array" : typeof labels}`);
  const merged = new Map(outer ?? []);
  for (const [k, v] of Object.entries(labels)) {
    if (k === "") throw new RangeError("withLabels: a label key must not be empty");
    if (typeof v !== "string") throw new TypeError(`withLabels: label "${k}" must be a string, got ${v === null ? "null" : typeof v}`);
    if (Buffer.byteLength(k) > 1024 || Buffer.byteLength(v) > 1024) throw new RangeError(`withLabels: label "${k.slice(0, 40)}" is longer than 1024 bytes`);
    merged.set(k, v);
  }
  if (merged.size > 64) throw new RangeError(`withLabels: at most 64 labels, got ${merged.size}`);
  return [...merged].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * Runs `fn` with `labels` on every sample taken while it runs, in this thread, and in everything it
 * starts asynchronously (awaits, promise chains, timers, I/O callbacks: the labels follow the async
 * context, as AsyncLocalStorage does). Nested calls add to (and may override) the enclosing labels.
 * Returns what `fn` returns (a promise for an async `fn`). Works whether or not a session is running:
 * samples taken later in that context carry the labels. Throws TypeError or RangeError, before
 * running `fn`, for labels that are not an object of strings, an empty key, or a key or value over
 * 1024 bytes. Cost: about a microsecond per call, plus an async hook on every callback once used.
 */
export function withLabels<T>(labels: Labels, fn: () => T): T {
  if (typeof fn !== "function") throw new TypeError("withLabels: the second argument must be a function");
  const st = labelState ?? initLabels();
  const outer = st.als.getStore();
  const pairs = labelPairs(labels, outer ? st.pairs.get(outer) : undefined);
  const id = pairs.length === 0 ? 0 : labelSetId(st, pairs);
  const previous = st.slot[0];
  st.slot[0] = id;
  try {
    return st.als.run(id, fn);
  } finally {
    st.slot[0] = previous;
  }
}

/** The labels in effect here (this async context's, from withLabels), as an object; {} when none. */
export function currentLabels(): Record<string, string> {
  const id = labelState?.als.getStore();
  return Object.fromEntries(id ? (labelState!.pairs.get(id) ?? []) : []);
}
