/**
 * Tables over an aggregate, in the spirit of vmprof's Stats: per function (weights, sample counts and
 * tiers in one pass), callers and callees of one function, the call tree, and per thread.
 */
import { Tier } from "./constants.js";
import { forEachPath, type Aggregate } from "./aggregate.js";
import { functionIdLimit } from "./functions.js";
import { SampleLabels } from "./labels.js";
import { TIER_SLOTS, tierKey } from "./keys.js";
import type { Profile } from "./model.js";
import { inTimeRange, selectThreads, type Selection } from "./select.js";

/** Per-function sums, indexed by function id (length functionIdLimit), and the ids that have samples. */
export interface FunctionTable {
  /** Weight of samples in which the function appears, counted once per sample (vmprof's "% of snapshots"). */
  total: Float64Array;
  /** Weight of samples in which the function is the leaf. */
  self: Float64Array;
  /** Number of samples behind `total` and `self` (whatever the weight). */
  totalCount: Float64Array;
  selfCount: Float64Array;
  /**
   * Cumulative weight by the tier the function ran in, indexed by tierKey(id, tier): each sample
   * counts once, for the tier of the function's innermost frame, so a function's tiers sum to `total`.
   */
  totalByTier: Float64Array;
  /** Self weight by tier, indexed by tierKey(id, tier). */
  selfByTier: Float64Array;
  /**
   * Ids of the functions with at least one sample, highest first by `order` ("total": cumulative
   * weight, then self; "self": self, then cumulative), then by id.
   */
  ids: number[];
}

/** Cumulative and self weight, sample counts and tiers of every function, in one pass over the aggregate. */
export function functionTable(p: Profile, agg: Aggregate, order: "total" | "self" = "total"): FunctionTable {
  const n = functionIdLimit(p);
  const total = new Float64Array(n);
  const self = new Float64Array(n);
  const totalCount = new Float64Array(n);
  const selfCount = new Float64Array(n);
  const selfByTier = new Float64Array(n * TIER_SLOTS);
  const totalByTier = new Float64Array(n * TIER_SLOTS);
  const seen = new Int32Array(n).fill(-1);
  let stamp = 0;
  forEachPath(agg, (path, w, c, tiers) => {
    stamp++;
    const len = path.length;
    // Leaf first: a function on the path more than once (recursion, or a call between its tiers)
    // counts once, for the tier of its innermost frame, so its tiers add up to its total.
    for (let i = len - 1; i >= 0; i--) {
      const f = path[i];
      if (seen[f] !== stamp) {
        seen[f] = stamp;
        total[f] += w;
        totalCount[f] += c;
        totalByTier[tierKey(f, tiers[i])] += w;
      }
    }
    if (len === 0) return;
    const leaf = path[len - 1];
    self[leaf] += w;
    selfCount[leaf] += c;
    selfByTier[tierKey(leaf, tiers[len - 1])] += w;
  });
  const ids: number[] = [];
  for (let id = 1; id < n; id++) if (totalCount[id] > 0) ids.push(id);
  const key = order === "total" ? total : self;
  const other = order === "total" ? self : total;
  ids.sort((a, b) => key[b] - key[a] || other[b] - other[a] || a - b);
  return { total, self, totalCount, selfCount, totalByTier, selfByTier, ids };
}

/** A function, a weight and a sample count. */
export interface Weighted {
  function: number;
  weight: number;
  /** Samples behind the weight. */
  count: number;
}

/** vmprof's function_profile: who calls a function and what it calls. */
export interface FunctionProfile {
  function: number;
  /** Weight of samples through the function (once per sample), and their count. */
  total: number;
  totalCount: number;
  /** Weight of samples where it is the leaf, and their count. */
  self: number;
  selfCount: number;
  /** Direct callers with weight, heaviest first; function 0 means "called from the root" (no caller). */
  callers: Weighted[];
  /** Direct callees with weight, heaviest first. */
  callees: Weighted[];
}

/** Callers and callees of `fnId`, each counted once per sample. */
export function functionProfile(p: Profile, agg: Aggregate, fnId: number): FunctionProfile {
  const callers = new Map<number, Weighted>();
  const callees = new Map<number, Weighted>();
  const out: FunctionProfile = { function: fnId, total: 0, totalCount: 0, self: 0, selfCount: 0, callers: [], callees: [] };
  const seenCaller = new Set<number>();
  const seenCallee = new Set<number>();
  const add = (m: Map<number, Weighted>, f: number, w: number, c: number) => {
    const e = m.get(f);
    if (e) {
      e.weight += w;
      e.count += c;
    } else m.set(f, { function: f, weight: w, count: c });
  };
  forEachPath(agg, (path, w, c) => {
    let through = false;
    seenCaller.clear();
    seenCallee.clear();
    const len = path.length;
    for (let i = 0; i < len; i++) {
      if (path[i] !== fnId) continue;
      through = true;
      const caller = i > 0 ? path[i - 1] : 0;
      if (!seenCaller.has(caller)) {
        seenCaller.add(caller);
        add(callers, caller, w, c);
      }
      if (i + 1 < len && !seenCallee.has(path[i + 1])) {
        seenCallee.add(path[i + 1]);
        add(callees, path[i + 1], w, c);
      }
    }
    if (through) {
      out.total += w;
      out.totalCount += c;
    }
    if (len > 0 && path[len - 1] === fnId) {
      out.self += w;
      out.selfCount += c;
    }
  });
  const sorted = (m: Map<number, Weighted>) => [...m.values()].filter((e) => e.weight > 0).sort((a, b) => b.weight - a.weight || a.function - b.function);
  out.callers = sorted(callers);
  out.callees = sorted(callees);
  return out;
}

