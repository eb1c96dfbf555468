/**
 * A synthetic but realistic profile: a few thousand functions over a hundred files, a call graph with
 * locality, stacks 5 to 60 deep picked with a Zipf-like popularity, runs of repeated stacks (hot
 * loops), timing jitter around a 1 ms period, idle and GC samples, a main thread and a worker.
 * Deterministic for a given seed.
 */
import { FunctionKind, ProfileWriter, Tier, VmState, type Sink } from "@vmprof/format";

/** A small deterministic PRNG (mulberry32). Returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticSample {
  thread: number;
  time: number;
  wall: number;
  cpu: number;
  state: number;
  /** Index into `stacks`, or -1 for no frames. */
  stack: number;
}

export interface Synthetic {
  functions: { name: string; file: string; line: number; column: number; kind: number }[];
  /** Stacks as frame lists (function index, tier), root first. */
  stacks: { fn: number; tier: number }[][];
  /** Sample columns. */
  thread: Uint8Array;
  time: Float64Array;
  wall: Float64Array;
  cpu: Float64Array;
  state: Uint8Array;
  stack: Int32Array;
  count: number;
}

/** Builds `count` samples over `nFunctions` functions and about `nStacks` distinct stacks. */
export function synthesize(count: number, seed = 1, nFunctions = 3000, nStacks = 20000): Synthetic {
  const r = rng(seed);
  const functions = [];
  for (let i = 0; i < nFunctions; i++) {
    const file = `/srv/app/src/module${i % 120}/file${i % 37}.js`;
    functions.push({ name: i % 17 === 0 ? "" : `fn${i}_${["parse", "render", "handle", "encode", "visit"][i % 5]}`, file, line: 1 + ((i * 7) % 900), column: 1 + (i % 40), kind: i % 50 === 0 ? FunctionKind.NATIVE : FunctionKind.JS });
  }
  // Call graph with locality: each function calls a few functions with nearby indices.
  const callees: number[][] = [];
  for (let i = 0; i < nFunctions; i++) {
    const k = 2 + Math.floor(r() * 6);
    const list: number[] = [];
    for (let j = 0; j < k; j++) list.push((i + 1 + Math.floor(r() * 60)) % nFunctions);
    callees.push(list);
  }
  const stacks: { fn: number; tier: number }[][] = [];
  const seen = new Set<string>();
  while (stacks.length < nStacks) {
    const depth = 5 + Math.floor(r() * 56);
    const frames: { fn: number; tier: number }[] = [{ fn: Math.floor(r() * 8), tier: Tier.OPTIMIZED }];
    while (frames.length < depth) {
      const c = callees[frames[frames.length - 1].fn];
      const fn = c[Math.floor(r() * r() * c.length)];
      const x = r();
      frames.push({ fn, tier: x < 0.6 ? Tier.OPTIMIZED : x < 0.75 ? Tier.MAGLEV : x < 0.85 ? Tier.BASELINE : Tier.INTERPRETED });
    }
    const key = frames.map((f) => `${f.fn}/${f.tier}`).join(",");
    if (!seen.has(key)) {
      seen.add(key);
      stacks.push(frames);
    }
  }
  const thread = new Uint8Array(count);
  const time = new Float64Array(count);
  const wall = new Float64Array(count);
  const cpu = new Float64Array(count);
  const state = new Uint8Array(count);
  const stack = new Int32Array(count);
  const last = [0, 0];
  let cur = 0;
  for (let i = 0; i < count; i++) {
    const t = r() < 0.8 ? 0 : 1;
    // Jitter around the period, and now and then a longer gap (a missed tick or a busy kernel).
    const step = r() < 0.002 ? 1000 + Math.floor(r() * 20000) : 1000 + Math.round((r() + r() + r() - 1.5) * 40);
    last[t] += step;
    thread[i] = t + 1;
    time[i] = last[t];
    wall[i] = step;
    const x = r();
    if (x < 0.05) {
      state[i] = VmState.IDLE;
      cpu[i] = Math.floor(r() * 20);
      stack[i] = -1;
    } else {
      if (r() > 0.65) cur = Math.floor(stacks.length * Math.pow(r(), 3)); // Zipf-like: low indices hot.
      stack[i] = cur;
      state[i] = x < 0.07 ? VmState.GC : VmState.JS;
      cpu[i] = Math.max(0, step - Math.floor(r() * 30));
    }
  }
  return { functions, stacks, thread, time, wall, cpu, state, stack, count };
}

/** Writes a synthetic profile in our format. */
export function writeSynthetic(s: Synthetic, sink: Sink, compress = true): void {
  const w = new ProfileWriter(sink, { compress });
  w.meta({ start_time: 1_700_000_000_000_000, mode: "cpu", period_us: 1000, node_version: "v20.20.2" });
  const proc = w.addProcess({ pid: 1000, ppid: 1, startTime: 1_700_000_000_000_000, name: "node" });
  w.addThread({ process: proc, tid: 1000, name: "main", kind: 0 });
  w.addThread({ process: proc, tid: 1001, name: "worker 1", kind: 1 });
  const fnIds = s.functions.map((f) => w.addFunction({ ...f, kind: f.kind as FunctionKind }));
  const stackIds = s.stacks.map((frames) => w.stack(frames.map((f) => w.frame(fnIds[f.fn], f.tier as Tier))));
  for (let i = 0; i < s.count; i++) {
    const st = s.stack[i];
    w.sample(s.thread[i], s.time[i], s.wall[i], s.cpu[i], s.state[i], st < 0 ? 0 : stackIds[st]);
  }
  w.end({ samples: s.count, dropped_samples: 0 });
}
