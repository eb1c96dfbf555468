/**
 * The speedscope file format: shared frames (one per function, deduplicated), one sampled profile per
 * thread with its samples in time order (runs of one path merged), weights in the unit of the chosen weight (µs for cpu and
 * wall, "none" for samples), 1-based lines and columns. Produced in chunks, so a profile of any size
 * streams to a file.
 */
import { basename } from "node:path";
import { STATE_SLOTS, functionInfo, functionLabel, pathKey, type Profile } from "@vmprof/format";
import { SPEEDSCOPE_SCHEMA } from "../import/speedscope.js";
import { select, threadTitle, type ExportOptions } from "../select.js";
import { threadBuckets } from "./buckets.js";

/** The exporter's name and version, written into files that have a field for it. */
export const EXPORTER = "vmprof-convert 0.1.0";

/**
 * Yields the speedscope JSON of `p` in chunks of text and bytes. Consecutive samples of a thread with
 * the same path become one sample weighing their sum (speedscope's format allows it, and time order
 * is kept): a profile that stays in one place costs one entry, not one per sample.
 */
export function* toSpeedscope(p: Profile, o: ExportOptions = {}): Generator<string | Uint8Array> {
  const sel = select(p, o);
  const { column, keep } = sel;
  const s = p.samples;
  const buckets = threadBuckets(p, keep);
  // Pass 1: the frames the kept samples use, and each distinct path's JSON text as bytes. Paths that
  // hiding makes equal share one index, so their samples merge too.
  const frameIx = new Map<number, number>();
  const frames: string[] = [];
  const pathIx = new Int32Array(p.stacks.count * STATE_SLOTS).fill(-1);
  const byText = new Map<string, number>();
  const pathBytes: Buffer[] = [];
  const indexOf = (stack: number, state: number): number => {
    const key = pathKey(stack, state);
    if (pathIx[key] >= 0) return pathIx[key];
    const parts: number[] = [];
    for (const id of sel.paths.functions(stack, state)) {
      let ix = frameIx.get(id);
      if (ix === undefined) {
        ix = frames.length;
        frameIx.set(id, ix);
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
    }
    return (pathIx[key] = ix);
  };
  const weightOf = (i: number) => (column === null ? 1 : column[i]);
  for (const t of sel.threads) for (const i of buckets.of(t.id)) if (weightOf(i) > 0) indexOf(s.stack[i], s.state[i]);

  const unit = sel.weight === "samples" ? "none" : "microseconds";
  yield `{"$schema":${JSON.stringify(SPEEDSCOPE_SCHEMA)},"exporter":${JSON.stringify(EXPORTER)},"name":${JSON.stringify(basename(p.source))},"activeProfileIndex":0,`;
  yield `"shared":{"frames":[${frames.join(",")}]},"profiles":[`;
  const total = sel.threads.reduce((n, t) => n + buckets.of(t.id).length, 0) || 1;
  let done = 0;
  const COMMA = Buffer.from(",");
  for (const [k, t] of sel.threads.entries()) {
    const ix = buckets.of(t.id);
    let sum = 0;
    for (const i of ix) sum += weightOf(i);
    yield `${k > 0 ? "," : ""}{"type":"sampled","name":${JSON.stringify(threadTitle(p, t))},"unit":"${unit}","startValue":0,"endValue":${sum},"samples":[`;
    // Runs of one path are written once; their summed weights are kept for the "weights" array.
    // Paths are copied as bytes into large chunks: no string building per sample.
    let weights = new Float64Array(1024);
    let runs = 0;
    let out = Buffer.allocUnsafe(CHUNK);
    let pos = 0;
    let prev = -1;
    for (const i of ix) {
      done++;
      const w = weightOf(i);
      if (w === 0) continue;
      const path = pathIx[pathKey(s.stack[i], s.state[i])];
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
        o.onProgress?.(done / total);
      }
      if (runs > 1) pos += COMMA.copy(out, pos);
      pos += b.copy(out, pos);
    }
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
