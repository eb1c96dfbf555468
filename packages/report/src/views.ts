/**
 * The data of every view of vmprof-report, computed from the model with the format package's queries.
 * Each view returns a plain object: it is the `--json` output as it is (documented in README.md), and
 * what text.ts renders. Percentages are of the selected samples' total weight (0-100); weights are in
 * the unit of the chosen weight (samples, or µs of CPU or wall-clock time).
 */
import {
  Tier,
  aggregate,
  aggregateGroups,
  baseSelection,
  callTree,
  defaultWeight,
  effectiveLabelSets,
  findFunctions,
  functionInfo,
  functionKindName,
  functionLabel,
  functionChanges,
  functionProfile,
  functionTable,
  hasLinePositions,
  isStateFunction,
  lineAggregate,
  lineProfile,
  metaValue,
  tierKey,
  threadTable,
  type Aggregate,
  type FunctionChange,
  type FunctionKindName,
  type PathFilter,
  type Profile,
  type Selection,
  type ThreadRow,
  type TreeNode,
  type Weight,
} from "@vmprof/format";
import { diskSource, sourceLines, type SourceReader } from "./source.js";

/** Which samples a view looks at, and what they weigh. */
export interface ViewOptions {
  /** Default: defaultWeight(profile). */
  weight?: Weight;
  selection?: Selection;
  filter?: PathFilter;
  /**
   * --by-line: lines are the unit of the tables (--top, --flat, --tree, --function, --diff): a row is
   * a function at one line, its `file` and `line` the position it ran at (for a function whose line is
   * unknown, one row: the function as defined). Ignored by --lines and --source.
   */
  byLine?: boolean;
  /**
   * --by-label KEY: --top and --flat split their rows by the value of label KEY (a sample's own, its
   * process's or the profile's; see ByLabel). Ignored by the other views.
   */
  byLabel?: string;
  /**
   * The selected samples already aggregated under `weight`, `selection` and `filter` (a live view's
   * RunningAggregate); the view then does not aggregate the profile again. Its weight wins.
   */
  aggregate?: Aggregate;
}

/** What a view refuses to show from this profile (no line positions, no matching function): one line, exit 2. */
export class ViewError extends Error {
  override readonly name = "ViewError";
}

/** What identifies a function in a view: its name and where it is defined. */
export interface FunctionRef {
  /** Function id in the profile (VM states have ids after the real functions). */
  id: number;
  /** Name; "(anonymous)" for anonymous functions, "(garbage collector)", "(idle)"... for VM states. */
  name: string;
  /** Script path or URL; "" when unknown (VM states, builtins). */
  file: string;
  /** 1-based line of the definition; 0 when unknown. */
  line: number;
  /** "js", "native", "builtin", "state" (a VM state) or "other". */
  kind: FunctionKindName;
}

/**
 * Share of a JS function's time by the tier that ran it, in percent of its cumulative weight; they sum
 * to 100 (a sample with the function more than once counts for the tier of its innermost frame).
 */
export interface Tiers {
  interpreted: number;
  baseline: number;
  maglev: number;
  optimized: number;
}

/** A row's shares of the selected total: of a function (--top, --flat) or of one of its lines (--lines). */
export interface Shares {
  /** Cumulative share: samples with it anywhere on the stack, each counted once. */
  totalPercent: number;
  /** Self share: samples with it as the leaf. */
  selfPercent: number;
  /** Number of samples (not weighted) behind totalPercent and selfPercent. */
  totalSamples: number;
  selfSamples: number;
  /** Weights behind them in the unit of `weight`. */
  totalWeight: number;
  selfWeight: number;
}

/** One function of --top or --flat. */
export interface FunctionRow extends FunctionRef, Shares {
  /** JS functions only: how its time splits across tiers. */
  tiers?: Tiers;
  /**
   * --by-label KEY only: the value of KEY in this row's samples, null for the samples without KEY.
   * The row's shares are then of those samples, as percentages of the whole selection.
   */
  labelValue?: string | null;
}

/** --by-label KEY: the selection split by the value of label KEY. */
export interface ByLabel {
  key: string;
  /** One group per value, heaviest first (then by samples, then by value, the group without KEY last). */
  groups: LabelGroup[];
}

