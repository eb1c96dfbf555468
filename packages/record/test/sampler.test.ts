/** What the sampler records, checked on real programs run by the real command. */
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { cpuProfShares, fixture, read, record, share, shares, tempDir } from "./helpers.js";

const dir = tempDir();
const out = (name: string) => path.join(dir, name);

function run(args: string[]) {
  const r = record(args, { cwd: dir });
  assert.equal(r.status, 0, `vmprof-record failed: ${r.stderr}`);
  return r;
}

test("calibration: known CPU shares come out within 3 points, at >= 950 samples per busy second", () => {
  run(["-o", out("cal.prof"), "--", "node", fixture("calibration.cjs"), "2000"]);
  const p = read(out("cal.prof"));
  const s = shares(p);
  const top = share(s, "alpha") + share(s, "beta") + share(s, "gamma");
  const rel = (n: string) => (100 * share(s, n)) / top;
  assert.ok(Math.abs(rel("alpha") - 50) <= 3, `alpha ${rel("alpha").toFixed(1)}%`);
  assert.ok(Math.abs(rel("beta") - 30) <= 3, `beta ${rel("beta").toFixed(1)}%`);
  assert.ok(Math.abs(rel("gamma") - 20) <= 3, `gamma ${rel("gamma").toFixed(1)}%`);
  let cpuUs = 0;
  for (let i = 0; i < p.samples.count; i++) cpuUs += p.samples.cpu[i];
  const rate = p.samples.count / (cpuUs / 1e6);
  assert.ok(rate >= 950, `achieved ${rate.toFixed(0)} samples per CPU second`);
  assert.equal(p.meta.get("mode"), "cpu");
  assert.equal(p.meta.get("period_us"), 990);
  assert.equal(p.meta.get("samples"), p.samples.count);
  assert.equal(typeof p.meta.get("dropped_samples"), "number");
});

test("an inlined helper keeps its own time: within 5 points of node --cpu-prof, callers within 3", () => {
  run(["-o", out("inline.prof"), "--", "node", fixture("calibration.cjs"), "2000"]);
  const ours = shares(read(out("inline.prof")));
  const cpuDir = path.join(dir, "cpuprof-inline");
  const v8 = cpuProfShares(fixture("calibration.cjs"), ["2000"], cpuDir);
  const msg = (n: string, k: "total" | "self") => `${n} ${k}: ours ${share(ours, n, k).toFixed(1)}%, --cpu-prof ${share(v8, n, k).toFixed(1)}%`;
  assert.ok(share(v8, "spin", "self") > 80, msg("spin", "self"));
  assert.ok(Math.abs(share(ours, "spin", "self") - share(v8, "spin", "self")) <= 5, msg("spin", "self"));
  for (const n of ["alpha", "beta", "gamma"]) assert.ok(Math.abs(share(ours, n) - share(v8, n)) <= 3, msg(n, "total"));
});

test("JIT tiers: the hot helper's samples are mostly optimized code", () => {
  const p = read(out("inline.prof"));
  const spinFrames = p.frames.filter((f) => p.functions[f.function - 1].name === "spin");
  assert.ok(spinFrames.some((f) => f.tier === 4), "a TurboFan frame of spin");
  assert.ok(p.frames.some((f) => f.tier === 1), "some interpreted frames");
});

test("wall mode shows blocking waits and idle time; cpu mode does not", () => {
  run(["--mode", "wall", "-o", out("wall.prof"), "--", "node", fixture("waits.cjs")]);
  run(["--mode", "cpu", "-o", out("cpu.prof"), "--", "node", fixture("waits.cjs")]);
  const wall = read(out("wall.prof"));
  const w = shares(wall, "wall");
  const c = shares(read(out("cpu.prof")), "cpu");
  const line = `wall: ${["burner", "sleeper", "shell", "(idle)"].map((n) => `${n} ${share(w, n).toFixed(1)}`)}; cpu: ${["burner", "sleeper", "shell", "(idle)"].map((n) => `${n} ${share(c, n).toFixed(1)}`)}`;
  for (const n of ["sleeper", "shell", "(idle)"]) {
    assert.ok(share(w, n) >= 12, `${n} in wall mode: ${line}`);
    assert.ok(share(c, n) <= 3, `${n} in cpu mode: ${line}`);
  }
  assert.ok(share(w, "burner") >= 30 && share(c, "burner") >= 85, line);
  // Wall mode samples elapsed time at the requested rate, waits included.
  const main = wall.samples;
  const elapsed = (main.time[main.count - 1] - main.time[0]) / 1e6;
  assert.ok(main.count / elapsed >= 950, `wall mode: ${(main.count / elapsed).toFixed(0)} samples/s over ${elapsed.toFixed(2)} s`);
  let wallSum = 0;
  for (let i = 0; i < main.count; i++) wallSum += main.wall[i];
  assert.ok(Math.abs(wallSum / 1e6 - elapsed) < 0.05, "wall weights add up to the elapsed time");
});

