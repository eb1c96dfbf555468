/**
 * The golden profiles: small, deterministic, covering every record type, tier, VM state, function kind
 * and meta value kind. `node dist/test/golden-fixtures.js --write` (npm run golden:update) regenerates
 * test/golden/NAME.prof and NAME.dump.txt; the golden test checks that the writer still produces the
 * same bytes (plain encodings only: deflate output may differ between zlib builds) and that the reader
 * still produces the same dump. test/golden/v1.0 and v1.1 hold files of formats 1.0 (frames without
 * positions) and 1.1 (no label sets), which readers must keep reading; they are never regenerated.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FunctionKind, ProfileWriter, ThreadKind, Tier, VmState, decodeProfile, dumpProfile, memorySink } from "../src/index.js";

/** Where the goldens live (in the source tree, not dist). */
export const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "golden");

/** A tiny deterministic PRNG (xorshift32), so fixtures do not depend on Math.random. */
export function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** vmprof's own example (x.py) as a Node program: main -> f -> h -> g, with known shares. */
function basic(w: ProfileWriter): void {
  w.meta({ start_time: 1_764_000_000_000_000, mode: "cpu", period_us: 990, node_version: "v20.20.2", argv: ["node", "x.js"] });
  const P = w.addProcess({ pid: 4242, ppid: 1, startTime: 1_764_000_000_000_000, name: "node" });
  const T = w.addThread({ process: P, tid: 4242, name: "main", kind: ThreadKind.MAIN });
  const main = w.addFunction({ name: "", file: "/app/x.js", line: 1, column: 1 });
  const f = w.addFunction({ name: "f", file: "/app/x.js", line: 9, column: 11 });
  const h = w.addFunction({ name: "h", file: "/app/x.js", line: 6, column: 11 });
  const g = w.addFunction({ name: "g", file: "/app/x.js", line: 2, column: 11 });
  const M = w.frame(main, Tier.INTERPRETED);
  const F = w.frame(f, Tier.OPTIMIZED);
  const stacks = [
    w.stack([M, F]),
    w.stack([M, F, w.frame(h, Tier.OPTIMIZED)]),
    w.stack([M, F, w.frame(h, Tier.OPTIMIZED), w.frame(g, Tier.MAGLEV)]),
  ];
  // 100 samples: f self 45, h self 41, g 14 (the x.py shares: h cumulative 55%, g 14%).
  const plan = [...Array(45).fill(0), ...Array(41).fill(1), ...Array(14).fill(2)];
  const r = prng(7);
  let t = 0;
  for (let i = 0; i < plan.length; i++) {
    const step = 990 + Math.floor(r() * 21) - 10;
    t += step;
    w.sample(T, t, step, step - Math.floor(r() * 5), VmState.JS, stacks[plan[(i * 37) % plan.length]]);
  }
  w.end({ end_time: 1_764_000_000_100_000, samples: 100, dropped_samples: 0 });
}

/** Two processes (parent and forked child), a worker, every tier, state, kind and meta kind. */
function multi(w: ProfileWriter): void {
  w.meta({ start_time: 1_764_000_000_000_000, mode: "wall", period_us: 990, ratio: 0.25, argv: ["node", "--token=<redacted>", "srv.js"] });
  const P1 = w.addProcess({ pid: 100, ppid: 1, startTime: 1_764_000_000_000_000, name: "node srv.js" });
  w.meta({ node_version: "v22.11.0", v8_version: "12.4.254.21-node.21" }, P1);
  const P2 = w.addProcess({ pid: 101, ppid: 100, startTime: 1_764_000_000_050_000, name: "node child.js" });
  const threads = [
    w.addThread({ process: P1, tid: 100, name: "main", kind: ThreadKind.MAIN }),
    w.addThread({ process: P1, tid: 107, name: "worker 1", kind: ThreadKind.WORKER }),
    w.addThread({ process: P2, tid: 101, name: "main", kind: ThreadKind.MAIN }),
  ];
  const fns = [
    w.addFunction({ name: "handle", file: "file:///srv/srv.js", line: 10, column: 3 }),
    w.addFunction({ name: "JSON.parse", kind: FunctionKind.BUILTIN }),
    w.addFunction({ name: "readFileSync", file: "node:fs", line: 441, column: 22 }),
    w.addFunction({ name: "uv_fs_read", kind: FunctionKind.NATIVE }),
    w.addFunction({ name: "wasm-function[3]", kind: FunctionKind.OTHER }),
    w.addFunction({ name: "with;semi colon\nand newline", file: "/srv/odd name.js", line: 2, column: 0 }),
    w.addFunction({ name: "ünïcode→λ", file: "/srv/ü.js", line: 1, column: 1 }),
  ];
  const tiers = [Tier.UNKNOWN, Tier.INTERPRETED, Tier.BASELINE, Tier.MAGLEV, Tier.OPTIMIZED];
  const r = prng(11);
  const stacks: number[] = [];
  for (let k = 0; k < 12; k++) {
    const depth = 1 + Math.floor(r() * 5);
    const frames = [];
    for (let d = 0; d < depth; d++) frames.push(w.frame(fns[Math.floor(r() * fns.length)], tiers[Math.floor(r() * tiers.length)]));
    stacks.push(w.stack(frames));
  }
  const last = [0, 0, 0];
  for (let i = 0; i < 300; i++) {
    const ti = Math.floor(r() * 3);
    const step = i % 50 === 49 ? 25_000 : 980 + Math.floor(r() * 40);
    last[ti] += step;
    const state = Math.floor(r() * 7);
    const stack = r() < 0.1 ? 0 : stacks[Math.floor(r() * stacks.length)];
    w.sample(threads[ti], last[ti], step, state === VmState.IDLE ? 0 : Math.floor(step * r()), state, stack);
    if (i === 150) w.flush();
  }
  w.meta({ samples: 150 }, P2);
  w.end({ end_time: 1_764_000_000_400_000, samples: 300, dropped_samples: 3 });
}

