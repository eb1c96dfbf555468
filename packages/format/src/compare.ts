/**
 * Comparing two profiles over the query layer: the change in share per function (vmprof-report
 * --diff, the server's compare page) and, for a differential flame graph, the base's weight at each
 * node of the new profile's call tree. Ids differ between profiles, so functions are matched by
 * kind, name, file and line (the column is left out: a rebuilt script often moves it). Shares are
 * percentages (0-100) of each profile's selected total weight; a change is in percentage points.
 */
import { FUNCTION_KIND_NAMES } from "./constants.js";
import type { Aggregate } from "./aggregate.js";
import { functionInfo, functionKey, functionKindName, type FunctionKindName } from "./functions.js";
import { functionLabel, type Profile } from "./model.js";
import type { Selection } from "./select.js";
import { functionTable, type TreeNode } from "./tables.js";

/** One function matched across the base and the new profile. */
export interface FunctionChange {
  /** Its label ("(anonymous)" for an anonymous function, "(garbage collector)"... for a VM state). */
  name: string;
  /** Script path or URL; "" when unknown. */
  file: string;
  /** 1-based line of the definition; 0 when unknown. */
  line: number;
  kind: FunctionKindName;
  /** Cumulative share in the base and in the new profile, percent (0 when absent). */
  baseTotalPercent: number;
  totalPercent: number;
  /** totalPercent - baseTotalPercent, in percentage points: positive got slower, negative faster. */
  deltaTotal: number;
  /** Self share (as the leaf) in the base and in the new profile, percent, and the change in points. */
  baseSelfPercent: number;
  selfPercent: number;
  deltaSelf: number;
}

const KINDS: FunctionKindName[] = [...FUNCTION_KIND_NAMES, "state"];

/** The identity of function `id` of `p` across profiles (kind, label, file, line). */
export function matchKey(p: Profile, id: number): string {
  const f = functionInfo(p, id);
  return functionKey({ kind: KINDS.indexOf(functionKindName(p, id)), name: functionLabel(f), file: f.file, line: f.line });
}

/**
 * The base's selection in a comparison: its time range and labels. Process and thread ids name the
 * new profile's processes, which the base does not have; labels name the work (route=/a), in both.
 */
export function baseSelection(sel: Selection | undefined): Selection {
  return { from: sel?.from, to: sel?.to, labels: sel?.labels };
}

const pct = (w: number, total: number) => (total > 0 ? (100 * w) / total : 0);

/**
 * Every function with samples in either aggregate, with its shares in both and the change, largest
 * absolute change of cumulative share first (then of self share, then by name). `agg` is `p`'s
 * selection, `baseAgg` the base's, aggregated under the same weight.
 */
export function functionChanges(p: Profile, agg: Aggregate, base: Profile, baseAgg: Aggregate): FunctionChange[] {
  const rows = new Map<string, FunctionChange>();
  const add = (q: Profile, a: Aggregate, isBase: boolean) => {
    const t = functionTable(q, a);
    for (const id of t.ids) {
      const key = matchKey(q, id);
      let d = rows.get(key);
      if (!d) {
        const f = functionInfo(q, id);
        d = { name: functionLabel(f), file: f.file, line: f.line, kind: functionKindName(q, id), baseTotalPercent: 0, totalPercent: 0, deltaTotal: 0, baseSelfPercent: 0, selfPercent: 0, deltaSelf: 0 };
        rows.set(key, d);
      }
      if (isBase) {
        d.baseTotalPercent += pct(t.total[id], a.total);
        d.baseSelfPercent += pct(t.self[id], a.total);
      } else {
        d.totalPercent += pct(t.total[id], a.total);
        d.selfPercent += pct(t.self[id], a.total);
      }
    }
  };
  add(base, baseAgg, true);
  add(p, agg, false);
  const all = [...rows.values()];
  for (const d of all) {
    d.deltaTotal = d.totalPercent - d.baseTotalPercent;
    d.deltaSelf = d.selfPercent - d.baseSelfPercent;
  }
  all.sort((a, b) => Math.abs(b.deltaTotal) - Math.abs(a.deltaTotal) || Math.abs(b.deltaSelf) - Math.abs(a.deltaSelf) || a.name.localeCompare(b.name));
  return all;
}

/**
 * For each node of `root` (the call tree of `p`), the base's weight through the same call path:
 * the sum over the nodes of `baseRoot` (the base's call tree) reached by the same sequence of
 * matchKey from the root; 0 when the base never took that path. The root maps to the base's total.
 */
export function alignTrees(p: Profile, root: TreeNode, base: Profile, baseRoot: TreeNode): Map<TreeNode, number> {
  const out = new Map<TreeNode, number>();
  const visit = (n: TreeNode, matches: TreeNode[]) => {
    out.set(n, matches.reduce((s, m) => s + m.total, 0));
    if (n.children.length === 0) return;
    const byKey = new Map<string, TreeNode[]>();
    for (const m of matches)
      for (const c of m.children) {
        const k = matchKey(base, c.function);
        const list = byKey.get(k);
        if (list) list.push(c);
        else byKey.set(k, [c]);
      }
    for (const c of n.children) visit(c, byKey.get(matchKey(p, c.function)) ?? []);
  };
  visit(root, [baseRoot]);
  return out;
}
