/**
 * Fidelity on a real program: the TypeScript compiler type-checking generated modules, recorded
 * RUNS times by `node --cpu-prof` and by `vmprof-record` at the same interval, alternating, then again
 * with Maglev's inlining turned off in the program (`--no-maglev-inlining`, both profilers alike).
 * Prints how closely our top functions agree with --cpu-prof's against how closely two --cpu-prof
 * runs agree with each other (issue 12, item 2).
 *
 * Self shares: each sample's time goes to its innermost frame in a user script (a file, not `node:`),
 * in both kinds of profile alike (builtins, VM states and Node's internals fold into the user function
 * that called them); samples with no such frame are left out; shares in % of the rest. Per pair of
 * profiles: how many of the two top-10s are common, the worst gap (points) over the two top-10s, and
 * the L1 distance (points) over the two top-25s.
 *
 * V8's JIT code events carry no source positions for Maglev's code (its code generator logs none), so
 * a function Maglev inlined keeps its time in its caller; --cpu-prof reads the code's position
 * tables directly and expands them. The run without Maglev's inlining tells that part from the rest.
 *
 *   node tools/bench/dist/fidelity.js [runs=3] [node major=26] [modules=300] [interval us=250]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { aggregate, forEachPath, functionInfo, readProfileSync, type Profile } from "@vmprof/format";
import { readAnyProfile } from "vmprof-convert";

const RUNS = Number(process.argv[2] ?? 3);
const MAJOR = process.argv[3] ?? "26";
const MODULES = Number(process.argv[4] ?? 300);
const INTERVAL_US = Number(process.argv[5] ?? 250);
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const require = createRequire(import.meta.url);
const recorder = join(root, "packages/record/bin/run.cjs");
const tsc = require.resolve("typescript/lib/tsc.js");

/** The Node binary of `major`: this one, or the one the native build fetched for its ABI builds. */
function nodeBinary(major: string): string {
  if (process.versions.node.split(".")[0] === major) return process.execPath;
  const { nodeHome } = require(join(root, "packages/native/scripts/build-abi.cjs")) as { nodeHome: (m: string) => string };
  return join(nodeHome(major), "bin", "node");
}

/** A TypeScript project of `n` modules, each importing the one before (generics, conditional types, classes). */
function project(dir: string, n: number): string {
  const p = join(dir, "project");
  mkdirSync(join(p, "src"), { recursive: true });
  for (let i = 0; i < n; i++) {
    const prev = i > 0 ? `import { T${i - 1}, f${i - 1} } from "./m${i - 1}";\n` : "";
    writeFileSync(
      join(p, "src", `m${i}.ts`),
      `${prev}export interface T${i} { a: number; b: string; c: ${i > 0 ? `T${i - 1}` : "number"}[]; d?: Map<string, T${i}> }
export type U${i}<X> = X extends string ? { s: X; n: ${i} } : X extends number ? [X, T${i}] : never;
export function f${i}<K extends keyof T${i}>(x: T${i}, k: K): T${i}[K] { ${i > 0 ? `f${i - 1}(x.c[0] as any, "a");` : ""} return x[k]; }
export class C${i}<X> { constructor(public v: U${i}<X>, public t: T${i}) {} map<Y>(g: (v: U${i}<X>) => Y): Y[] { return [g(this.v)]; } }
export const v${i}: Array<U${i}<"q">> = [{ s: "q", n: ${i} }];
`,
    );
  }
  writeFileSync(join(p, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: "ES2022", module: "commonjs" }, include: ["src"] }));
  return p;
}

