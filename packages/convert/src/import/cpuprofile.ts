/**
 * Chrome DevTools .cpuprofile (what `node --cpu-prof` writes) into the model: one process, one thread.
 * A sample stands for the time from its timestamp to the next one (the last: to endTime), as DevTools
 * counts it; in the model that interval ends at the sample's time and is its wall weight. The source
 * has no CPU time: cpu weights are 0 and the mode is "wall". A node's positionTicks become the
 * lines of its samples' leaf frames (counts exact, order within the node not known).
 */
import { fileURLToPath } from "node:url";
import { VmState, type Profile } from "@vmprof/format";
import { ModelBuilder, stateOfLabel } from "../build.js";
import { ConvertError } from "../errors.js";
import type { Input } from "../read.js";

/** The parts of a .cpuprofile read here (V8's Profiler.Profile). Times are µs on a monotonic clock. */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A call tree node; lineNumber and columnNumber are 0-based, -1 when unknown. */
export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; scriptId: string | number; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
  /** The node's self samples by the line they were executing (1-based). */
  positionTicks?: { line: number; ticks: number }[];
}

/** True when a parsed JSON value has the shape of a .cpuprofile. */
function looksLikeCpuprofile(v: unknown): boolean {
  const o = v as Record<string, unknown> | null;
  return o !== null && typeof o === "object" && Array.isArray(o.nodes) && Array.isArray(o.samples);
}

/** A script URL as the model keeps it: file: URLs become paths. */
export function urlToFile(url: string): string {
  if (!url.startsWith("file://")) return url;
  try {
    return fileURLToPath(url);
  } catch {
    return url;
  }
}

/** A 0-based line or column of a callFrame as our 1-based one; 0 (unknown) for anything but a whole number >= 0. */
function position(v: unknown): number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 31 ? v + 1 : 0;
}

/** Imports a parsed .cpuprofile. Throws ConvertError naming `source` for broken references. */
function importCpuprofile(v: CpuProfile, source: string): Profile {
  const bad = (what: string) => new ConvertError(`${source}: bad .cpuprofile: ${what}`);
  if (!Array.isArray(v.timeDeltas) || v.timeDeltas.length !== v.samples.length)
    throw bad(`${v.samples.length} samples but ${Array.isArray(v.timeDeltas) ? v.timeDeltas.length : "no"} timeDeltas`);
  const byId = new Map<number, CpuProfileNode>();
  for (const [i, n] of v.nodes.entries()) {
    if (n === null || typeof n !== "object" || !Number.isInteger(n.id) || typeof n.callFrame !== "object" || n.callFrame === null)
      throw bad(`node ${i} has no id or callFrame`);
    if (n.children !== undefined && !(Array.isArray(n.children) && n.children.every((c) => Number.isInteger(c))))
      throw bad(`node ${n.id}'s children are not a list of node ids`);
    if (byId.has(n.id)) throw bad(`node id ${n.id} is defined twice`);
    byId.set(n.id, n);
  }
  const parent = new Map<number, number>();
  for (const n of v.nodes) {
    for (const c of n.children ?? []) {
      if (!byId.has(c)) throw bad(`node ${n.id} has child ${c}, which is not defined`);
      if (parent.has(c)) throw bad(`node ${c} has two parents`);
      parent.set(c, n.id);
    }
  }
  const b = new ModelBuilder(source);
  const proc = b.process({ pid: 0, name: "" });
  const thread = b.thread({ process: proc, tid: 0, name: "main" });
  // Each node's functions and state, resolved once: the path from below "(root)" to the node.
  const resolved = new Map<number, [number[], number]>();
  const resolve = (id: number): [number[], number] => {
    const have = resolved.get(id);
    if (have) return have;
    const chain: CpuProfileNode[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      chain.push(byId.get(at)!);
      if (chain.length > byId.size) throw bad(`node ${id} is its own ancestor`);
    }
    chain.reverse();
    if (chain.length > 0 && chain[0].callFrame.functionName === "(root)") chain.shift();
    const leaf = chain[chain.length - 1];
    const state = leaf ? stateOfLabel(leaf.callFrame.functionName, leaf.callFrame.url) : undefined;
    if (state !== undefined) chain.pop();
    const fns = chain.map(({ callFrame: f }) =>
      b.fn({ name: String(f.functionName ?? ""), file: urlToFile(String(f.url ?? "")), line: position(f.lineNumber), column: position(f.columnNumber) }),
    );
    const r: [number[], number] = [fns, state ?? VmState.JS];
    resolved.set(id, r);
    return r;
  };
  // A node's samples take its positionTicks' lines in order (the first `ticks` samples the first
  // line...): a .cpuprofile says how many samples hit each line, not which; the rest have no line.
  const lineQueue = new Map<number, { line: number; ticks: number }[]>();
  for (const n of v.nodes) {
    if (!Array.isArray(n.positionTicks)) continue;
    const q = n.positionTicks.filter((t) => Number.isInteger(t?.line) && t.line > 0 && Number.isInteger(t.ticks) && t.ticks > 0).map((t) => ({ ...t }));
    if (q.length > 0) lineQueue.set(n.id, q);
  }
  const stackOf = new Map<string, number>();
  const stackAt = (id: number): [number, number] => {
    const [fns, state] = resolve(id);
    const q = state === VmState.JS && fns.length > 0 ? lineQueue.get(id) : undefined;
    let line = 0;
    if (q !== undefined && q.length > 0) {
      line = q[0].line;
      if (--q[0].ticks === 0) q.shift();
    }
    const key = `${id}:${line}`;
    let stack = stackOf.get(key);
    if (stack === undefined) {
      const lines = line === 0 ? undefined : fns.map((_, k) => (k === fns.length - 1 ? line : 0));
      stackOf.set(key, (stack = b.stack(fns, lines)));
    }
    return [stack, state];
  };
  const n = v.samples.length;
  const stamps = new Float64Array(n + 1);
  let t = 0;
  for (let i = 0; i < n; i++) {
    const d = Number(v.timeDeltas[i]);
    if (!Number.isFinite(d)) throw bad(`timeDeltas[${i}] is not a number`);
    t += Math.max(0, d);
    stamps[i] = t;
  }
  const end = Number(v.endTime) - Number(v.startTime);
  stamps[n] = Number.isFinite(end) && end > t ? end : t;
  const deltas: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = v.samples[i];
    if (!byId.has(id)) throw bad(`sample ${i} refers to node ${id}, which is not defined`);
    const [stack, state] = stackAt(id);
    const wall = stamps[i + 1] - stamps[i];
    if (i + 1 < n) deltas.push(wall);
    b.sample(thread, stamps[i + 1], wall, 0, state, stack);
  }
  deltas.sort((a, c) => a - c);
  const meta: Record<string, string | number> = { mode: "wall", samples: n, source_format: "cpuprofile" };
  if (deltas.length > 0) meta.period_us = Math.round(deltas[deltas.length >> 1]);
  b.meta(meta);
  return b.finish();
}

/** The .cpuprofile importer (see read.ts, Importer): a JSON object with `nodes` and `samples`. */
export function tryImportCpuprofile(input: Input, sure: boolean): Profile | null {
  const v = input.json();
  if (!sure && !looksLikeCpuprofile(v)) return null;
  input.whole("cpuprofile: ");
  if (v === undefined) throw new ConvertError(`${input.source}: not valid JSON`);
  return importCpuprofile(v as CpuProfile, input.source);
}
