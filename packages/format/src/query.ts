/**
 * The queries every view needs, in the spirit of vmprof's Stats: cumulative and self weight per
 * function, callers and callees of a function, the call tree, lookup by name, and selection by
 * process, thread and time, under a chosen weight.
 *
 * VM states are visible as pseudo-functions: a sample taken in a state other than JS gets a leaf
 * "(garbage collector)", "(idle)", "(native)"... below its JS frames (or at the root when it has
 * none), and a JS-state sample with no frames counts as "(unknown)". Their ids follow the real
 * functions: `stateFunctionId(profile, state)`.
 */
import { FunctionKind, VM_STATE_NAMES, VmState } from "./constants.js";
import type { FunctionInfo, MetaValue, Profile } from "./model.js";
import { functionLabel } from "./model.js";

/** What a sample weighs: 1 per sample, its CPU µs, or its wall-clock µs. */
export type Weight = "samples" | "cpu" | "wall";

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
}

/** A selection that names a process or thread the profile does not have. */
export class SelectionError extends Error {
  override readonly name = "SelectionError";
}

/** Labels of the VM-state pseudo-functions, indexed by VmState. */
export const STATE_LABELS = ["(unknown)", "(garbage collector)", "(compiler)", "(parser)", "(native)", "(idle)", "(other)"] as const;

/** The pseudo-function id standing for a VM state (see the module comment). */
export function stateFunctionId(p: Profile, state: number): number {
  return p.functions.length + 1 + state;
}

/** Number of function ids including the state pseudo-functions; arrays indexed by id have this length. */
export function functionIdLimit(p: Profile): number {
  return p.functions.length + 1 + VM_STATE_NAMES.length;
}

/** Describes any function id, real or pseudo. */
export function functionInfo(p: Profile, id: number): FunctionInfo {
  if (id >= 1 && id <= p.functions.length) return p.functions[id - 1];
  const state = id - p.functions.length - 1;
  return { id, kind: FunctionKind.OTHER, name: STATE_LABELS[state] ?? "(?)", file: "", line: 0, column: 0 };
}

/** A metadata value of the whole profile, or else of its first process that has it. */
export function metaValue(p: Profile, key: string): MetaValue | undefined {
  return p.meta.get(key) ?? p.processes.find((pr) => pr.meta.has(key))?.meta.get(key);
}

/** The weight that fits the recording: CPU time for a cpu-mode profile, wall time for wall mode, else samples. */
export function defaultWeight(p: Profile): Weight {
  const mode = metaValue(p, "mode");
  return mode === "cpu" ? "cpu" : mode === "wall" ? "wall" : "samples";
}

