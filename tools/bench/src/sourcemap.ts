/**
 * Source-map resolution of a large bundle, the end-of-recording step of vmprof-record: an esbuild
 * bundle of 1,150 generated TypeScript modules (its map about 10 MB), a profile with a function and a
 * frame in each of its 23,000 functions, resolved cold (read, parse, check, decode, look up) several
 * times; prints the median and the spread. Target (issue 14): under 1 s.
 *
 *   node tools/bench/dist/sourcemap.js [runs=7] [modules=1150]
 */
import { resolveSources } from "@vmprof/sourcemap";
import { bigBundle } from "../../../packages/sourcemap/dist/test/bundle.js";

const RUNS = Number(process.argv[2] ?? 7);
const MODULES = Number(process.argv[3] ?? 1150);
const { profile, mapBytes } = bigBundle(MODULES);
const ms: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const r = resolveSources(profile);
  ms.push(performance.now() - t0);
  if (r.functions !== profile.functions.length) throw new Error(`mapped ${r.functions} of ${profile.functions.length} functions`);
}
ms.sort((a, b) => a - b);
console.log(`${(mapBytes / 1e6).toFixed(1)} MB map, ${MODULES} sources, ${profile.functions.length} functions and frames: resolved cold in ${ms[ms.length >> 1].toFixed(0)} ms median (${ms[0].toFixed(0)}..${ms[ms.length - 1].toFixed(0)}), ${RUNS} runs`);
