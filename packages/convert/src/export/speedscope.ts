/**
 * The speedscope file format: shared frames (one per function, deduplicated), one sampled profile per
 * thread with its samples in time order (runs of one path merged), weights in the unit of the chosen weight (µs for cpu and
 * wall, "none" for samples), 1-based lines and columns. Produced in chunks, so a profile of any size
 * streams to a file.
 */
import { basename } from "node:path";
import { STATE_SLOTS, functionInfo, functionLabel, type Profile } from "@vmprof/format";
import { SPEEDSCOPE_SCHEMA } from "../import/speedscope.js";
import { select, threadTitle, type ExportOptions } from "../select.js";
import { bucketStarts } from "./buckets.js";

/** The exporter's name and version, written into files that have a field for it. */
export const EXPORTER = "vmprof-convert 0.1.0";

/**
 * Past this many bytes of time-ordered samples, "auto" merges them by path instead: speedscope's
 * viewer parses the whole file as one string in the browser (at most 512 MiB in Chromium, and slow
 * long before), so a bigger file would not open at all.
 */
export const SPEEDSCOPE_TIME_ORDER_LIMIT = 256 * 1024 * 1024;

/** How samples are laid out: in time order (runs of one path merged), merged by path, or time order unless too big. */
export type SpeedscopeOrder = "auto" | "time" | "merged";

/** Options of the speedscope export. */
export interface SpeedscopeOptions extends ExportOptions {
  /** Default "auto": time order unless its samples would exceed SPEEDSCOPE_TIME_ORDER_LIMIT bytes. */
  order?: SpeedscopeOrder;
  /** Told (one line) when "auto" merges. */
  onNote?: (message: string) => void;
  /** "auto"'s limit in bytes; default SPEEDSCOPE_TIME_ORDER_LIMIT. */
  timeOrderLimit?: number;
}

/**
 * Yields the speedscope JSON of `p` in chunks of text and bytes. Consecutive samples of a thread with
 * the same path become one sample weighing their sum (speedscope's format allows it, and time order
 * is kept): a profile that stays in one place costs one entry, not one per sample. With order
 * "merged" (or "auto" past SPEEDSCOPE_TIME_ORDER_LIMIT), each thread has one sample per distinct path
 * weighing all of its samples, in the order paths were first met: every view but speedscope's "Time
 * Order" is the same, and the file is as big as the number of distinct paths, not of samples.
 */