/** The selected samples with one value of the --by-label key. */
export interface LabelGroup {
  /** The value; null for the samples that do not carry the key. */
  value: string | null;
  /** Share of the selected total (0-100), and the samples and weight behind it. */
  percent: number;
  samples: number;
  weight: number;
  /** Functions of this group left out by the limit (which applies per group). */
  omitted: number;
}

/** The facts about the profile and the selection that every view prints. */
export interface Summary {
  /** Where the profile was read from. */
  source: string;
  /** The recorded command line, when stored. */
  command?: string[];
  /** Seconds from the first to the last selected sample. */
  durationSeconds: number;
  /** Samples selected (after --pid/--tid/--from/--to/--focus/--ignore). */
  samples: number;
  /** Samples in the whole profile. */
  profileSamples: number;
  /** Samples per second: of CPU time in cpu mode, of each thread's elapsed time otherwise. */
  rate: number;
  rateBasis: "cpu" | "elapsed";
  /** Samples the sampler lost (profile metadata); 0 when not recorded. */
  droppedSamples: number;
  /** The same by reason (`dropped.<reason>` metadata: ring_full, pending, late...), those above 0; absent when none. */
  droppedByReason?: Record<string, number>;
  /** Recording mode ("cpu" or "wall"), "" when unknown. */
  mode: string;
  /** Requested sampling period in µs; 0 when unknown. */
  periodUs: number;
  weight: Weight;
  /** Total weight of the selected samples. */
  totalWeight: number;
  /** Present when the profile ended early: the reader's message. */
  truncated?: string;
  /** Present (true) when rows are lines (--by-line): their file and line are where the function ran. */
  byLine?: true;
  /** Present when rows are split by a label's value (--by-label KEY): the key. */
  byLabel?: string;
  /** The processes' threads the selection covers (by process, thread and time), in profile order. */
  threads: ThreadSummary[];
}

/** One thread a view covers. */
export interface ThreadSummary {
  /** OS process id, and its parent's (0 when unknown). */
  pid: number;
  parent: number;
  /** OS thread id. */
  tid: number;
  name: string;
  /** Selected samples of the thread. */
  samples: number;
  /** Seconds from the start of its first selected sample's interval to its last selected sample. */
  durationSeconds: number;
}

/** --threads: the processes and threads the selection covers. */
export interface ThreadsView {
  view: "threads";
  summary: Summary;
  samples: number;
  threads: ThreadSummary[];
}

/** --top: vmprof's table, cumulative share per function, highest first. */
export interface TopView {
  view: "top";
  summary: Summary;
  /** Functions with samples left out by the limit (with --by-label, summed over the groups). */
  omitted: number;
  /** The count of samples used (as summary.samples). */
  samples: number;
  /** Highest first; with --by-label, group by group (in byLabel.groups' order), highest first in each. */
  functions: FunctionRow[];
  /** Present with --by-label KEY. */
  byLabel?: ByLabel;
}

/** --flat: self and total per function, highest self first. */
export interface FlatView {
  view: "flat";
  summary: Summary;
  /** Functions with samples left out by the limit (with --by-label, summed over the groups). */
  omitted: number;
  samples: number;
  /** Highest self first; with --by-label, group by group as in TopView. */
  functions: FunctionRow[];
  /** Present with --by-label KEY. */
  byLabel?: ByLabel;
}

/** A node of --tree. */
export interface TreeRow extends FunctionRef {
  /** Share of the selected total. */
  totalPercent: number;
  /** Share of its parent's total (100 for the top level). */
  parentPercent: number;
  selfPercent: number;
  totalSamples: number;
  totalWeight: number;
  tiers?: Tiers;
  children: TreeRow[];
}

/** --tree: the call tree, pruned. */
export interface TreeView {
  view: "tree";
  summary: Summary;
  samples: number;
  minPercent: number;
  /** Deepest level shown (1 = the roots); 0 for unlimited. */
  depth: number;
  roots: TreeRow[];
}

/** A caller or callee of a function. */
export interface Neighbour extends FunctionRef {
  /** Share of the selected total through this edge. */
  percent: number;
  /** Share of the function's own cumulative weight. */
  ofFunctionPercent: number;
  samples: number;
  weight: number;
}

