/**
 * What every exporter starts from: the samples the options select, the weight they are measured in,
 * and each (stack, state)'s path of function ids with hidden functions removed.
 */
import {
  VmState,
  defaultWeight,
  hiddenFunctions,
  selectSamples,
  stateFunctionId,
  weightColumn,
  type PathFilter,
  type Profile,
  type Selection,
  type ThreadInfo,
  type Weight,
} from "@vmprof/format";

/** Options every exporter takes. */
export interface ExportOptions {
  /** What a sample weighs; default: the recording's mode (cpu, wall, or samples). */
  weight?: Weight;
  /** Which processes, threads and time range. */
  selection?: Selection;
  /** Focus, ignore, hide, and hiding Node's internals. */
  filter?: PathFilter;
  /** Called now and then with the fraction (0..1) of the work done. */
  onProgress?: (fraction: number) => void;
}

/** The selected samples of a profile, ready to export. */
export interface Selected {
  p: Profile;
  weight: Weight;
  /** The weight column (µs), or null when a sample weighs 1. */
  column: Uint32Array | null;
  /** 1 for each kept sample (index: sample index). */
  keep: Uint8Array;
  /** Threads with at least one kept sample, in profile order. */
  threads: ThreadInfo[];
  /**
   * The path of a (stack, state): function ids root first, a VM-state pseudo-function as the leaf
   * unless the sample ran JS with frames, hidden functions removed. Cached; do not modify.
   */
  path(stack: number, state: number): Uint32Array;
}

/** Applies the options' selection, filter and weight. Throws SelectionError for unknown pids or threads. */
export function select(p: Profile, o: ExportOptions = {}): Selected {
  const weight = o.weight ?? defaultWeight(p);
  const keep = selectSamples(p, o.selection, o.filter);
  const hidden = hiddenFunctions(p, o.filter);
  const used = new Uint8Array(p.threads.length + 1);
  for (let i = 0; i < keep.length; i++) if (keep[i] === 1) used[p.samples.thread[i]] = 1;
  const cache = new Map<number, Uint32Array>();
  const path = (stack: number, state: number): Uint32Array => {
    const key = stack * 8 + state;
    let out = cache.get(key);
    if (out) return out;
    const ids: number[] = [];
    for (let s = stack; s !== 0; s = p.stacks.parent[s]) ids.push(p.frames[p.stacks.frame[s] - 1].function);
    ids.reverse();
    if (state !== VmState.JS || stack === 0) ids.push(stateFunctionId(p, state));
    out = Uint32Array.from(hidden ? ids.filter((id) => hidden[id] !== 1) : ids);
    cache.set(key, out);
    return out;
  };
  return { p, weight, column: weightColumn(p, weight), keep, threads: p.threads.filter((t) => used[t.id] === 1), path };
}

/** "name (pid P, tid T)": how exporters name a thread, and how importers find pid and tid again. */
export function threadTitle(p: Profile, t: ThreadInfo): string {
  return `${t.name || "thread"} (pid ${p.processes[t.process - 1].pid}, tid ${t.tid})`;
}
