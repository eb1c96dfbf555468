/**
 * Labels: key=value pairs a sample carries. A sample's labels are its own label set (SPEC.md LABELS,
 * `samples.labels`) over its process's `label.*` metadata over the profile's (`vmprof-record --label`):
 * a key the sample sets itself wins.
 */
import type { LabelSet, Profile } from "./model.js";

/** The metadata key prefix of profile- and process-level labels. */
export const LABEL_META_PREFIX = "label.";

/**
 * `pairs` as a label set: sorted by key, keys and values as strings. Throws RangeError for an empty
 * key or a key given twice. An empty list is the empty set (stored as label set 0).
 */
export function canonicalLabels(pairs: Iterable<readonly [string, string]>): LabelSet {
  const out = [...pairs].map(([k, v]) => [String(k), String(v)] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = 0; i < out.length; i++) {
    if (out[i][0] === "") throw new RangeError("a label key must not be empty");
    if (i > 0 && out[i][0] === out[i - 1][0]) throw new RangeError(`label key "${out[i][0]}" given twice`);
  }
  return out;
}

/** The labels of a metadata map (`label.NAME` entries with string values), as a Map from NAME. */
function metaLabels(meta: Map<string, unknown>, into: Map<string, string>): void {
  for (const [k, v] of meta) if (k.startsWith(LABEL_META_PREFIX) && typeof v === "string") into.set(k.slice(LABEL_META_PREFIX.length), v);
}

/**
 * The labels of every (process, label set) pair of `p`, computed once each: `of(i)` gives sample i's
 * labels (a Map from key to value; callers must not modify it). Cost per sample: one Map lookup.
 */
export class SampleLabels {
  private readonly base: Map<string, string>[];
  private readonly cache = new Map<number, Map<string, string>>();
  private readonly processOfThread: Uint32Array;

  constructor(private readonly p: Profile) {
    this.base = p.processes.map((pr) => {
      const m = new Map<string, string>();
      metaLabels(p.meta, m);
      metaLabels(pr.meta, m);
      return m;
    });
    this.processOfThread = new Uint32Array(p.threads.length + 1);
    for (const t of p.threads) this.processOfThread[t.id] = t.process;
  }

  /** Sample i's labels. */
  of(i: number): ReadonlyMap<string, string> {
    const process = this.processOfThread[this.p.samples.thread[i]];
    const set = this.p.samples.labels[i];
    const key = set * (this.base.length + 1) + process;
    let m = this.cache.get(key);
    if (!m) {
      m = new Map(process > 0 ? this.base[process - 1] : []);
      if (process === 0) metaLabels(this.p.meta, m);
      for (const [k, v] of set > 0 ? this.p.labelSets[set - 1] : []) m.set(k, v);
      this.cache.set(key, m);
    }
    return m;
  }

  /** True when sample i carries every pair of `want`. */
  matches(i: number, want: LabelSet): boolean {
    const m = this.of(i);
    for (const [k, v] of want) if (m.get(k) !== v) return false;
    return true;
  }
}

/** Every sample's labels (SampleLabels) as one of the profile's few distinct sets. */
export interface EffectiveLabelSets {
  /** The distinct sets, canonical (sorted by key); `sets[0]` is the empty set, whether or not a sample has it. */
  sets: LabelSet[];
  /** Per sample (index: sample index), the index of its labels in `sets`. */
  ids: Uint32Array;
}

/**
 * Each sample's labels (its own set over its process's `label.*` metadata over the profile's) as an
 * index into the distinct sets: what exporters that write labels per sample group by (pprof samples,
 * Pyroscope series). Cost: one Map lookup per sample.
 */
export function effectiveLabelSets(p: Profile): EffectiveLabelSets {
  const labels = new SampleLabels(p);
  const sets: LabelSet[] = [[]];
  const byText = new Map<string, number>([["[]", 0]]);
  // A sample's labels depend on its own set and its process only: one id per (set, process) pair
  // met, looked up in an array (-1: not met yet) unless there are very many pairs.
  const pairs = (p.labelSets.length + 1) * (p.processes.length + 1);
  const dense = pairs <= 1 << 20 ? new Int32Array(pairs).fill(-1) : null;
  const sparse = new Map<number, number>();
  const processOfThread = new Uint32Array(p.threads.length + 1);
  for (const t of p.threads) processOfThread[t.id] = t.process;
  const s = p.samples;
  const ids = new Uint32Array(s.count);
  for (let i = 0; i < s.count; i++) {
    const pair = s.labels[i] * (p.processes.length + 1) + processOfThread[s.thread[i]];
    let id: number | undefined = dense ? dense[pair] : sparse.get(pair);
    if (id === undefined || id < 0) {
      const set = canonicalLabels(labels.of(i));
      const text = JSON.stringify(set);
      id = byText.get(text);
      if (id === undefined) {
        byText.set(text, (id = sets.length));
        sets.push(set);
      }
      if (dense) dense[pair] = id;
      else sparse.set(pair, id);
    }
    ids[i] = id;
  }
  return { sets, ids };
}

/** Every key any sample of `p` carries (its own label sets and the `label.*` metadata), sorted. */
export function labelKeys(p: Profile): string[] {
  const keys = new Set<string>();
  for (const set of p.labelSets) for (const [k] of set) keys.add(k);
  const m = new Map<string, string>();
  metaLabels(p.meta, m);
  for (const pr of p.processes) metaLabels(pr.meta, m);
  for (const k of m.keys()) keys.add(k);
  return [...keys].sort();
}

/** Parses "key=value" (the value may contain "="; the key must not be empty); null when malformed. */
export function parseLabel(text: string): [string, string] | null {
  const eq = text.indexOf("=");
  if (eq <= 0) return null;
  return [text.slice(0, eq), text.slice(eq + 1)];
}