/** One function of --function. */
export interface FunctionEntry extends FunctionRef {
  totalPercent: number;
  selfPercent: number;
  totalSamples: number;
  selfSamples: number;
  /** Direct callers, heaviest first; "(root)" (id 0) when the function starts a stack. */
  callers: Neighbour[];
  /** Direct callees, heaviest first. */
  callees: Neighbour[];
}

/** --function PATTERN: callers and callees of each matching function. */
export interface FunctionView {
  view: "function";
  summary: Summary;
  samples: number;
  pattern: string;
  functions: FunctionEntry[];
}

/** One function of --diff: its shares in the base and in this profile (format's FunctionChange). */
export type DiffRow = FunctionChange;

/** --diff BASE: change in share per function, largest change first. */
export interface DiffView {
  view: "diff";
  summary: Summary;
  base: Summary;
  samples: number;
  functions: DiffRow[];
}

/** One line of a function in --lines and --source. Percentages are of the selected total. */
export interface LineRow extends Shares {
  /** 1-based line; 0 for the function's samples whose line is unknown. Its shares: samples with the function on the stack at this line (once per sample), and those ending there. */
  line: number;
  /** The line's text (no line end), when the file could be read. */
  text?: string;
}

/** A function's lines in one file (its own, or another that code was inlined or mapped from). */
export interface FileLines {
  file: string;
  /** False when the file could not be read: no text, and --source shows only the sampled lines. */
  readable: boolean;
  /** Ascending by line (line 0 first). --lines: the sampled lines; --source: its span, sampled or not. */
  lines: LineRow[];
}

/** One function of --lines and --source. */
export interface LinesEntry extends FunctionRef {
  totalPercent: number;
  selfPercent: number;
  totalSamples: number;
  selfSamples: number;
  /** Its own file first, then the others by name. */
  files: FileLines[];
}

/** --lines [PATTERN]: per function (the top ones by total, or those matching), its sampled lines. */
export interface LinesView {
  view: "lines";
  summary: Summary;
  samples: number;
  /** The pattern given, absent for the top functions. */
  pattern?: string;
  /** Functions left out by the limit. */
  omitted: number;
  functions: LinesEntry[];
}

/** --source REGEX: each matching function's source with the share of each line. */
export interface SourceView {
  view: "source";
  summary: Summary;
  samples: number;
  pattern: string;
  /** Lines of context shown around the function's sampled lines. */
  context: number;
  omitted: number;
  functions: LinesEntry[];
}

export type View = TopView | FlatView | TreeView | FunctionView | DiffView | ThreadsView | LinesView | SourceView;

/** The selected samples under the options, and the summary of the selection. */
interface Prepared {
  p: Profile;
  agg: Aggregate;
  summary: Summary;
}

/** The selection aggregated; with `byLine`, over the line profile (the summary is the same either way). */
function prepare(p: Profile, o: ViewOptions): Prepared {
  const agg = o.aggregate ?? aggregate(p, { weight: o.weight ?? defaultWeight(p), selection: o.selection, filter: o.filter });
  const summary = summarize(p, agg, o);
  if (!o.byLine) return { p, agg, summary };
  const lp = lineProfile(p);
  return { p: lp.profile, agg: lineAggregate(agg, lp), summary: { ...summary, byLine: true } };
}