function check(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { cwd, env, stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.status ?? r.signal}`);
}

/** Self shares (%) by `name@line` of the innermost user-script frame of each sample. */
function selfShares(p: Profile): Map<string, number> {
  const agg = aggregate(p, { weight: "samples" });
  const keys = new Map<number, string | null>();
  const key = (id: number) => {
    let k = keys.get(id);
    if (k === undefined) {
      const f = functionInfo(p, id);
      keys.set(id, (k = f.file && !f.file.startsWith("node:") ? `${f.name}@${f.line}` : null));
    }
    return k;
  };
  const shares = new Map<string, number>();
  let total = 0;
  forEachPath(agg, (functions, _w, count) => {
    for (let i = functions.length - 1; i >= 0; i--) {
      const k = key(functions[i]);
      if (k === null) continue;
      shares.set(k, (shares.get(k) ?? 0) + count);
      total += count;
      return;
    }
  });
  for (const [k, v] of shares) shares.set(k, (100 * v) / total);
  return shares;
}

interface Agreement { common: number; worst: number; l1: number }
const top = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k]) => k);
function agreement(a: Map<string, number>, b: Map<string, number>): Agreement {
  const ta = top(a, 10), tb = top(b, 10);
  const gap = (k: string) => Math.abs((a.get(k) ?? 0) - (b.get(k) ?? 0));
  let l1 = 0;
  for (const k of new Set([...top(a, 25), ...top(b, 25)])) l1 += gap(k);
  return { common: ta.filter((k) => tb.includes(k)).length, worst: Math.max(...[...ta, ...tb].map(gap)), l1 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)} (median ${median(xs).toFixed(digits)})`;

const dir = mkdtempSync(join(tmpdir(), "vmprof-fidelity-"));
const node = nodeBinary(MAJOR);
const cwd = project(dir, MODULES);
// The recorder started by the Node under test: the program's `node` is the first on PATH.
const env = { ...process.env, PATH: `${dirname(node)}:${process.env.PATH}` };
console.log(`tsc on ${MODULES} modules, Node ${spawnSync(node, ["-p", "process.version"], { encoding: "utf8" }).stdout.trim()}, ${RUNS} runs of each profiler at ${INTERVAL_US} µs, alternating`);
console.log("program flags           pairs                      top-10 common           worst gap (points)          L1 over top-25 (points)");
for (const flags of [[], ["--no-maglev-inlining"]]) {
  const ours: Map<string, number>[] = [], theirs: Map<string, number>[] = [];
  for (let i = 0; i < RUNS; i++) {
    const d = join(dir, `cpu-prof-${i}`);
    check(node, [...flags, "--cpu-prof", "--cpu-prof-interval", String(INTERVAL_US), "--cpu-prof-dir", d, tsc, "-p", "."], cwd);
    const file = join(dir, `c${i}.cpuprofile`);
    renameSync(join(d, readdirSync(d)[0]), file);
    theirs.push(selfShares((await readAnyProfile(file)).profile));
    const out = join(dir, `v${i}.prof`);
    check(recorder, ["--period", String(INTERVAL_US / 1e6), "-o", out, "--", "node", ...flags, tsc, "-p", "."], cwd, env);
    ours.push(selfShares(readProfileSync(out)));
  }
  const pairs: Record<string, Agreement[]> = { "--cpu-prof vs --cpu-prof": [], "vmprof vs --cpu-prof": [], "vmprof vs vmprof": [] };
  for (let i = 0; i < RUNS; i++) {
    for (let j = i + 1; j < RUNS; j++) pairs["--cpu-prof vs --cpu-prof"].push(agreement(theirs[i], theirs[j]));
    for (let j = i + 1; j < RUNS; j++) pairs["vmprof vs vmprof"].push(agreement(ours[i], ours[j]));
    for (let j = 0; j < RUNS; j++) pairs["vmprof vs --cpu-prof"].push(agreement(ours[i], theirs[j]));
  }
  for (const [name, rs] of Object.entries(pairs)) {
    if (rs.length === 0) continue;
    console.log(
      `${(flags.join(" ") || "(none)").padEnd(23)} ${name.padEnd(26)} ${range(rs.map((r) => r.common), 0).padEnd(23)} ${range(rs.map((r) => r.worst), 2).padEnd(27)} ${range(rs.map((r) => r.l1), 2)}`,
    );
  }
}
rmSync(dir, { recursive: true, force: true });
