import assert from "node:assert/strict";
import { test } from "node:test";
import { FIXTURES, fixtureBytes } from "./golden-fixtures.js";
import {
  ProfileDecoder,
  ProfileWriter,
  RunningAggregate,
  SamplePaths,
  functionIdLimit,
  SelectionError,
  Tier,
  VmState,
  aggregate,
  callTree,
  decodeProfile,
  findFunctions,
  functionInfo,
  functionProfile,
  functionTable,
  tierKey,
  threadTable,
  memorySink,
  stateFunctionId,
  type Profile,
  type TreeNode,
} from "../src/index.js";

/**
 * Process 10 (threads main 10 and worker 11) and process 20 (main 20). T1 samples every 1000 µs:
 * 10 x main>a>b, 5 x main>a, 3 x main>c>c>c, 2 x no frames in GC, 2 x main>a in native code.
 * T2: 4 x main>b with cpu 0. T3: 6 x main in idle.
 */
function build(): Profile {
  const sink = memorySink();
  const w = new ProfileWriter(sink, { batchSize: 3 });
  const P1 = w.addProcess({ pid: 10 });
  const P2 = w.addProcess({ pid: 20, ppid: 10 });
  const T1 = w.addThread({ process: P1, tid: 10, name: "main" });
  const T2 = w.addThread({ process: P1, tid: 11, name: "worker", kind: 1 });
  const T3 = w.addThread({ process: P2, tid: 20, name: "main" });
  const [main, a, b, c] = ["main", "a", "b", "c"].map((name, i) => w.addFunction({ name, file: "/q.js", line: i + 1, column: 1 }));
  const M = w.frame(main, Tier.OPTIMIZED);
  const A = w.frame(a, Tier.INTERPRETED);
  const Aopt = w.frame(a, Tier.OPTIMIZED);
  const B = w.frame(b, Tier.OPTIMIZED);
  const C = w.frame(c, Tier.BASELINE);
  const plan1: [number[], number][] = [
    ...Array(10).fill([[M, A, B], VmState.JS]),
    ...Array(5).fill([[M, Aopt], VmState.JS]),
    ...Array(3).fill([[M, C, C, C], VmState.JS]),
    ...Array(2).fill([[], VmState.GC]),
    ...Array(2).fill([[M, A], VmState.NATIVE]),
  ];
  plan1.forEach(([frames, state], i) => w.sample(T1, (i + 1) * 1000, 1000, 800, state, w.stack(frames)));
  for (let i = 1; i <= 4; i++) w.sample(T2, i * 1000, 1000, 0, VmState.JS, w.stack([M, B]));
  for (let i = 1; i <= 6; i++) w.sample(T3, i * 1000, 1000, 0, VmState.IDLE, w.stack([M]));
  w.end();
  return decodeProfile(sink.bytes(), "q.prof");
}

const p = build();
const id = (name: string) => findFunctions(p, name)[0];

test("cumulative counts each function once per sample (recursion included); self counts leaves", () => {
  const agg = aggregate(p);
  assert.equal(agg.samples, 32);
  assert.equal(agg.total, 32);
  const t = functionTable(p, agg);
  assert.equal(t.total[id("main")], 30);
  assert.equal(t.total[id("a")], 17);
  assert.equal(t.total[id("b")], 14);
  assert.equal(t.total[id("c")], 3);
  assert.equal(t.self[id("main")], 0);
  assert.equal(t.self[id("a")], 5);
  assert.equal(t.self[id("b")], 14);
  assert.equal(t.self[id("c")], 3);
  assert.equal(t.self[stateFunctionId(p, VmState.GC)], 2);
  assert.equal(t.self[stateFunctionId(p, VmState.NATIVE)], 2);
  assert.equal(t.self[stateFunctionId(p, VmState.IDLE)], 6);
  assert.equal(functionInfo(p, stateFunctionId(p, VmState.GC)).name, "(garbage collector)");
  // Tiers: a ran interpreted in 12 samples (10 + 2 native) and optimized in 5.
  assert.equal(t.totalByTier[tierKey(id("a"), Tier.INTERPRETED)], 12);
  assert.equal(t.totalByTier[tierKey(id("a"), Tier.OPTIMIZED)], 5);
  assert.equal(t.selfByTier[tierKey(id("a"), Tier.OPTIMIZED)], 5);
  let selfSum = 0;
  for (const v of t.self) selfSum += v;
  assert.equal(selfSum, 32, "every sample has exactly one leaf");
});