/** Duration, rate, threads and the recording's facts for the selected samples. */
export function summarize(p: Profile, agg: Aggregate, o: ViewOptions = {}): Summary {
  const threads = threadTable(p, o.selection);
  let selected = 0;
  let cpuUs = 0;
  let elapsedUs = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of threads) {
    if (t.samples === 0) continue;
    selected += t.samples;
    cpuUs += t.cpuUs;
    elapsedUs += t.durationUs;
    lo = Math.min(lo, t.startUs);
    hi = Math.max(hi, t.endUs);
  }
  const mode = String(metaValue(p, "mode") ?? "");
  const cpuBasis = mode === "cpu" && cpuUs > 0;
  const command = metaValue(p, "command") ?? metaValue(p, "argv");
  let dropped = 0;
  const top = p.meta.get("dropped_samples");
  if (typeof top === "number") dropped = top;
  else for (const pr of p.processes) dropped += Number(pr.meta.get("dropped_samples") ?? 0);
  const droppedByReason: Record<string, number> = {};
  for (const meta of [p.meta, ...p.processes.map((pr) => pr.meta)]) {
    for (const [k, v] of meta) {
      if (!k.startsWith("dropped.") || typeof v !== "number" || v <= 0) continue;
      const reason = k.slice("dropped.".length);
      droppedByReason[reason] = (droppedByReason[reason] ?? 0) + v;
    }
  }
  const summary: Summary = {
    source: p.source,
    durationSeconds: hi > lo ? (hi - lo) / 1e6 : 0,
    samples: agg.samples,
    profileSamples: p.samples.count,
    rate: cpuBasis ? selected / (cpuUs / 1e6) : elapsedUs > 0 ? selected / (elapsedUs / 1e6) : 0,
    rateBasis: cpuBasis ? "cpu" : "elapsed",
    droppedSamples: dropped,
    mode,
    periodUs: Number(metaValue(p, "period_us") ?? 0),
    weight: agg.weight,
    totalWeight: agg.total,
    threads: threads.map(threadSummary),
  };
  if (Object.keys(droppedByReason).length > 0) summary.droppedByReason = droppedByReason;
  if (Array.isArray(command)) summary.command = command;
  if (p.truncation) summary.truncated = p.truncation.message;
  return summary;
}

function threadSummary(t: ThreadRow): ThreadSummary {
  return { pid: t.pid, parent: t.parent, tid: t.tid, name: t.name, samples: t.samples, durationSeconds: t.durationUs / 1e6 };
}

function ref(p: Profile, id: number): FunctionRef {
  const f = functionInfo(p, id);
  return { id, name: id === 0 ? "(root)" : functionLabel(f), file: f.file, line: f.line, kind: functionKindName(p, id) };
}

const pct = (w: number, total: number) => (total > 0 ? (100 * w) / total : 0);

function tiersOf(byTier: ArrayLike<number>, total: number, at = 0): Tiers {
  return {
    interpreted: pct(byTier[at + Tier.INTERPRETED], total),
    baseline: pct(byTier[at + Tier.BASELINE], total),
    maglev: pct(byTier[at + Tier.MAGLEV], total),
    optimized: pct(byTier[at + Tier.OPTIMIZED], total),
  };
}

/** The table's rows; percentages of `of`, the selected total (agg's own unless it is one --by-label group). */
function rows(x: Pick<Prepared, "p" | "agg">, limit: number | undefined, order: "total" | "self", of = x.agg.total): { functions: FunctionRow[]; omitted: number } {
  const { p, agg } = x;
  const t = functionTable(p, agg, order);
  const shown = t.ids.slice(0, limit ?? t.ids.length).map((id) => {
    const row: FunctionRow = {
      ...ref(p, id),
      totalPercent: pct(t.total[id], of),
      selfPercent: pct(t.self[id], of),
      totalSamples: t.totalCount[id],
      selfSamples: t.selfCount[id],
      totalWeight: t.total[id],
      selfWeight: t.self[id],
    };
    if (row.kind === "js" && t.total[id] > 0) row.tiers = tiersOf(t.totalByTier, t.total[id], tierKey(id, 0));
    return row;
  });
  return { functions: shown, omitted: t.ids.length - shown.length };
}

/**
 * --by-label KEY: the rows of each value's samples (at most `limit` per value), percentages of the
 * whole selection, so a function's total shares over the groups add up to its share without the split.
 */