export function* toSpeedscope(p: Profile, o: SpeedscopeOptions = {}): Generator<string | Uint8Array> {
  const sel = select(p, o);
  const { column, keep } = sel;
  const s = p.samples;
  // The frames the kept samples use, and each distinct path's JSON text as bytes (indexOf, called on
  // a path's first sample). Paths that hiding makes equal share one index, so their samples merge too.
  let frameIx = new Int32Array(p.functions.length + 64).fill(-1); // function id -> frame index
  const frames: string[] = [];
  // Indexed state-major (state * stacks + stack), not by pathKey: nearly every sample is in one state,
  // so the lookups per sample stay within one dense stretch of the array.
  const nStacks = p.stacks.count;
  const pathIx = new Int32Array(nStacks * STATE_SLOTS).fill(-1);
  const slot = (stack: number, state: number) => state * nStacks + stack;
  const byText = new Map<string, number>();
  const pathBytes: Buffer[] = [];
  let pathLength = new Int32Array(1024); // pathBytes[k].length, read per sample without touching the Buffer
  const indexOf = (stack: number, state: number): number => {
    const key = slot(stack, state);
    if (pathIx[key] >= 0) return pathIx[key];
    const parts: number[] = [];
    for (const id of sel.paths.functions(stack, state)) {
      if (id >= frameIx.length) {
        const grown = new Int32Array(id * 2 + 1).fill(-1);
        grown.set(frameIx);
        frameIx = grown;
      }
      let ix = frameIx[id];
      if (ix < 0) {
        ix = frames.length;
        frameIx[id] = ix;
        const f = functionInfo(p, id);
        const frame: { name: string; file?: string; line?: number; col?: number } = { name: functionLabel(f) };
        if (f.file !== "") frame.file = f.file;
        if (f.line > 0) frame.line = f.line;
        if (f.column > 0) frame.col = f.column;
        frames.push(JSON.stringify(frame));
      }
      parts.push(ix);
    }
    const text = `[${parts.join(",")}]`;
    let ix = byText.get(text);
    if (ix === undefined) {
      byText.set(text, (ix = pathBytes.length));
      pathBytes.push(Buffer.from(text));
      if (ix === pathLength.length) {
        const grown = new Int32Array(ix * 2);
        grown.set(pathLength);
        pathLength = grown;
      }
      pathLength[ix] = pathBytes[ix].length;
    }
    return (pathIx[key] = ix);
  };
  // One pass in file order groups the kept samples by thread (time order within each) and finds each
  // one's path index (-1: no weight), in arrays aligned by position; it also adds up the size the
  // time-ordered samples would take: a path per run of one path, and a comma. The cache of path
  // indexes is read inline: this loop runs once per sample.
  const start = bucketStarts(p, keep);
  const order = new Uint32Array(start[start.length - 1]);
  const at = new Int32Array(order.length);
  const fill = start.slice();
  const prevOf = new Int32Array(p.threads.length + 1).fill(-1);
  let timeOrderBytes = 0;
  const { stack: stackOf, state: stateOf, thread: threadOf } = s; // locals: the loop reads no object fields
  for (let i = 0, n = s.count; i < n; i++) {
    if (keep[i] !== 1) continue;
    const thread = threadOf[i];
    const j = fill[thread]++;
    order[j] = i;
    if (column !== null && column[i] === 0) {
      at[j] = -1;
      continue;
    }
    let path = pathIx[slot(stackOf[i], stateOf[i])];
    if (path < 0) path = indexOf(stackOf[i], stateOf[i]);
    at[j] = path;
    if (path !== prevOf[thread]) timeOrderBytes += pathLength[path] + 1;
    prevOf[thread] = path;
  }
  const layout = o.order ?? "auto";
  const merged = layout === "merged" || (layout === "auto" && timeOrderBytes > (o.timeOrderLimit ?? SPEEDSCOPE_TIME_ORDER_LIMIT));
  if (merged && layout === "auto") {
    o.onNote?.(
      `the samples in time order would take ${(timeOrderBytes / 2 ** 20).toFixed(1)} MiB, more than speedscope's viewer opens: ` +
        `they are merged by stack instead (every view but Time Order is the same; --order time keeps time order)`,
    );
  }

  const unit = sel.weight === "samples" ? "none" : "microseconds";
  yield `{"$schema":${JSON.stringify(SPEEDSCOPE_SCHEMA)},"exporter":${JSON.stringify(EXPORTER)},"name":${JSON.stringify(basename(p.source))},"activeProfileIndex":0,`;
  yield `"shared":{"frames":[${frames.join(",")}]},"profiles":[`;
  const total = order.length || 1;
  let done = 0;
  const COMMA = 0x2c; // ","
  for (const [k, t] of sel.threads.entries()) {
    const ix = order.subarray(start[t.id], start[t.id + 1]);
    const paths = at.subarray(start[t.id], start[t.id + 1]);
    let sum = 0;
    if (column === null) sum = ix.length;
    else for (let j = 0; j < ix.length; j++) sum += column[ix[j]];
    yield `${k > 0 ? "," : ""}{"type":"sampled","name":${JSON.stringify(threadTitle(p, t))},"unit":"${unit}","startValue":0,"endValue":${sum},"samples":[`;
    if (merged) {
      yield* mergedSamples(ix, paths, column, pathBytes);
      done += ix.length;
      o.onProgress?.(done / total);
      continue;
    }
    // Runs of one path are written once; their summed weights are kept for the "weights" array.
    // Paths are copied as bytes into large chunks: no string building per sample.
    let weights = new Float64Array(1024);
    let runs = 0;
    let out = Buffer.allocUnsafe(CHUNK);
    let pos = 0;
    let prev = -1;
    for (let j = 0; j < ix.length; j++) {
      const path = paths[j];
      if (path < 0) continue;
      const w = column === null ? 1 : column[ix[j]];
      if (path === prev) {
        weights[runs - 1] += w;
        continue;
      }
      prev = path;
      if (runs === weights.length) {
        const grown = new Float64Array(runs * 2);
        grown.set(weights);
        weights = grown;
      }
      weights[runs++] = w;
      const b = pathBytes[path];
      if (pos + b.length + 1 > out.length) {
        yield out.subarray(0, pos);
        out = Buffer.allocUnsafe(Math.max(CHUNK, b.length + 1));
        pos = 0;
        o.onProgress?.((done + j) / total);
      }
      if (runs > 1) out[pos++] = COMMA;
      pos += b.copy(out, pos);
    }
    done += ix.length;
    if (pos > 0) yield out.subarray(0, pos);
    yield `],"weights":[`;
    for (let r = 0; r < runs; r += 65536) {
      const part: string[] = [];
      for (let j = r; j < Math.min(runs, r + 65536); j++) part.push(String(weights[j]));
      yield (r > 0 ? "," : "") + part.join(",");
    }
    yield "]}";
  }
  yield "]}\n";
}

/** Bytes per chunk of sample paths. */
const CHUNK = 1 << 23;

/**
 * The rest of a thread's sampled profile with one sample per distinct path (in the order paths were
 * first met), weighing the sum of its samples. `at[j]` is the path of the thread's j-th kept sample `ix[j]`
 * (-1: no weight); `column` its weights (null: 1 each).
 */
function* mergedSamples(ix: Uint32Array, at: Int32Array, column: ArrayLike<number> | null, pathBytes: Buffer[]): Generator<string> {
  const sums = new Float64Array(pathBytes.length);
  for (let j = 0; j < ix.length; j++) if (at[j] >= 0) sums[at[j]] += column === null ? 1 : column[ix[j]];
  const used: number[] = [];
  for (let path = 0; path < sums.length; path++) if (sums[path] > 0) used.push(path);
  for (let r = 0; r < used.length; r += 65536) {
    const part: string[] = [];
    for (let j = r; j < Math.min(used.length, r + 65536); j++) part.push(pathBytes[used[j]].toString("latin1"));
    yield (r > 0 ? "," : "") + part.join(",");
  }
  yield `],"weights":[`;
  for (let r = 0; r < used.length; r += 65536) {
    const part: string[] = [];
    for (let j = r; j < Math.min(used.length, r + 65536); j++) part.push(String(sums[used[j]]));
    yield (r > 0 ? "," : "") + part.join(",");
  }
  yield "]}";
}
