/**
 * Aggregation: the selected samples summed by distinct (stack, state) under a weight, the input of
 * every table (tables.ts), and the walk over an aggregate's paths.
 */
import { VmState } from "./constants.js";
import { pathKey, pathKeyStack, pathKeyState } from "./keys.js";
import { metaValue, type Profile } from "./model.js";
import { SamplePaths } from "./paths.js";
import { hiddenFunctions, selectSamples, selectThreads, type PathFilter, type Selection } from "./select.js";

/** What a sample weighs: 1 per sample, its CPU µs, or its wall-clock µs. */
export type Weight = "samples" | "cpu" | "wall";

/** The weight that fits the recording: CPU time for a cpu-mode profile, wall time for wall mode, else samples. */
export function defaultWeight(p: Profile): Weight {
  const mode = metaValue(p, "mode");
  return mode === "cpu" ? "cpu" : mode === "wall" ? "wall" : "samples";
}

/** The weight column of a sample-weighing choice: CPU or wall µs, or null for 1 per sample. */
export function weightColumn(p: Profile, weight: Weight): Uint32Array | null {
  return weight === "cpu" ? p.samples.cpu : weight === "wall" ? p.samples.wall : null;
}

/** The selected samples summed by distinct (stack, state). */
export interface Aggregate {
  weight: Weight;
  /** Number of samples selected. */
  samples: number;
  /** Their total weight (samples, or µs). */
  total: number;
  /** The paths of this aggregate's entries (hidden functions removed). */
  paths: SamplePaths;
  /** Distinct (stack, state) pairs with their weight; parallel arrays of equal length. */
  stacks: Uint32Array;
  states: Uint8Array;
  weights: Float64Array;
  /** Number of samples behind each entry's weight. */
  counts: Float64Array;
}

/** Sums the selected samples under a weight, after the filter's focus and ignore. Throws SelectionError. */
export function aggregate(p: Profile, opts: { weight?: Weight; selection?: Selection; filter?: PathFilter } = {}): Aggregate {
  const weight = opts.weight ?? "samples";
  const keep = selectSamples(p, opts.selection, opts.filter);
  const s = p.samples;
  const col = weightColumn(p, weight);
  // JS samples with frames (nearly all) sum in dense arrays by stack; the others by pathKey.
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
      const key = pathKey(st, state);
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
    stacks.push(pathKeyStack(key));
    states.push(pathKeyState(key));
    weights.push(w);
    counts.push(c);
  }
  return {
    weight,
    samples: n,
    total,
    paths: new SamplePaths(p, hiddenFunctions(p, opts.filter)),
    stacks: Uint32Array.from(stacks),
    states: Uint8Array.from(states),
    weights: Float64Array.from(weights),
    counts: Float64Array.from(counts),
  };
}

/**
 * The selected samples split into groups, in one pass whatever the number of groups: `group[i]`
 * (index: sample index) is sample i's group, 0 .. `groups` - 1, and element g of the result is the
 * aggregate of the selected samples of group g, equal to `aggregate` over them alone (entries in the
 * same order). The aggregates share one SamplePaths. Throws SelectionError as aggregate does.
 */
export function aggregateGroups(
  p: Profile,
  group: ArrayLike<number>,
  groups: number,
  opts: { weight?: Weight; selection?: Selection; filter?: PathFilter } = {},
): Aggregate[] {
  const weight = opts.weight ?? "samples";
  const keep = selectSamples(p, opts.selection, opts.filter);
  const s = p.samples;
  const col = weightColumn(p, weight);
  const sums = Array.from({ length: groups }, () => ({ samples: 0, total: 0, byKey: new Map<number, [number, number]>() }));
  for (let i = 0; i < s.count; i++) {
    if (keep[i] === 0) continue;
    const g = sums[group[i]];
    if (g === undefined) throw new RangeError(`aggregateGroups: sample ${i} is in group ${group[i]}, not in 0..${groups - 1}`);
    const w = col === null ? 1 : col[i];
    g.samples++;
    g.total += w;
    const key = pathKey(s.stack[i], s.state[i]);
    const o = g.byKey.get(key);
    if (o) {
      o[0] += w;
      o[1]++;
    } else g.byKey.set(key, [w, 1]);
  }
  const paths = new SamplePaths(p, hiddenFunctions(p, opts.filter));
  return sums.map((g) => fromSums(weight, g.samples, g.total, paths, g.byKey));
}

/**
 * An Aggregate from weight and sample count by pathKey, its entries in aggregate's order: JS samples
 * with frames by stack, then the others by key.
 */
