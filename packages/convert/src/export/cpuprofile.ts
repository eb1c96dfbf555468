/**
 * Chrome DevTools .cpuprofile (opens in Chrome DevTools, VS Code, speedscope and the Firefox
 * Profiler): one thread, a call tree of nodes, and per sample a node id and a time delta in µs.
 * DevTools charges a sample with the time from its timestamp to the next, so a sample whose
 * interval ends at time t with weight w is written at t - w. Under the cpu weight, the time a thread
 * spent off CPU between samples becomes an "(idle)" sample instead of being charged to the next stack.
 * A node is a function on a path (callFrame lineNumber/columnNumber: the function's start, 0-based);
 * its positionTicks count its self samples by the line they were executing (1-based), as
 * `node --cpu-prof` writes them, so DevTools shows per-line costs. Samples of unknown line have none.
 */
import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { STATE_LABELS, ThreadKind, VmState, functionInfo, metaValue, pathKey, stateFunctionId, type Profile } from "@vmprof/format";
import { ConvertError } from "../errors.js";
import { select, threadTitle, type ExportOptions } from "../select.js";
import { threadBuckets } from "./buckets.js";
import { PathFrames } from "./frames.js";

/** Chrome's names for the VM states it knows; the others keep the model's labels. */
const CHROME_STATE: Record<number, string> = { [VmState.JS]: "(program)", [VmState.OTHER]: "(program)" };

/** A model file as a DevTools script URL: absolute paths become file: URLs. */
export function fileToUrl(file: string): string {
  return isAbsolute(file) ? pathToFileURL(file).href : file;
}

/** Options of toCpuprofile beyond the common ones. */
export interface CpuprofileOptions extends ExportOptions {
  /** Told which thread was written when the profile has several and none was chosen. */
  onNote?: (message: string) => void;
}

/**
 * Yields the .cpuprofile JSON of one thread of `p` in chunks: the selected one, or without a thread
 * selection the main thread of the first process. Throws ConvertError when the selection has several.
 */
