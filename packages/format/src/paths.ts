/**
 * The path of a sample: what every view and exporter walks. A sample's path is its stack's functions,
 * root first, plus its VM state's pseudo-function as the leaf unless it ran JS with frames (so GC,
 * idle and native time have a leaf, and a JS sample with no frames counts as "(unknown)") or, in a
 * recording with native frames (`native_frames` metadata), its innermost frame is a native function
 * (the C++ function says more than the state), without the functions a filter hides. This file is
 * the only place that rule is written.
 */
import { FunctionKind, VmState } from "./constants.js";
import { stateFunctionId } from "./functions.js";
import { pathKey, pathKeyStack, pathKeyState } from "./keys.js";
import { metaValue, type Profile } from "./model.js";

/**
 * True when a sample of (stack, state) may end in its state's pseudo-function: it does unless it ran
 * JS with frames, or (`endsInStateLeaf`) its innermost frame is native.
 */
export function hasStateLeaf(stack: number, state: number): boolean {
  return state !== VmState.JS || stack === 0;
}

/** True when `p` was recorded with native frames (its `native_frames` metadata). */
export function hasNativeFrames(p: Profile): boolean {
  return metaValue(p, "native_frames") !== undefined;
}

/**
 * True when the path of (stack, state) in `p` ends in its state's pseudo-function (see the rule
 * above). The innermost frame that counts is the innermost one `hidden` (index: function id) keeps:
 * with every native function hidden, a path is what a recording without native frames gives.
 * `native` is hasNativeFrames(p), for callers that ask for many paths.
 */
export function endsInStateLeaf(p: Profile, stack: number, state: number, hidden?: Uint8Array, native = hasNativeFrames(p)): boolean {
  if (!hasStateLeaf(stack, state)) return false;
  if (!native) return true;
  for (let s = stack; s !== 0; s = p.stacks.parent[s]) {
    const fn = p.frames[p.stacks.frame[s] - 1].function;
    if (hidden && hidden[fn] === 1) continue;
    return p.functions[fn - 1].kind !== FunctionKind.NATIVE;
  }
  return true;
}

/**
 * One path, root first, as parallel arrays: the function ids, the tier each frame ran in, and the
 * frame ids (its position: `frames[i]` is a frame of function `functions[i]`); the VM-state leaf has
 * tier 0 (unknown) and frame 0.
 */
export interface SamplePath {
  functions: Uint32Array;
  tiers: Uint8Array;
  frames: Uint32Array;
}

/** The paths of a profile's (stack, state) pairs under one set of hidden functions, computed once each. */
export class SamplePaths {
  private readonly cache = new Map<number, SamplePath>();
  private readonly native: boolean;

  /** `hidden` (index: function id) marks functions removed from every path. */
  constructor(
    readonly p: Profile,
    readonly hidden?: Uint8Array,
  ) {
    this.native = hasNativeFrames(p);
  }

  /** The path of (stack, state). Cached: do not modify the arrays. */
  get(stack: number, state: number): SamplePath {
    const key = pathKey(stack, state);
    let out = this.cache.get(key);
    if (!out) this.cache.set(key, (out = this.compute(stack, state)));
    return out;
  }

  /**
   * The paths of `p`, a later snapshot of the same growing profile (ProfileDecoder.snapshot), under
   * `hidden`: the paths computed here without a state leaf are shared when `hidden` marks the same
   * functions as this one's did (a stack's frames never change as a profile grows, but a state's
   * pseudo-function id moves as functions are added, so paths ending in one are computed again).
   */
  grown(p: Profile, hidden?: Uint8Array): SamplePaths {
    const next = new SamplePaths(p, hidden);
    if (!sameHidden(this.hidden, hidden, this.p.functions.length)) return next;
    for (const [key, path] of this.cache) if (!hasStateLeaf(pathKeyStack(key), pathKeyState(key))) next.cache.set(key, path);
    return next;
  }

  /** The function ids of the path of (stack, state), as `get`. */
  functions(stack: number, state: number): Uint32Array {
    return this.get(stack, state).functions;
  }

  /** Each frame's function and tier by frame id, dense: the walk below reads no frame objects. */
  private frameFunction?: Uint32Array;
  private frameTier?: Uint8Array;

  private compute(stack: number, state: number): SamplePath {
    const p = this.p;
    if (this.frameFunction === undefined || this.frameFunction.length <= p.frames.length) {
      const fn = new Uint32Array(p.frames.length + 1);
      const tier = new Uint8Array(p.frames.length + 1);
      for (let f = 0; f < p.frames.length; f++) {
        fn[f + 1] = p.frames[f].function;
        tier[f + 1] = p.frames[f].tier;
      }
      this.frameFunction = fn;
      this.frameTier = tier;
    }
    const frameFunction = this.frameFunction;
    const frameTier = this.frameTier!;
    const { parent, frame } = p.stacks;
    let depth = 0;
    for (let s = stack; s !== 0; s = parent[s]) depth++;
    const leaf = endsInStateLeaf(p, stack, state, this.hidden, this.native);
    const len = depth + (leaf ? 1 : 0);
    const functions = new Uint32Array(len);
    const tiers = new Uint8Array(len);
    const frames = new Uint32Array(len);
    let i = depth - 1;
    for (let s = stack; s !== 0; s = parent[s]) {
      const frameId = frame[s];
      frames[i] = frameId;
      functions[i] = frameFunction[frameId];
      tiers[i--] = frameTier[frameId];
    }
    if (leaf) functions[depth] = stateFunctionId(p, state);
    const hidden = this.hidden;
    if (!hidden) return { functions, tiers, frames };
    let kept = 0;
    for (let j = 0; j < len; j++) {
      if (hidden[functions[j]] === 1) continue;
      functions[kept] = functions[j];
      frames[kept] = frames[j];
      tiers[kept++] = tiers[j];
    }
    return { functions: functions.slice(0, kept), tiers: tiers.slice(0, kept), frames: frames.slice(0, kept) };
  }
}

/** True when two hidden masks mark the same among the real functions 1..functions (the state pseudo-ids after them move). */
function sameHidden(was: Uint8Array | undefined, now: Uint8Array | undefined, functions: number): boolean {
  if (!was || !now) return was === now;
  if (now.length <= functions) return false;
  for (let i = 1; i <= functions; i++) if (was[i] !== now[i]) return false;
  return true;
}