/** A node of the function-level call tree. */
export interface TreeNode {
  /** Function id; 0 for the root. */
  function: number;
  /** Weight of samples through this node, and their count. */
  total: number;
  totalCount: number;
  /** Weight of samples ending at this node. */
  self: number;
  /** Self weight by tier (index: Tier). */
  selfByTier: Float64Array;
  /** Weight through this node by the tier its own frame ran in (index: Tier). */
  totalByTier: Float64Array;
  /** Children, heaviest first (a child whose samples all weigh 0 comes last, with total 0). */
  children: TreeNode[];
}

/** The call tree over functions (frames of one function in different tiers merge). */
export function callTree(agg: Aggregate): TreeNode {
  const mk = (f: number): TreeNode => ({ function: f, total: 0, totalCount: 0, self: 0, selfByTier: new Float64Array(TIER_SLOTS), totalByTier: new Float64Array(TIER_SLOTS), children: [] });
  const root = mk(0);
  const index = new Map<TreeNode, Map<number, TreeNode>>();
  forEachPath(agg, (path, w, c, tiers) => {
    let node = root;
    node.total += w;
    node.totalCount += c;
    for (let i = 0; i < path.length; i++) {
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
      node.totalCount += c;
      node.totalByTier[tiers[i]] += w;
    }
    node.self += w;
    if (path.length > 0) node.selfByTier[tiers[path.length - 1] as Tier] += w;
  });
  const sort = (n: TreeNode): void => {
    n.children.sort((a, b) => b.total - a.total || a.function - b.function);
    n.children.forEach(sort);
  };
  sort(root);
  return root;
}

/** One thread of a selection: who it is and how much of the selection it holds. */
export interface ThreadRow {
  /** OS process id and its parent's (0 when unknown). */
  pid: number;
  parent: number;
  /** OS thread id. */
  tid: number;
  name: string;
  /** Selected samples of this thread (by process, thread, time and labels; focus and ignore do not apply). */
  samples: number;
  /** CPU µs of those samples. */
  cpuUs: number;
  /** µs from the start of the first selected sample's interval (its time minus its wall weight) to the last selected sample; 0 without samples. */
  durationUs: number;
  /** Earliest start of a selected sample's interval (not before the origin) and the last sample's time, µs since the origin; 0 without samples. */
  startUs: number;
  endUs: number;
}

/** The threads a selection covers, in profile order, with their selected samples. Throws SelectionError. */
export function threadTable(p: Profile, sel: Selection = {}): ThreadRow[] {
  const mask = selectThreads(p, sel);
  const s = p.samples;
  const n = p.threads.length + 1;
  const first = new Float64Array(n).fill(Infinity);
  const start = new Float64Array(n).fill(Infinity);
  const last = new Float64Array(n).fill(-Infinity);
  const count = new Float64Array(n);
  const cpu = new Float64Array(n);
  const labels = sel.labels && sel.labels.length > 0 ? new SampleLabels(p) : null;
  for (let i = 0; i < s.count; i++) {
    const t = s.thread[i];
    const time = s.time[i];
    if (mask[t] === 0 || !inTimeRange(sel, time)) continue;
    if (labels && !labels.matches(i, sel.labels!)) continue;
    count[t]++;
    cpu[t] += s.cpu[i];
    // Times are non-decreasing per thread: the first selected sample opens the thread's interval.
    if (first[t] === Infinity) first[t] = time - s.wall[i];
    if (time - s.wall[i] < start[t]) start[t] = Math.max(0, time - s.wall[i]);
    if (time > last[t]) last[t] = time;
  }
  return p.threads
    .filter((t) => mask[t.id] === 1)
    .map((t) => {
      const pr = p.processes[t.process - 1];
      const has = count[t.id] > 0;
      return {
        pid: pr.pid,
        parent: pr.ppid,
        tid: t.tid,
        name: t.name,
        samples: count[t.id],
        cpuUs: cpu[t.id],
        durationUs: has && last[t.id] > first[t.id] ? last[t.id] - first[t.id] : 0,
        startUs: has ? start[t.id] : 0,
        endUs: has ? last[t.id] : 0,
      };
    });
}