test("worker threads: 4 workers and the main thread, each its own thread", () => {
  run(["-o", out("workers.prof"), "--", "node", fixture("workers.cjs")]);
  const p = read(out("workers.prof"));
  assert.equal(p.processes.length, 1);
  const workers = p.threads.filter((t) => t.kind === 1);
  assert.equal(workers.length, 4);
  assert.equal(p.threads.filter((t) => t.kind === 0).length, 1);
  assert.equal(new Set(p.threads.map((t) => t.tid)).size, 5);
  for (const t of workers) {
    const s = shares(p, "samples", [t.tid]);
    assert.ok(share(s, "burnInWorker") > 80, `${t.name}: burnInWorker ${share(s, "burnInWorker").toFixed(1)}%`);
  }
});

test("a forking program yields both processes, the child with its parent's pid", () => {
  run(["-o", out("fork.prof"), "--", "node", fixture("fork.cjs")]);
  const p = read(out("fork.prof"));
  assert.equal(p.processes.length, 2);
  const [parent, child] = p.processes;
  assert.equal(child.ppid, parent.pid);
  const tidOf = (pid: number) => p.threads.find((t) => p.processes[t.process - 1].pid === pid)!.tid;
  assert.ok(share(shares(p, "samples", [tidOf(child.pid)]), "childWork") > 80);
  assert.ok(share(shares(p, "samples", [tidOf(parent.pid)]), "parentWork") > 50);
  assert.equal(share(shares(p, "samples", [tidOf(parent.pid)]), "childWork"), 0);

  run(["--no-children", "-o", out("nochildren.prof"), "--", "node", fixture("fork.cjs")]);
  const q = read(out("nochildren.prof"));
  assert.equal(q.processes.length, 1);
  assert.equal(share(shares(q), "childWork"), 0);
});

test("an ES module is profiled like CommonJS", () => {
  run(["-o", out("esm.prof"), "--", "node", fixture("esm.mjs")]);
  assert.ok(share(shares(read(out("esm.prof"))), "esmWork") > 80);
});

test("a real workload: the same hottest functions as node --cpu-prof", () => {
  const work = ["jsonWork", "regexWork", "sortWork", "recursionWork", "classWork"];
  run(["-o", out("workload.prof"), "--", "node", fixture("workload.cjs"), "60"]);
  const ours = shares(read(out("workload.prof")));
  const v8 = cpuProfShares(fixture("workload.cjs"), ["60"], path.join(dir, "cpuprof-workload"));
  const rank = (s: Map<string, { total: number; self: number }>) => [...work].sort((a, b) => share(s, b) - share(s, a));
  const detail = work.map((n) => `${n} ${share(ours, n).toFixed(1)}/${share(v8, n).toFixed(1)}`).join(", ");
  assert.equal(rank(ours)[0], rank(v8)[0], `hottest (ours/--cpu-prof): ${detail}`);
  assert.deepEqual(new Set(rank(ours).slice(0, 3)), new Set(rank(v8).slice(0, 3)), `top 3: ${detail}`);
  for (const n of work) assert.ok(Math.abs(share(ours, n) - share(v8, n)) <= 5, detail);
});

test("a cluster: the primary and each worker are profiled, each its own process", () => {
  run(["-o", out("cluster.prof"), "--", "node", fixture("cluster.cjs")]);
  const p = read(out("cluster.prof"));
  assert.equal(p.processes.length, 3);
  const [primary, ...workers] = p.processes;
  for (const w of workers) {
    assert.equal(w.ppid, primary.pid);
    const tid = p.threads.find((t) => p.processes[t.process - 1].pid === w.pid)!.tid;
    assert.ok(share(shares(p, "samples", [tid]), "clusterWork") > 70, `worker ${w.pid}`);
  }
});

test("-- npm start and -- npx tsx app.ts: the program behind npm and tsx is profiled", () => {
  const npmApp = path.join(fixture("npm-app"));
  const r = record(["-o", out("npm.prof"), "--", "npm", "start", "--silent"], { cwd: npmApp });
  assert.equal(r.status, 0, r.stderr.toString());
  const p = read(out("npm.prof"));
  assert.ok(p.processes.length >= 2, "npm and the app"); // npm itself is a Node program
  assert.ok(share(shares(p), "appWork") > 20, `appWork ${share(shares(p), "appWork")}`);

  const tsx = path.resolve(fixture("."), "../../../../node_modules/.bin/tsx");
  run(["-o", out("tsx.prof"), "--", tsx, fixture("app.ts")]);
  const q = read(out("tsx.prof"));
  const typed = q.functions.find((f) => f.name === "typedWork");
  assert.ok(typed, "typedWork is named");
  assert.match(typed.file, /app\.ts$/);
  assert.ok(share(shares(q), "typedWork") > 20, `typedWork ${share(shares(q), "typedWork")}`);
});
