/**
 * The frames behind a sample path, for exporters that write lines: SamplePaths gives a path's
 * function ids; this gives the frame ids beside them (same length, same order, same hidden functions
 * removed), so an exporter reads each frame's line and column from `p.frames`.
 */
import { hasStateLeaf, isStateFunction, pathKey, type SamplePaths } from "@vmprof/format";

/** Frame ids parallel to a SamplePaths' function ids, computed once per (stack, state). */
export class PathFrames {
  private readonly cache = new Map<number, Uint32Array>();

  constructor(private readonly paths: SamplePaths) {}

  /** Frame ids of the path of (stack, state), root first; 0 for the VM-state leaf. Do not modify. */
  get(stack: number, state: number): Uint32Array {
    const key = pathKey(stack, state);
    let out = this.cache.get(key);
    if (out === undefined) this.cache.set(key, (out = this.compute(stack, state)));
    return out;
  }

  private compute(stack: number, state: number): Uint32Array {
    const { p, hidden } = this.paths;
    const fns = this.paths.functions(stack, state);
    const out = new Uint32Array(fns.length);
    // Walk the stack leaf first, filling from the end; the state leaf (if kept) keeps frame 0.
    let k = fns.length - (fns.length > 0 && hasStateLeaf(stack, state) && isStateFunction(p, fns[fns.length - 1]) ? 1 : 0);
    for (let s = stack; s !== 0 && k > 0; s = p.stacks.parent[s]) {
      const fr = p.stacks.frame[s];
      if (hidden !== undefined && hidden[p.frames[fr - 1].function] === 1) continue;
      out[--k] = fr;
    }
    return out;
  }
}