/**
 * Format 1.1: a TypeScript program compiled to JS, with per-frame positions, the script's source map
 * URL, and the source-map origin of two functions and their frames (one with no original name).
 */
function sources(w: ProfileWriter): void {
  w.meta({ start_time: 1_764_000_000_000_000, mode: "cpu", period_us: 1000 });
  const P = w.addProcess({ pid: 7, ppid: 1, name: "node" });
  const T = w.addThread({ process: P, tid: 7, name: "main", kind: ThreadKind.MAIN });
  w.addScript("/app/dist/x.js", "x.js.map");
  const main = w.addFunction({ name: "main", file: "/app/dist/x.js", line: 3, column: 10, source: { name: "main", file: "/app/src/x.ts", line: 4, column: 17 } });
  const a = w.addFunction({ name: "a", file: "/app/dist/x.js", line: 9, column: 11, source: { name: "", file: "/app/src/x.ts", line: 12, column: 1 } });
  const lib = w.addFunction({ name: "lib", file: "/app/node_modules/lib.js", line: 1, column: 1 });
  const M = w.frame(main, Tier.OPTIMIZED, 5, 3, { file: "", line: 6, column: 5 });
  const A1 = w.frame(a, Tier.OPTIMIZED, 10, 7, { file: "", line: 13, column: 9 });
  const A2 = w.frame(a, Tier.OPTIMIZED, 11, 7, { file: "/app/src/util.ts", line: 2, column: 3 });
  const L = w.frame(lib, Tier.INTERPRETED, 2, 5);
  const stacks = [w.stack([M]), w.stack([M, A1]), w.stack([M, A2]), w.stack([M, A1, L])];
  for (let i = 0; i < 40; i++) w.sample(T, 1000 * (i + 1), 1000, 1000, VmState.JS, stacks[i % 4]);
  w.end({ samples: 40, dropped_samples: 0 });
}

/**
 * Format 1.2: label sets. A server's two routes, one label set shared by two threads, a set of two
 * keys, samples without a set between labelled ones, a batch with no labels at all, and a
 * profile-level label in the metadata.
 */
function labels(w: ProfileWriter): void {
  w.meta({ start_time: 1_764_000_000_000_000, mode: "cpu", period_us: 1000, "label.env": "prod" });
  const P = w.addProcess({ pid: 9, ppid: 1, name: "node srv.js" });
  const T1 = w.addThread({ process: P, tid: 9, name: "main", kind: ThreadKind.MAIN });
  const T2 = w.addThread({ process: P, tid: 12, name: "worker 1", kind: ThreadKind.WORKER });
  const handle = w.addFunction({ name: "handle", file: "/srv/srv.js", line: 3, column: 1 });
  const a = w.addFunction({ name: "routeA", file: "/srv/srv.js", line: 10, column: 1 });
  const b = w.addFunction({ name: "routeB", file: "/srv/srv.js", line: 20, column: 1 });
  const H = w.frame(handle, Tier.OPTIMIZED, 5, 3);
  const sa = w.stack([H, w.frame(a, Tier.OPTIMIZED, 11, 5)]);
  const sb = w.stack([H, w.frame(b, Tier.OPTIMIZED, 21, 5)]);
  const LA = w.labelSet([["route", "/a"]]);
  const LB = w.labelSet([["tenant", "x"], ["route", "/b"]]);
  for (let i = 0; i < 70; i++) {
    const route = i % 10 < 7 ? LA : LB;
    w.sample(T1, 1000 * (i + 1), 1000, 1000, i % 9 === 8 ? VmState.GC : VmState.JS, i % 9 === 8 ? 0 : route === LA ? sa : sb, i % 13 === 12 ? 0 : route);
  }
  for (let i = 0; i < 10; i++) w.sample(T2, 1000 * (i + 1), 1000, 900, VmState.JS, sa, LA);
  w.flush();
  for (let i = 0; i < 5; i++) w.sample(T2, 20_000 + 1000 * i, 1000, 0, VmState.IDLE, 0);
  w.end({ samples: 85, dropped_samples: 0 });
}

export interface Fixture {
  name: string;
  /** Whether the bytes are expected to be identical across zlib builds. */
  exactBytes: boolean;
  build: (w: ProfileWriter) => void;
  compress: boolean;
}

export const FIXTURES: Fixture[] = [
  { name: "basic", build: basic, compress: false, exactBytes: true },
  { name: "multi", build: multi, compress: false, exactBytes: true },
  { name: "multi-deflate", build: multi, compress: true, exactBytes: false },
  { name: "sources", build: sources, compress: false, exactBytes: true },
  { name: "labels", build: labels, compress: false, exactBytes: true },
  { name: "labels-deflate", build: labels, compress: true, exactBytes: false },
];

/** The bytes the current writer produces for a fixture. */
export function fixtureBytes(f: Fixture): Uint8Array {
  const sink = memorySink();
  f.build(new ProfileWriter(sink, { compress: f.compress, batchSize: 64 }));
  return sink.bytes();
}

if (process.argv.includes("--write")) {
  for (const f of FIXTURES) {
    const bytes = fixtureBytes(f);
    writeFileSync(join(GOLDEN_DIR, `${f.name}.prof`), bytes);
    writeFileSync(join(GOLDEN_DIR, `${f.name}.dump.txt`), dumpProfile(decodeProfile(bytes, `${f.name}.prof`)));
    console.log(`wrote ${f.name}.prof (${bytes.length} bytes) and ${f.name}.dump.txt`);
  }
}
