/**
 * Aggregation: the selected samples summed by distinct (stack, state) under a weight, the input of
 * every table (tables.ts), and the walk over an aggregate's paths.
 */
import { VmState } from "./constants.js";
import { pathKey, pathKeyStack, pathKeyState } from "./keys.js";
import { metaValue, type Profile } from "./model.js";
import { SamplePaths } from "./paths.js";
import { hiddenFunctions, selectSamples, type PathFilter, type Selection } from "./select.js";

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