test("a function on a path twice, in two tiers, counts once for the tier of its innermost frame: its tiers sum to its total", () => {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  const T = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1, name: "main" });
  const f = w.addFunction({ name: "bind", file: "/t.js", line: 1, column: 1 });
  const interpreted = w.frame(f, Tier.INTERPRETED);
  const optimized = w.frame(f, Tier.OPTIMIZED);
  for (let i = 1; i <= 4; i++) w.sample(T, i * 1000, 1000, 1000, VmState.JS, w.stack([interpreted, optimized]));
  for (let i = 5; i <= 6; i++) w.sample(T, i * 1000, 1000, 1000, VmState.JS, w.stack([optimized, interpreted]));
  w.end();
  const q = decodeProfile(sink.bytes(), "t.prof");
  const id = findFunctions(q, "bind")[0];
  const t = functionTable(q, aggregate(q));
  assert.equal(t.total[id], 6);
  assert.equal(t.totalByTier[tierKey(id, Tier.OPTIMIZED)], 4);
  assert.equal(t.totalByTier[tierKey(id, Tier.INTERPRETED)], 2);
});

test("callers and callees (vmprof's function_profile)", () => {
  const agg = aggregate(p);
  const fb = functionProfile(p, agg, id("b"));
  assert.deepEqual(fb.callers, [
    { function: id("a"), weight: 10, count: 10 },
    { function: id("main"), weight: 4, count: 4 },
  ]);
  assert.deepEqual(fb.callees, []);
  assert.equal(fb.total, 14);
  assert.equal(fb.self, 14);
  const fa = functionProfile(p, agg, id("a"));
  assert.deepEqual(fa.callees, [
    { function: id("b"), weight: 10, count: 10 },
    { function: stateFunctionId(p, VmState.NATIVE), weight: 2, count: 2 },
  ]);
  const fc = functionProfile(p, agg, id("c"));
  assert.deepEqual(fc.callers, [
    { function: id("main"), weight: 3, count: 3 },
    { function: id("c"), weight: 3, count: 3 },
  ]);
  assert.deepEqual(fc.callees, [{ function: id("c"), weight: 3, count: 3 }]);
  assert.equal(fc.total, 3);
  const fm = functionProfile(p, agg, id("main"));
  assert.deepEqual(fm.callers, [{ function: 0, weight: 30, count: 30 }]);
});

test("call tree", () => {
  const root = callTree(aggregate(p));
  const find = (n: TreeNode, name: string) => n.children.find((c) => functionInfo(p, c.function).name === name)!;
  assert.equal(root.total, 32);
  const main = find(root, "main");
  assert.equal(main.total, 30);
  assert.equal(find(root, "(garbage collector)").total, 2);
  const a = find(main, "a");
  assert.equal(a.total, 17);
  assert.equal(a.self, 5);
  assert.equal(a.selfByTier[Tier.OPTIMIZED], 5);
  assert.equal(find(a, "b").total, 10);
  assert.equal(find(a, "(native)").total, 2);
  assert.equal(find(main, "b").total, 4);
  assert.equal(find(find(find(main, "c"), "c"), "c").self, 3);
  assert.deepEqual(
    main.children.map((c) => c.total),
    [...main.children.map((c) => c.total)].sort((x, y) => y - x),
    "children sorted heaviest first",
  );
});

