/**
 * Selection: which samples a query looks at (processes, threads, a time range, focus and ignore by
 * function) and which frames it shows (hide, Node internals). Every view and exporter selects here.
 */
import { FunctionKind } from "./constants.js";
import { functionIdLimit, matchFunctions, stateFunctionId } from "./functions.js";
import { SampleLabels } from "./labels.js";
import type { Profile } from "./model.js";
import { endsInStateLeaf, hasNativeFrames } from "./paths.js";

/** Which samples a query looks at. Empty or absent fields select everything. */
export interface Selection {
  /** OS process ids. */
  pids?: number[];
  /** OS thread ids. */
  tids?: number[];
  /** Thread names (exact). */
  threadNames?: string[];
  /** Start of the time range, µs since the profile origin (inclusive). */
  from?: number;
  /** End of the time range, µs since the profile origin (exclusive). */
  to?: number;
  /** Labels every selected sample carries (its own, its process's or the profile's), key=value pairs. */
  labels?: [string, string][];
}

/**
 * Which samples count and which frames show, by function. A RegExp is tested like findFunctions
 * (against the name and "name file:line"); VM-state pseudo-functions such as "(idle)" match too.
 */
export interface PathFilter {
  /** Keep only samples with a matching function on their path. */
  focus?: RegExp;
  /** Drop samples with a matching function on their path. */
  ignore?: RegExp;
  /** Remove matching frames from every path; their time goes to their caller and the samples stay. */
  hide?: RegExp;
  /** Remove Node's own JS frames (files starting with "node:"), folding them into their callers. */
  hideInternals?: boolean;
  /** Hide native functions (C++ frames of a recording with native frames): paths as without them. */
  hideNative?: boolean;
}

/** A selection that names a process or thread the profile does not have. */
export class SelectionError extends Error {
  override readonly name = "SelectionError";
}

/** True when a selection or filter narrows anything (an empty one selects the whole profile). */
export function selects(sel: Selection = {}, filter: PathFilter = {}): boolean {
  const narrows = Object.values(sel).some((v) => v !== undefined && (!Array.isArray(v) || v.length > 0));
  return narrows || filter.focus !== undefined || filter.ignore !== undefined || filter.hide !== undefined || filter.hideInternals === true || filter.hideNative === true;
}

/** Resolves a Selection to a per-thread mask (index: thread id). Throws SelectionError for unknown names. */
export function selectThreads(p: Profile, sel: Selection = {}): Uint8Array {
  const mask = new Uint8Array(p.threads.length + 1).fill(1);
  mask[0] = 0;
  const restrict = (values: (string | number)[] | undefined, what: string, get: (t: Profile["threads"][number]) => string | number) => {
    if (!values || values.length === 0) return;
    for (const v of values) {
      if (!p.threads.some((t) => get(t) === v)) {
        const have = [...new Set(p.threads.map(get))].join(", ");
        throw new SelectionError(`${what} ${v} is not in ${p.source} (it has: ${have || "none"})`);
      }
    }
    for (const t of p.threads) if (!values.includes(get(t))) mask[t.id] = 0;
  };
  restrict(sel.pids, "pid", (t) => p.processes[t.process - 1].pid);
  restrict(sel.tids, "thread id", (t) => t.tid);
  restrict(sel.threadNames, "thread", (t) => t.name);
  return mask;
}

/** True when sample time `t` (µs) is inside the selection's time range. */
export function inTimeRange(sel: Selection, t: number): boolean {
  return t >= (sel.from ?? -Infinity) && t < (sel.to ?? Infinity);
}

/** For each stack (index: stack id), whether a function marked in `mask` is on it. */
function stacksThrough(p: Profile, mask: Uint8Array): Uint8Array {
  const through = new Uint8Array(p.stacks.count);
  for (let s = 1; s < p.stacks.count; s++) {
    through[s] = through[p.stacks.parent[s]] | mask[p.frames[p.stacks.frame[s] - 1].function];
  }
  return through;
}

/**
 * Marks (index: sample index) the samples a selection and the filter's focus and ignore keep. One pass
 * over the samples. Throws SelectionError for a process or thread the profile does not have.
 */
export function selectSamples(p: Profile, selection: Selection = {}, filter: PathFilter = {}): Uint8Array {
  const mask = selectThreads(p, selection);
  // A sample's path is its stack plus, unless it is a JS sample with frames, its state's pseudo-function.
  const native = hasNativeFrames(p);
  const onPath = (fnMask: Uint8Array, through: Uint8Array, st: number, state: number) =>
    through[st] === 1 || (endsInStateLeaf(p, st, state, undefined, native) && fnMask[stateFunctionId(p, state)] === 1);
  const focusMask = filter.focus ? matchFunctions(p, filter.focus) : null;
  const focusThrough = focusMask ? stacksThrough(p, focusMask) : null;
  const ignoreMask = filter.ignore ? matchFunctions(p, filter.ignore) : null;
  const ignoreThrough = ignoreMask ? stacksThrough(p, ignoreMask) : null;
  const timed = selection.from !== undefined || selection.to !== undefined;
  const labels = selection.labels && selection.labels.length > 0 ? new SampleLabels(p) : null;
  const s = p.samples;
  const keep = new Uint8Array(s.count);
  for (let i = 0; i < s.count; i++) {
    if (mask[s.thread[i]] === 0) continue;
    if (timed && !inTimeRange(selection, s.time[i])) continue;
    if (labels && !labels.matches(i, selection.labels!)) continue;
    const st = s.stack[i];
    const state = s.state[i];
    if (focusMask && !onPath(focusMask, focusThrough!, st, state)) continue;
    if (ignoreMask && onPath(ignoreMask, ignoreThrough!, st, state)) continue;
    keep[i] = 1;
  }
  return keep;
}

/** The functions (index: function id) the filter's hide and hideInternals remove from paths; undefined for none. */
export function hiddenFunctions(p: Profile, filter: PathFilter = {}): Uint8Array | undefined {
  if (!filter.hide && !filter.hideInternals && !filter.hideNative) return undefined;
  const hidden = filter.hide ? matchFunctions(p, filter.hide) : new Uint8Array(functionIdLimit(p));
  if (filter.hideInternals) for (const f of p.functions) if (f.file.startsWith("node:")) hidden[f.id] = 1;
  if (filter.hideNative) for (const f of p.functions) if (f.kind === FunctionKind.NATIVE) hidden[f.id] = 1;
  return hidden;
}