export function* toCpuprofile(p: Profile, o: CpuprofileOptions = {}): Generator<string> {
  const sl = o.selection ?? {};
  const chosen = (sl.tids?.length ?? 0) > 0 || (sl.pids?.length ?? 0) > 0 || (sl.threadNames?.length ?? 0) > 0;
  let opts: ExportOptions = o;
  if (!chosen && p.threads.length > 0) {
    const first = p.threads.find((t) => t.process === 1 && t.kind === ThreadKind.MAIN) ?? p.threads[0];
    opts = { ...o, selection: { ...sl, pids: [p.processes[first.process - 1].pid], tids: [first.tid] } };
    if (p.threads.length > 1) o.onNote?.(`a .cpuprofile holds one thread: wrote ${threadTitle(p, first)} of ${p.threads.length} (choose with --tid)`);
  }
  const sel = select(p, opts);
  if (sel.threads.length > 1)
    throw new ConvertError(
      `a .cpuprofile holds one thread, and the selection has ${sel.threads.length}: ${sel.threads.map((t) => threadTitle(p, t)).join(", ")}; choose one with --tid`,
    );
  const thread = sel.threads[0];
  const ix = thread ? threadBuckets(p, sel.keep).of(thread.id) : new Uint32Array(0);
  const s = p.samples;

  interface Node {
    id: number;
    fn: number;
    hits: number;
    children: number[];
    /** Self samples by the 1-based line the node's function was executing. */
    ticks?: Map<number, number>;
  }
  const nodes: Node[] = [{ id: 1, fn: 0, hits: 0, children: [] }];
  const childOf = new Map<string, number>();
  // A path's node and the line its leaf frame was executing (0 unknown).
  const nodeOfPath = new Map<number, [number, number]>();
  const frames = new PathFrames(sel.paths);
  const idleFn = stateFunctionId(p, VmState.IDLE);
  const nodeFor = (path: Uint32Array | number[]): number => {
    let at = 1;
    for (const fn of path) {
      const key = `${at},${fn}`;
      let id = childOf.get(key);
      if (id === undefined) {
        id = nodes.length + 1;
        nodes.push({ id, fn, hits: 0, children: [] });
        nodes[at - 1].children.push(id);
        childOf.set(key, id);
      }
      at = id;
    }
    return at;
  };
  const origin = Number(metaValue(p, "start_time") ?? 0);
  const sampleNodes: number[] = [];
  const stamps: number[] = [];
  let end = 0;
  const cpu = sel.weight === "cpu";
  for (const i of ix) {
    const key = pathKey(s.stack[i], s.state[i]);
    let hit = nodeOfPath.get(key);
    if (hit === undefined) {
      const frs = frames.get(s.stack[i], s.state[i]);
      // A position in another file than the node's script has no place in its positionTicks.
      const leaf = frs.length > 0 && frs[frs.length - 1] !== 0 ? p.frames[frs[frs.length - 1] - 1] : undefined;
      nodeOfPath.set(key, (hit = [nodeFor(sel.paths.functions(s.stack[i], s.state[i])), leaf !== undefined && leaf.file === undefined ? leaf.line : 0]));
    }
    const [node, line] = hit;
    if (line > 0) {
      const n = nodes[node - 1];
      n.ticks ??= new Map();
      n.ticks.set(line, (n.ticks.get(line) ?? 0) + 1);
    }
    const w = cpu ? s.cpu[i] : s.wall[i];
    const at = s.time[i] - Math.min(w, s.time[i]);
    if (cpu && sampleNodes.length > 0 && at > end) {
      sampleNodes.push(nodeFor([idleFn]));
      stamps.push(end);
    }
    sampleNodes.push(node);
    stamps.push(Math.max(at, end));
    end = Math.max(end, s.time[i]);
  }
  for (const n of sampleNodes) nodes[n - 1].hits++;

  const scriptIds = new Map<string, number>();
  const frameOf = (fnId: number) => {
    if (fnId === 0) return { functionName: "(root)", scriptId: "0", url: "", lineNumber: -1, columnNumber: -1 };
    const f = functionInfo(p, fnId);
    const state = fnId - p.functions.length - 1;
    const name = state >= 0 ? (CHROME_STATE[state] ?? STATE_LABELS[state]) : f.name;
    const url = fileToUrl(f.file);
    let sid = 0;
    if (url !== "") {
      sid = scriptIds.get(url) ?? scriptIds.size + 1;
      scriptIds.set(url, sid);
    }
    return { functionName: name, scriptId: String(sid), url, lineNumber: f.line - 1, columnNumber: f.column - 1 };
  };
  yield `{"nodes":[`;
  for (let k = 0; k < nodes.length; k += 4096) {
    const part = nodes.slice(k, k + 4096).map((n) => {
      const ticks = n.ticks ? [...n.ticks].sort((a, b) => a[0] - b[0]).map(([line, ticks]) => ({ line, ticks })) : undefined;
      return JSON.stringify({ id: n.id, callFrame: frameOf(n.fn), hitCount: n.hits, children: n.children, positionTicks: ticks });
    });
    yield (k > 0 ? "," : "") + part.join(",");
  }
  yield `],"startTime":${Math.round(origin)},"endTime":${Math.round(origin + end)},"samples":[`;
  for (let k = 0; k < sampleNodes.length; k += 65536) yield (k > 0 ? "," : "") + sampleNodes.slice(k, k + 65536).join(",");
  yield `],"timeDeltas":[`;
  for (let k = 0; k < stamps.length; k += 65536) {
    const part: number[] = [];
    for (let j = k; j < Math.min(k + 65536, stamps.length); j++) part.push(Math.round(stamps[j] - (j === 0 ? 0 : stamps[j - 1])));
    yield (k > 0 ? "," : "") + part.join(",");
  }
  yield "]}\n";
}