function fromSums(weight: Weight, samples: number, total: number, paths: SamplePaths, sums: Map<number, [number, number]>): Aggregate {
  const keys = [...sums.keys()];
  const js = keys.filter((k) => pathKeyState(k) === VmState.JS && pathKeyStack(k) !== 0).sort((a, b) => a - b);
  const other = keys.filter((k) => pathKeyState(k) !== VmState.JS || pathKeyStack(k) === 0).sort((a, b) => a - b);
  const order = js.concat(other);
  const out: Aggregate = {
    weight,
    samples,
    total,
    paths,
    stacks: new Uint32Array(order.length),
    states: new Uint8Array(order.length),
    weights: new Float64Array(order.length),
    counts: new Float64Array(order.length),
  };
  order.forEach((key, k) => {
    const [w, c] = sums.get(key)!;
    out.stacks[k] = pathKeyStack(key);
    out.states[k] = pathKeyState(key);
    out.weights[k] = w;
    out.counts[k] = c;
  });
  return out;
}

/**
 * Calls `fn` for each aggregate entry of non-zero weight or count with its path (SamplePaths: root
 * first, state leaf, hidden functions removed, so it may be empty), its weight and its sample count,
 * and the path's tiers and frame ids (SamplePath). The arrays are shared: copy them to keep them.
 */
export function forEachPath(
  agg: Aggregate,
  fn: (functions: Uint32Array, weight: number, count: number, tiers: Uint8Array, frames: Uint32Array) => void,
): void {
  for (let k = 0; k < agg.stacks.length; k++) {
    const w = agg.weights[k];
    const c = agg.counts[k];
    if (w === 0 && c === 0) continue;
    const path = agg.paths.get(agg.stacks[k], agg.states[k]);
    fn(path.functions, w, c, path.tiers, path.frames);
  }
}

/**
 * The aggregate of a profile that grows (successive ProfileDecoder snapshots of one input): each
 * `update` adds only the samples that arrived since the previous one to running sums, and keeps the
 * paths computed before (SamplePaths.grown), so a live view's redraw costs the new samples and the
 * table, not the whole profile again. The selection and filter are fixed for its life; a time range
 * that moves (a live window) needs `aggregate` on each snapshot instead.
 */
export class RunningAggregate {
  /** Samples [0, seen) of the profile are in the sums. */
  private seen = 0;
  private samples = 0;
  private total = 0;
  /** Weight and sample count by pathKey(stack, state). */
  private readonly sums = new Map<number, [number, number]>();
  private paths?: SamplePaths;

  constructor(readonly opts: { weight?: Weight; selection?: Selection; filter?: PathFilter } = {}) {}

  /**
   * The aggregate of every sample of `p`, a snapshot of the same growing profile as the previous
   * calls (with at least as many samples), under the options; equal to `aggregate(p, opts)`. Throws
   * SelectionError as aggregate does (a process or thread `p` does not have yet).
   */
  update(p: Profile): Aggregate {
    const weight = this.opts.weight ?? "samples";
    const s = p.samples;
    if (s.count < this.seen) throw new RangeError(`RunningAggregate: the profile has ${s.count} samples, fewer than the ${this.seen} already added`);
    selectThreads(p, this.opts.selection); // a process or thread not (yet) in p: SelectionError, as aggregate
    if (s.count > this.seen) {
      const at = this.seen;
      const cut = <T extends Uint32Array | Float64Array | Uint8Array>(a: T) => a.subarray(at, s.count) as T;
      const fresh: Profile = {
        ...p,
        samples: { count: s.count - at, thread: cut(s.thread), time: cut(s.time), wall: cut(s.wall), cpu: cut(s.cpu), state: cut(s.state), stack: cut(s.stack), labels: cut(s.labels) },
      };
      const add = aggregate(fresh, { ...this.opts, weight });
      for (let k = 0; k < add.stacks.length; k++) {
        const key = pathKey(add.stacks[k], add.states[k]);
        const sum = this.sums.get(key);
        if (sum) {
          sum[0] += add.weights[k];
          sum[1] += add.counts[k];
        } else this.sums.set(key, [add.weights[k], add.counts[k]]);
      }
      this.samples += add.samples;
      this.total += add.total;
      this.seen = s.count;
    }
    const hidden = hiddenFunctions(p, this.opts.filter);
    this.paths = this.paths ? this.paths.grown(p, hidden) : new SamplePaths(p, hidden);
    return fromSums(weight, this.samples, this.total, this.paths, this.sums);
  }
}