/** True for the VM-state pseudo-function ids. */
export function isStateFunction(p: Profile, id: number): boolean {
  return id > p.functions.length;
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

/** The selected samples summed by distinct (stack, state); the input of every other query. */
export interface Aggregate {
  weight: Weight;
  /** Number of samples selected. */
  samples: number;
  /** Their total weight (samples, or µs). */
  total: number;
  /** Functions removed from every path (index: function id), from PathFilter.hide/hideInternals. */
  hidden?: Uint8Array;
  /** Distinct (stack, state) pairs with their weight; parallel arrays of equal length. */
  stacks: Uint32Array;
  states: Uint8Array;
  weights: Float64Array;
  /** Number of samples behind each entry's weight. */
  counts: Float64Array;
}

/** Marks (index: function id) the functions, real or pseudo, that `pattern` matches. */
export function matchFunctions(p: Profile, pattern: RegExp): Uint8Array {
  const mask = new Uint8Array(functionIdLimit(p));
  for (const id of findFunctions(p, pattern)) mask[id] = 1;
  return mask;
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
  const onPath = (fnMask: Uint8Array, through: Uint8Array, st: number, state: number) =>
    through[st] === 1 || ((state !== VmState.JS || st === 0) && fnMask[stateFunctionId(p, state)] === 1);
  const focusMask = filter.focus ? matchFunctions(p, filter.focus) : null;
  const focusThrough = focusMask ? stacksThrough(p, focusMask) : null;
  const ignoreMask = filter.ignore ? matchFunctions(p, filter.ignore) : null;
  const ignoreThrough = ignoreMask ? stacksThrough(p, ignoreMask) : null;
  const from = selection.from ?? -Infinity;
  const to = selection.to ?? Infinity;
  const timed = from !== -Infinity || to !== Infinity;
  const s = p.samples;
  const keep = new Uint8Array(s.count);
  for (let i = 0; i < s.count; i++) {
    if (mask[s.thread[i]] === 0) continue;
    if (timed && !(s.time[i] >= from && s.time[i] < to)) continue;
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
  if (!filter.hide && !filter.hideInternals) return undefined;
  const hidden = filter.hide ? matchFunctions(p, filter.hide) : new Uint8Array(functionIdLimit(p));
  if (filter.hideInternals) for (const f of p.functions) if (f.file.startsWith("node:")) hidden[f.id] = 1;
  return hidden;
}

/** The weight column of a sample-weighing choice: CPU or wall µs, or null for 1 per sample. */
export function weightColumn(p: Profile, weight: Weight): Uint32Array | null {
  return weight === "cpu" ? p.samples.cpu : weight === "wall" ? p.samples.wall : null;
}

/** Sums the selected samples under a weight, after the filter's focus and ignore. */
export function aggregate(p: Profile, opts: { weight?: Weight; selection?: Selection; filter?: PathFilter } = {}): Aggregate {
  const weight = opts.weight ?? "samples";
  const keep = selectSamples(p, opts.selection, opts.filter);
  const s = p.samples;
  const col = weightColumn(p, weight);
  const jsByStack = new Float64Array(p.stacks.count);
  const jsCount = new Float64Array(p.stacks.count);
  const other = new Map<number, [number, number]>();
  let n = 0;
  let total = 0;
  for (let i = 0; i < s.count; i++) {
    if (keep[i] === 0) continue;
    const st = s.stack[i];
    const state = s.state[i];
    const w = col === null ? 1 : col[i];
    n++;
    total += w;
    if (state === VmState.JS && st !== 0) {
      jsByStack[st] += w;
      jsCount[st]++;
    } else {
      const key = st * 8 + state;
      const o = other.get(key);
      if (o) {
        o[0] += w;
        o[1]++;
      } else other.set(key, [w, 1]);
    }
  }
  const stacks: number[] = [];
  const states: number[] = [];
  const weights: number[] = [];
  const counts: number[] = [];
  for (let st = 1; st < p.stacks.count; st++) {
    if (jsCount[st] > 0) {
      stacks.push(st);
      states.push(VmState.JS);
      weights.push(jsByStack[st]);
      counts.push(jsCount[st]);
    }
  }
  for (const [key, [w, c]] of [...other].sort((a, b) => a[0] - b[0])) {
    stacks.push(Math.floor(key / 8));
    states.push(key % 8);
    weights.push(w);
    counts.push(c);
  }
  return {
    weight,
    samples: n,
    total,
    hidden: hiddenFunctions(p, opts.filter),
    stacks: Uint32Array.from(stacks),
    states: Uint8Array.from(states),
    weights: Float64Array.from(weights),
    counts: Float64Array.from(counts),
  };
}

/** The same selection weighed by sample count: weights become the counts. No pass over the samples. */
export function countsOf(agg: Aggregate): Aggregate {
  return agg.weight === "samples" ? agg : { ...agg, weight: "samples", total: agg.samples, weights: agg.counts };
}

/**
 * Calls `fn` for each aggregate entry with its path of function ids, root first, including the
 * state pseudo-function leaf, without the aggregate's hidden functions (so `len` may be 0). `path`
 * is reused between calls: copy it to keep it.
 */
export function forEachPath(
  p: Profile,
  agg: Aggregate,
  fn: (path: Uint32Array, len: number, weight: number, tiers: Uint8Array) => void,
): void {
  const hidden = agg.hidden;
  let path = new Uint32Array(64);
  let tiers = new Uint8Array(64);
  for (let k = 0; k < agg.stacks.length; k++) {
    const w = agg.weights[k];
    if (w === 0) continue;
    let depth = 0;
    for (let s = agg.stacks[k]; s !== 0; s = p.stacks.parent[s]) depth++;
    const state = agg.states[k];
    const len = depth + (state !== VmState.JS || depth === 0 ? 1 : 0);
    if (len > path.length) {
      path = new Uint32Array(len * 2);
      tiers = new Uint8Array(len * 2);
    }
    let i = depth - 1;
    for (let s = agg.stacks[k]; s !== 0; s = p.stacks.parent[s]) {
      const fr = p.frames[p.stacks.frame[s] - 1];
      path[i] = fr.function;
      tiers[i] = fr.tier;
      i--;
    }
    if (len > depth) {
      path[depth] = stateFunctionId(p, state);
      tiers[depth] = 0;
    }
    let kept = len;
    if (hidden) {
      kept = 0;
      for (let j = 0; j < len; j++) {
        if (hidden[path[j]] === 1) continue;
        path[kept] = path[j];
        tiers[kept++] = tiers[j];
      }
    }
    fn(path, kept, w, tiers);
  }
}

/** Per-function sums, indexed by function id (length functionIdLimit). */
export interface FunctionTotals {
  /** Weight of samples in which the function appears, counted once per sample (vmprof's "% of snapshots"). */
  total: Float64Array;
  /** Weight of samples in which the function is the leaf. */
  self: Float64Array;
  /** Self weight split by tier: index id * 5 + tier. */
  selfByTier: Float64Array;
  /** Cumulative weight split by the tier the function ran in: index id * 5 + tier, once per sample and tier. */
  totalByTier: Float64Array;
}

/** Cumulative and self weight of every function. */
export function functionTotals(p: Profile, agg: Aggregate): FunctionTotals {
  const n = functionIdLimit(p);
  const total = new Float64Array(n);
  const self = new Float64Array(n);
  const selfByTier = new Float64Array(n * 5);
  const totalByTier = new Float64Array(n * 5);
  const seen = new Int32Array(n).fill(-1);
  const seenTier = new Int32Array(n * 5).fill(-1);
  let stamp = 0;
  forEachPath(p, agg, (path, len, w, tiers) => {
    stamp++;
    for (let i = 0; i < len; i++) {
      const f = path[i];
      if (seen[f] !== stamp) {
        seen[f] = stamp;
        total[f] += w;
      }
      const ft = f * 5 + tiers[i];
      if (seenTier[ft] !== stamp) {
        seenTier[ft] = stamp;
        totalByTier[ft] += w;
      }
    }
    if (len === 0) return;
    const leaf = path[len - 1];
    self[leaf] += w;
    selfByTier[leaf * 5 + tiers[len - 1]] += w;
  });
  return { total, self, selfByTier, totalByTier };
}

/** A function and a weight. */
export interface Weighted {
  function: number;
  weight: number;
}

/** vmprof's function_profile: who calls a function and what it calls. */
export interface FunctionProfile {
  function: number;
  /** Weight of samples through the function (once per sample). */
  total: number;
  /** Weight of samples where it is the leaf. */
  self: number;
  /** Direct callers, heaviest first; function 0 means "called from the root" (no caller). */
  callers: Weighted[];
  /** Direct callees, heaviest first. */
  callees: Weighted[];
}

/** Callers and callees of `fnId`, each counted once per sample. */
export function functionProfile(p: Profile, agg: Aggregate, fnId: number): FunctionProfile {
  const callers = new Map<number, number>();
  const callees = new Map<number, number>();
  let total = 0;
  let self = 0;
  const seenCaller = new Set<number>();
  const seenCallee = new Set<number>();
  forEachPath(p, agg, (path, len, w) => {
    let through = false;
    seenCaller.clear();
    seenCallee.clear();
    for (let i = 0; i < len; i++) {
      if (path[i] !== fnId) continue;
      through = true;
      const caller = i > 0 ? path[i - 1] : 0;
      if (!seenCaller.has(caller)) {
        seenCaller.add(caller);
        callers.set(caller, (callers.get(caller) ?? 0) + w);
      }
      if (i + 1 < len) {
        const callee = path[i + 1];
        if (!seenCallee.has(callee)) {
          seenCallee.add(callee);
          callees.set(callee, (callees.get(callee) ?? 0) + w);
        }
      }
    }
    if (through) total += w;
    if (path[len - 1] === fnId) self += w;
  });
  const sorted = (m: Map<number, number>) =>
    [...m].map(([f, weight]) => ({ function: f, weight })).sort((a, b) => b.weight - a.weight || a.function - b.function);
  return { function: fnId, total, self, callers: sorted(callers), callees: sorted(callees) };
}

/** A node of the function-level call tree. */
export interface TreeNode {
  /** Function id; 0 for the root. */
  function: number;
  /** Weight of samples through this node. */
  total: number;
  /** Weight of samples ending at this node. */
  self: number;
  /** Self weight by tier (index: Tier). */
  selfByTier: Float64Array;
  /** Weight through this node by the tier its own frame ran in (index: Tier). */
  totalByTier: Float64Array;
  /** Children, heaviest first. */
  children: TreeNode[];
}

/** The call tree over functions (frames of one function in different tiers merge). */
export function callTree(p: Profile, agg: Aggregate): TreeNode {
  const mk = (f: number): TreeNode => ({ function: f, total: 0, self: 0, selfByTier: new Float64Array(5), totalByTier: new Float64Array(5), children: [] });
  const root = mk(0);
  const index = new Map<TreeNode, Map<number, TreeNode>>();
  forEachPath(p, agg, (path, len, w, tiers) => {
    let node = root;
    node.total += w;
    for (let i = 0; i < len; i++) {
      let kids = index.get(node);
      if (!kids) index.set(node, (kids = new Map()));
      let next = kids.get(path[i]);
      if (!next) {
        next = mk(path[i]);
        kids.set(path[i], next);
        node.children.push(next);
      }
      node = next;
      node.total += w;
      node.totalByTier[tiers[i]] += w;
    }
    node.self += w;
    if (len > 0) node.selfByTier[tiers[len - 1]] += w;
  });
  const sort = (n: TreeNode): void => {
    n.children.sort((a, b) => b.total - a.total || a.function - b.function);
    n.children.forEach(sort);
  };
  sort(root);
  return root;
}

/**
 * Function ids whose name matches: a RegExp is tested against the name and against
 * "name file:line"; a string must equal the name or "name file:line".
 */
export function findFunctions(p: Profile, pattern: string | RegExp): number[] {
  const out: number[] = [];
  for (let id = 1; id < functionIdLimit(p); id++) {
    const f = functionInfo(p, id);
    const name = functionLabel(f);
    const long = f.file ? `${name} ${f.file}:${f.line}` : name;
    const hit = typeof pattern === "string" ? pattern === name || pattern === long : pattern.test(name) || pattern.test(long);
    if (hit) out.push(id);
  }
  return out;
}

/** Compiles a user's pattern: a regular expression, or SyntaxError with a message naming the flag. */
export function compilePattern(flag: string, pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (e) {
    const why = (e as Error).message.split(": ").pop();
    throw new SyntaxError(`${flag}: "${pattern}" is not a valid regular expression (${why})`);
  }
}