test("selection by process, thread and time, and weights", () => {
  assert.equal(aggregate(p, { selection: { pids: [20] } }).samples, 6);
  assert.equal(aggregate(p, { selection: { tids: [11] } }).samples, 4);
  assert.equal(aggregate(p, { selection: { threadNames: ["main"] } }).samples, 28);
  assert.equal(aggregate(p, { selection: { pids: [10], threadNames: ["main"] } }).samples, 22);
  // T1 has samples at 5000..9000 in [5000, 10000); T2 none past 4000; T3 at 5000 and 6000.
  assert.equal(aggregate(p, { selection: { from: 5000, to: 10000 } }).samples, 7);
  const cpu = aggregate(p, { weight: "cpu" });
  assert.equal(cpu.total, 22 * 800);
  assert.equal(functionTable(p, cpu).total[id("b")], 10 * 800);
  const wall = aggregate(p, { weight: "wall" });
  assert.equal(wall.total, 32 * 1000);
  assert.throws(() => aggregate(p, { selection: { pids: [99] } }), (e: Error) => e instanceof SelectionError && /pid 99 is not in q\.prof \(it has: 10, 20\)/.test(e.message));
  assert.throws(() => aggregate(p, { selection: { threadNames: ["nope"] } }), SelectionError);
});

test("lookup by name", () => {
  assert.deepEqual(findFunctions(p, /^[ab]$/).map((f) => functionInfo(p, f).name), ["a", "b"]);
  assert.deepEqual(findFunctions(p, "c /q.js:4"), [id("c")]);
  assert.deepEqual(findFunctions(p, /garbage/).map((f) => functionInfo(p, f).name), ["(garbage collector)"]);
  assert.deepEqual(findFunctions(p, "zzz"), []);
});

test("focus keeps samples through a function (VM states included); ignore drops them", () => {
  const focus = aggregate(p, { filter: { focus: /^b$/ } });
  assert.equal(focus.samples, 14); // 10 main>a>b + 4 main>b
  const gc = aggregate(p, { filter: { focus: /garbage/ } });
  assert.equal(gc.samples, 2);
  const ignore = aggregate(p, { filter: { ignore: /^(b|\(idle\))$/ } });
  assert.equal(ignore.samples, 32 - 14 - 6);
  const t = functionTable(p, ignore);
  assert.equal(t.total[id("b")], 0);
  assert.equal(t.total[id("main")], 10);
});

test("hide removes frames and gives their time to the caller; the samples stay", () => {
  const agg = aggregate(p, { filter: { hide: /^a$/ } });
  assert.equal(agg.samples, 32);
  const t = functionTable(p, agg);
  assert.equal(t.total[id("a")], 0);
  assert.equal(t.self[id("main")], 5); // main>a became main
  assert.equal(t.self[id("b")], 14);
  const tree = callTree(agg);
  const main = tree.children.find((n) => n.function === id("main"))!;
  assert.deepEqual(
    main.children.map((n) => [functionInfo(p, n.function).name, n.total]),
    [["b", 14], ["(idle)", 6], ["c", 3], ["(native)", 2]],
  );
  // hiding every frame of a sample leaves it on the root
  const all = aggregate(p, { filter: { hide: /./ } });
  assert.equal(callTree(all).self, 32);
});

test("functionTable: weights, sample counts and the ranking in one pass; threadTable: the threads a selection covers", () => {
  const cpu = aggregate(p, { weight: "cpu" });
  const t = functionTable(p, cpu);
  const counts = functionTable(p, aggregate(p));
  for (let f = 1; f < t.total.length; f++) {
    assert.equal(t.totalCount[f], counts.total[f], `count of function ${f}`);
    assert.equal(t.selfCount[f], counts.self[f], `self count of function ${f}`);
  }
  assert.deepEqual(t.ids, [...t.ids].sort((a, b) => t.total[b] - t.total[a] || t.self[b] - t.self[a] || a - b));
  assert.ok(t.ids.every((f) => t.totalCount[f] > 0));
  const bySelf = functionTable(p, cpu, "self");
  assert.equal(bySelf.ids[0], [...bySelf.ids].sort((a, b) => bySelf.self[b] - bySelf.self[a])[0]);
  const rows = threadTable(p);
  assert.equal(rows.reduce((n, r) => n + r.samples, 0), p.samples.count);
  for (const r of rows) assert.ok(r.durationUs > 0 && r.endUs >= r.startUs, JSON.stringify(r));
  assert.throws(() => threadTable(p, { tids: [424242] }), /thread id 424242 is not in/);
});