function labelRows(p: Profile, o: ViewOptions, x: Prepared, key: string, limit: number | undefined, order: "total" | "self") {
  // Each sample's value of KEY, as an index into `values`, through its effective label set.
  const { sets, ids } = effectiveLabelSets(p);
  const values: (string | null)[] = [];
  const index = new Map<string | null, number>();
  const groupOfSet = sets.map((set) => {
    const value = set.find(([k]) => k === key)?.[1] ?? null;
    let g = index.get(value);
    if (g === undefined) index.set(value, (g = values.push(value) - 1));
    return g;
  });
  const group = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) group[i] = groupOfSet[ids[i]];
  const weight = o.weight ?? defaultWeight(p);
  const lp = o.byLine ? lineProfile(p) : undefined;
  const groups = aggregateGroups(p, group, values.length, { weight, selection: o.selection, filter: o.filter })
    .map((agg, g) => ({ value: values[g], agg: lp ? lineAggregate(agg, lp) : agg }))
    .filter((g) => g.agg.samples > 0)
    .sort((a, b) => b.agg.total - a.agg.total || b.agg.samples - a.agg.samples || byValue(a.value, b.value));
  const functions: FunctionRow[] = [];
  const out: LabelGroup[] = [];
  for (const g of groups) {
    const r = rows({ p: x.p, agg: g.agg }, limit, order, x.agg.total);
    for (const row of r.functions) functions.push({ ...row, labelValue: g.value });
    out.push({ value: g.value, percent: pct(g.agg.total, x.agg.total), samples: g.agg.samples, weight: g.agg.total, omitted: r.omitted });
  }
  return { functions, omitted: out.reduce((n, g) => n + g.omitted, 0), byLabel: { key, groups: out } };
}

