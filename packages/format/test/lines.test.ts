import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ProfileWriter,
  Tier,
  VmState,
  aggregate,
  decodeProfile,
  findFunctions,
  forEachPath,
  functionInfo,
  functionTable,
  hasLinePositions,
  lineAggregate,
  lineProfile,
  memorySink,
  stateFunctionId,
  type Profile,
} from "../src/index.js";

/**
 * main (line 1) calls f at line 3 or 4; f (line 10) runs line 11 or recurses at line 12.
 * 6 x main:3 > f:11; 2 x main:4 > f:11; 3 x main:3 > f:12 > f:12 > f:11; 1 x main:3 in GC; 2 x no frames in GC;
 * 2 x main:3 > g (a builtin, line unknown).
 */
function build(): Profile {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  const T = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1, name: "main" });
  const main = w.addFunction({ name: "main", file: "/l.js", line: 1, column: 1 });
  const f = w.addFunction({ name: "f", file: "/l.js", line: 10, column: 1 });
  const g = w.addFunction({ name: "g", kind: 2 });
  const M3 = w.frame(main, Tier.OPTIMIZED, 3, 5);
  const M4 = w.frame(main, Tier.INTERPRETED, 4, 5);
  const F11 = w.frame(f, Tier.OPTIMIZED, 11, 3);
  const F11b = w.frame(f, Tier.INTERPRETED, 11, 9);
  const F12 = w.frame(f, Tier.OPTIMIZED, 12, 3);
  const G = w.frame(g);
  const plan: [number[], number][] = [
    ...Array(6).fill([[M3, F11], VmState.JS]),
    ...Array(2).fill([[M4, F11b], VmState.JS]),
    ...Array(3).fill([[M3, F12, F12, F11], VmState.JS]),
    [[M3], VmState.GC],
    ...Array(2).fill([[], VmState.GC]),
    ...Array(2).fill([[M3, G], VmState.JS]),
  ];
  plan.forEach(([frames, state], i) => w.sample(T, (i + 1) * 1000, 1000, 1000, state, w.stack(frames)));
  w.end();
  return decodeProfile(sink.bytes(), "l.prof");
}

const p = build();

test("a path carries its frame ids beside its functions; the VM-state leaf has frame 0", () => {
  const agg = aggregate(p);
  let seen = 0;
  forEachPath(agg, (functions, _w, _c, _tiers, frames) => {
    assert.equal(frames.length, functions.length);
    functions.forEach((fn, i) => {
      if (frames[i] === 0) assert.ok(fn > p.functions.length, "only the state leaf has frame 0");
      else assert.equal(p.frames[frames[i] - 1].function, fn);
    });
    seen++;
  });
  assert.ok(seen > 0);
  // Hidden functions take their frames with them.
  const hidden = aggregate(p, { filter: { hide: /^f$/ } });
  forEachPath(hidden, (functions, _w, _c, _t, frames) => {
    assert.equal(frames.length, functions.length);
    for (const fr of frames) if (fr !== 0) assert.notEqual(p.frames[fr - 1].function, findFunctions(p, "f")[0]);
  });
});

test("lines as functions: a line's total counts once per sample (recursion included), its self counts leaves", () => {
  assert.ok(hasLinePositions(p));
  const lp = lineProfile(p);
  const t = functionTable(lp.profile, lineAggregate(aggregate(p), lp));
  const row = (name: string, line: number) => {
    const u = lp.profile.functions.find((x) => x.name === name && x.line === line && x.column === 0);
    assert.ok(u, `${name}:${line}`);
    return [t.totalCount[u.id], t.selfCount[u.id]];
  };
  assert.deepEqual(row("main", 3), [12, 0]); // the GC sample at main:3 ends in (garbage collector)
  assert.deepEqual(row("main", 4), [2, 0]);
  assert.deepEqual(row("f", 11), [11, 11]); // two tiers, one line
  assert.deepEqual(row("f", 12), [3, 0]); // on the stack twice in 3 samples: 3
  // A function whose line is unknown is one unit: the function as defined.
  const g = lp.profile.functions.find((x) => x.name === "g")!;
  assert.equal(g.line, 0);
  assert.equal(lp.line[g.id], 0);
  assert.equal(lp.line[lp.profile.frames.find((fr) => fr.line === 12)!.function], 12);
  assert.equal(t.totalCount[g.id], 2);
  // Units map back to their functions, states to the original's states.
  assert.equal(lp.origin[g.id], findFunctions(p, "g")[0]);
  assert.equal(lp.origin[stateFunctionId(lp.profile, VmState.GC)], stateFunctionId(p, VmState.GC));
  assert.equal(functionInfo(lp.profile, stateFunctionId(lp.profile, VmState.GC)).name, "(garbage collector)");
  assert.equal(t.selfCount[stateFunctionId(lp.profile, VmState.GC)], 3);
});

test("hidden functions hide their lines; focus decided on the functions keeps the same samples", () => {
  const agg = aggregate(p, { filter: { hide: /^main$/, focus: /^f$/ } });
  const lp = lineProfile(p);
  const la = lineAggregate(agg, lp);
  assert.equal(la.samples, 11);
  const t = functionTable(lp.profile, la);
  for (const u of t.ids) assert.notEqual(lp.profile.functions[u - 1]?.name, "main");
});

test("a profile without positions has none", () => {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  const T = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
  w.sample(T, 1, 1, 1, VmState.JS, w.stack([w.frame(w.addFunction({ name: "x", file: "/x.js", line: 1 }))]));
  w.end();
  assert.equal(hasLinePositions(decodeProfile(sink.bytes(), "x.prof")), false);
});