test("RunningAggregate over the snapshots of a growing profile equals aggregate of each snapshot, paths and tables included", () => {
  const options = [
    { weight: "cpu" as const },
    { weight: "samples" as const, filter: { hide: /JSON|^a$|lib/ } },
    { weight: "wall" as const, filter: { hideInternals: true, focus: /handle|main|h/ } },
    { weight: "cpu" as const, filter: { ignore: /uv_fs_read|g/ }, selection: { threadNames: ["main"] } },
    { weight: "samples" as const, selection: { pids: [100], from: 5_000 } },
  ];
  let compared = 0;
  for (const f of FIXTURES) {
    const bytes = fixtureBytes(f);
    for (const o of options) {
      const d = new ProfileDecoder(f.name);
      const running = new RunningAggregate(o);
      for (let i = 0; i < bytes.length; i += 97) {
        d.push(bytes.subarray(i, i + 97));
        const p = d.snapshot();
        let want: ReturnType<typeof aggregate> | SelectionError;
        try {
          want = aggregate(p, o);
        } catch (e) {
          if (!(e instanceof SelectionError)) throw e;
          want = e;
        }
        if (want instanceof SelectionError) {
          assert.throws(() => running.update(p), SelectionError);
          continue;
        }
        const got = running.update(p);
        const at = `${f.name} ${JSON.stringify(o, (_, v) => (v instanceof RegExp ? String(v) : v))} after ${Math.min(bytes.length, i + 97)} bytes`;
        assert.equal(got.samples, want.samples, at);
        assert.equal(got.total, want.total, at);
        assert.deepEqual([...got.stacks], [...want.stacks], at);
        assert.deepEqual([...got.states], [...want.states], at);
        assert.deepEqual([...got.weights], [...want.weights], at);
        assert.deepEqual([...got.counts], [...want.counts], at);
        for (let k = 0; k < want.stacks.length; k++) assert.deepEqual(got.paths.get(want.stacks[k], want.states[k]), want.paths.get(want.stacks[k], want.states[k]), at);
        assert.deepEqual(functionTable(p, got), functionTable(p, want), at);
        compared++;
      }
    }
  }
  assert.ok(compared > 50, String(compared));
});

test("SamplePaths.grown keeps the paths without a state leaf while the hidden functions are the same, and computes the others again", () => {
  const p = build();
  const none = new Uint8Array(functionIdLimit(p));
  const hideA = none.slice();
  hideA[findFunctions(p, /^a$/)[0]] = 1;
  const stack = p.samples.stack[0];
  const before = new SamplePaths(p, none);
  const js = before.get(stack, VmState.JS);
  const gc = before.get(stack, VmState.GC);
  const same = before.grown(p, none.slice());
  assert.equal(same.get(stack, VmState.JS), js, "a frames-only path is shared");
  assert.notEqual(same.get(stack, VmState.GC), gc, "a path with a state leaf is computed again");
  assert.deepEqual(same.get(stack, VmState.GC), gc);
  const hidden = before.grown(p, hideA);
  assert.deepEqual(hidden.get(stack, VmState.JS), new SamplePaths(p, hideA).get(stack, VmState.JS));
  assert.notDeepEqual(hidden.get(stack, VmState.JS).functions, js.functions, "another hidden set: not shared");
});