/** Values in code-point order, null (no value) last. */
function byValue(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/** The rows of --top or --flat: the table's, or with --by-label each value's. */
function tableRows(p: Profile, o: ViewOptions & { limit?: number }, order: "total" | "self") {
  const x = prepare(p, o.byLabel !== undefined ? { ...o, aggregate: undefined } : o);
  if (o.byLabel === undefined) return { summary: x.summary, samples: x.agg.samples, ...rows(x, o.limit, order) };
  return { summary: { ...x.summary, byLabel: o.byLabel }, samples: x.agg.samples, ...labelRows(p, o, x, o.byLabel, o.limit, order) };
}

/** --top: every function's cumulative share, highest first (at most `limit` rows; with --by-label, per value). */
export function topView(p: Profile, o: ViewOptions & { limit?: number } = {}): TopView {
  return { view: "top", ...tableRows(p, o, "total") };
}

/** --flat: every function's self and cumulative share, highest self first (with --by-label, per value). */
export function flatView(p: Profile, o: ViewOptions & { limit?: number } = {}): FlatView {
  return { view: "flat", ...tableRows(p, o, "self") };
}

/** --threads: the processes and threads the selection covers, with their samples and duration. */
export function threadsView(p: Profile, o: ViewOptions = {}): ThreadsView {
  const x = prepare(p, o);
  return { view: "threads", summary: x.summary, samples: x.agg.samples, threads: x.summary.threads };
}

/**
 * --tree: the function call tree; nodes under `minPercent` of the total are pruned, and levels below
 * `depth` (when > 0) are cut. `limit` caps the children shown per node.
 */
export function treeView(p: Profile, o: ViewOptions & { minPercent?: number; depth?: number; limit?: number } = {}): TreeView {
  const x = prepare(p, o);
  const minPercent = o.minPercent ?? 1;
  const depth = o.depth ?? 0;
  const root = callTree(x.agg);
  const convert = (n: TreeNode, parentTotal: number, level: number): TreeRow => {
    const row: TreeRow = {
      ...ref(x.p, n.function),
      totalPercent: pct(n.total, x.agg.total),
      parentPercent: pct(n.total, parentTotal),
      selfPercent: pct(n.self, x.agg.total),
      totalSamples: n.totalCount,
      totalWeight: n.total,
      children: [],
    };
    if (row.kind === "js" && n.total > 0) row.tiers = tiersOf(n.totalByTier, n.total);
    if (depth > 0 && level >= depth) return row;
    // A node whose samples all weigh nothing is not shown, even at --min-percent 0.
    const kids = n.children.filter((k) => k.total > 0 && pct(k.total, x.agg.total) >= minPercent);
    for (const k of kids.slice(0, o.limit ?? kids.length)) row.children.push(convert(k, n.total, level + 1));
    return row;
  };
  const roots = convert(root, root.total, 0).children;
  return { view: "tree", summary: x.summary, samples: x.agg.samples, minPercent, depth, roots };
}

/** --function PATTERN: for each function whose name (or "name file:line") matches, its callers and callees. */
export function functionView(p: Profile, pattern: RegExp, o: ViewOptions & { limit?: number } = {}): FunctionView {
  const x = prepare(p, o);
  const t = functionTable(x.p, x.agg);
  const ids = findFunctions(x.p, pattern)
    .filter((id) => t.total[id] > 0)
    .sort((a, b) => t.total[b] - t.total[a] || a - b);
  const functions = ids.slice(0, o.limit ?? ids.length).map((id): FunctionEntry => {
    const fp = functionProfile(x.p, x.agg, id);
    const neighbours = (list: typeof fp.callers): Neighbour[] =>
      list.map((e) => ({
        ...ref(x.p, e.function),
        percent: pct(e.weight, x.agg.total),
        ofFunctionPercent: pct(e.weight, fp.total),
        samples: e.count,
        weight: e.weight,
      }));
    return {
      ...ref(x.p, id),
      totalPercent: pct(fp.total, x.agg.total),
      selfPercent: pct(fp.self, x.agg.total),
      totalSamples: fp.totalCount,
      selfSamples: fp.selfCount,
      callers: neighbours(fp.callers),
      callees: neighbours(fp.callees),
    };
  });
  return { view: "function", summary: x.summary, samples: x.agg.samples, pattern: pattern.source, functions };
}

/**
 * --diff: the change in cumulative and self share per function between `base` and `p`, largest
 * absolute change in cumulative share first (format's functionChanges). Functions are matched by
 * kind, name, file and line; with `byLine`, by line in both profiles.
 */
export function diffView(p: Profile, base: Profile, o: ViewOptions & { limit?: number } = {}): DiffView {
  const weight = o.weight ?? defaultWeight(p);
  const now = prepare(p, { ...o, weight });
  // The base is read whole under the same weight and filter, its selection by time only (baseSelection).
  const was = prepare(base, { weight, filter: o.filter, selection: baseSelection(o.selection), byLine: o.byLine });
  const all = functionChanges(now.p, now.agg, was.p, was.agg);
  return { view: "diff", summary: now.summary, base: was.summary, samples: now.agg.samples, functions: all.slice(0, o.limit ?? all.length) };
}

/** Options of --lines and --source. */
export interface LinesOptions extends ViewOptions {
  /** Functions shown (the top ones, or the heaviest matches); default all. */
  limit?: number;
  /**
   * Gives a file's text by the name frames give it; default: read from disk, relative paths against
   * the profile's `cwd` metadata (diskSource). A source-map reader can serve sourcesContent here.
   */
  readSource?: SourceReader;
}

/** Lines of context --source shows before and after a function's sampled lines. */
export const SOURCE_CONTEXT = 3;

/**
 * The functions `pick` chooses (from the function table, heaviest first) with their lines, each
 * file's lines listed by `list` (the sampled rows, and the file's text when readable).
 */
function lineEntries(
  p: Profile,
  o: LinesOptions,
  pick: (ids: number[], hasLines: Set<number>) => number[],
  list: (rows: LineRow[], text: string[] | undefined, fn: FunctionRef, file: string) => LineRow[],
): { x: Prepared; functions: LinesEntry[]; omitted: number } {
  if (!hasLinePositions(p)) throw new ViewError(`${p.source} has no line positions (recorded with --no-lines, or before format 1.1?)`);
  const x = prepare(p, { ...o, byLine: false });
  const t = functionTable(p, x.agg);
  const lp = lineProfile(p);
  const lt = functionTable(lp.profile, lineAggregate(x.agg, lp));
  const units = new Map<number, number[]>();
  for (const u of lt.ids) {
    const fn = lp.origin[u];
    if (isStateFunction(p, fn)) continue;
    let us = units.get(fn);
    if (!us) units.set(fn, (us = []));
    us.push(u);
  }
  const hasLines = new Set([...units].filter(([, us]) => us.some((u) => lp.line[u] > 0)).map(([fn]) => fn));
  const ids = pick(t.ids.filter((id) => units.has(id)), hasLines);
  const shown = ids.slice(0, o.limit ?? ids.length);
  const text = sourceLines(o.readSource ?? diskSource(String(metaValue(p, "cwd") ?? "") || undefined));
  const functions = shown.map((id): LinesEntry => {
    const fn = ref(p, id);
    const byFile = new Map<string, LineRow[]>();
    for (const u of units.get(id)!) {
      const file = lp.profile.functions[u - 1].file;
      if (!byFile.has(file)) byFile.set(file, []);
      byFile.get(file)!.push({
        line: lp.line[u],
        totalPercent: pct(lt.total[u], x.agg.total),
        selfPercent: pct(lt.self[u], x.agg.total),
        totalSamples: lt.totalCount[u],
        selfSamples: lt.selfCount[u],
        totalWeight: lt.total[u],
        selfWeight: lt.self[u],
      });
    }
    const files = [...byFile.keys()].sort((a, b) => Number(b === fn.file) - Number(a === fn.file) || a.localeCompare(b));
    return {
      ...fn,
      totalPercent: pct(t.total[id], x.agg.total),
      selfPercent: pct(t.self[id], x.agg.total),
      totalSamples: t.totalCount[id],
      selfSamples: t.selfCount[id],
      files: files.map((file): FileLines => {
        const lines = text(file);
        const rows = byFile.get(file)!.sort((a, b) => a.line - b.line);
        return { file, readable: lines !== undefined, lines: list(rows, lines, fn, file) };
      }),
    };
  });
  return { x, functions, omitted: ids.length - shown.length };
}

/** The sampled functions matching `pattern`, heaviest first; ViewError when none. */
function matching(p: Profile, pattern: RegExp): (ids: number[]) => number[] {
  const match = new Set(findFunctions(p, pattern));
  return (ids) => {
    const out = ids.filter((id) => match.has(id));
    if (out.length === 0) throw new ViewError(`no sampled function matches /${pattern.source}/ in ${p.source}`);
    return out;
  };
}

/**
 * --lines: per function, the lines it was sampled at with their total (samples with the function on
 * the stack at that line, once per sample) and self share, and each line's text when its file reads.
 * Functions: those matching `pattern`, else the top ones by total that have a known line. ViewError
 * for a profile without line positions or a pattern that matches no sampled function.
 */
export function linesView(p: Profile, pattern: RegExp | undefined, o: LinesOptions = {}): LinesView {
  const pick = pattern ? matching(p, pattern) : (ids: number[], hasLines: Set<number>) => ids.filter((id) => hasLines.has(id));
  const { x, functions, omitted } = lineEntries(p, o, pick, (rows, text) => (text ? rows.map((r) => withText(r, text)) : rows));
  return { view: "lines", summary: x.summary, samples: x.agg.samples, ...(pattern ? { pattern: pattern.source } : {}), omitted, functions };
}

/**
 * --source: for each function matching `pattern`, its file's lines from its definition to its last
 * sampled line, SOURCE_CONTEXT lines around, each with its share (0 for lines without samples). A
 * file that cannot be read gives only the sampled lines (`readable` false). ViewError as linesView.
 */
export function sourceView(p: Profile, pattern: RegExp, o: LinesOptions = {}): SourceView {
  const { x, functions, omitted } = lineEntries(p, o, matching(p, pattern), (rows, text, fn, file) => {
    if (!text) return rows;
    const known = rows.filter((r) => r.line > 0 && r.line <= text.length).map((r) => r.line);
    if (file === fn.file && fn.line > 0) known.push(fn.line);
    if (known.length === 0) return rows;
    const lo = Math.max(1, Math.min(...known) - SOURCE_CONTEXT);
    const hi = Math.min(text.length, Math.max(...known) + SOURCE_CONTEXT);
    const at = new Map(rows.map((r) => [r.line, r]));
    const out = rows.filter((r) => r.line === 0 || r.line > text.length);
    for (let line = lo; line <= hi; line++) out.push(withText(at.get(line) ?? { line, totalPercent: 0, selfPercent: 0, totalSamples: 0, selfSamples: 0, totalWeight: 0, selfWeight: 0 }, text));
    return out.sort((a, b) => a.line - b.line);
  });
  return { view: "source", summary: x.summary, samples: x.agg.samples, pattern: pattern.source, context: SOURCE_CONTEXT, omitted, functions };
}

function withText(r: LineRow, text: string[]): LineRow {
  return r.line > 0 && r.line <= text.length ? { ...r, text: text[r.line - 1] } : r;
}
