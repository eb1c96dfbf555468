/**
 * What every exporter starts from: the samples the options select, the weight they are measured in,
 * and the format's sample paths (SamplePaths) under the options' hidden functions.
 */
import {
  SamplePaths,
  defaultWeight,
  hiddenFunctions,
  selectSamples,
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
  /** Only the samples marked 1 here (index: sample index), on top of the selection: one series of several. */
  samples?: Uint8Array;
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
  /** The paths of (stack, state) pairs: function ids root first, hidden functions removed (see SamplePaths). */
  paths: SamplePaths;
}

/** Applies the options' selection, filter and weight. Throws SelectionError for unknown pids or threads. */
export function select(p: Profile, o: ExportOptions = {}): Selected {
  const weight = o.weight ?? defaultWeight(p);
  const keep = selectSamples(p, o.selection, o.filter);
  if (o.samples) for (let i = 0; i < keep.length; i++) keep[i] &= o.samples[i];
  const hidden = hiddenFunctions(p, o.filter);
  const used = new Uint8Array(p.threads.length + 1);
  for (let i = 0; i < keep.length; i++) if (keep[i] === 1) used[p.samples.thread[i]] = 1;
  return { p, weight, column: weightColumn(p, weight), keep, threads: p.threads.filter((t) => used[t.id] === 1), paths: new SamplePaths(p, hidden) };
}

/** "name (pid P, tid T)": how exporters name a thread, and how importers find pid and tid again. */
export function threadTitle(p: Profile, t: ThreadInfo): string {
  return `${t.name || "thread"} (pid ${p.processes[t.process - 1].pid}, tid ${t.tid})`;
}
