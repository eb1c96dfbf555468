import assert from "node:assert/strict";
import { test } from "node:test";
import { ProfileWriter, VmState, decodeProfile, dumpProfile, memorySink, writeProfiles, type Profile } from "../src/index.js";
import { FIXTURES, fixtureBytes } from "./golden-fixtures.js";

function encode(inputs: Profile[]): Uint8Array {
  const sink = memorySink();
  writeProfiles(inputs, sink);
  return sink.bytes();
}

function rewrite(inputs: Profile[]): Profile {
  return decodeProfile(encode(inputs), "merged.prof");
}

test("re-encoding a profile keeps everything its dump shows", () => {
  for (const f of FIXTURES) {
    const p = decodeProfile(fixtureBytes(f), "x");
    assert.equal(dumpProfile(rewrite([p])), dumpProfile(p), f.name);
  }
});

/** A one-process profile as a child process would write it, starting `offset` µs after `base`. */
function child(pid: number, ppid: number, offset: number, samples: number): Profile {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  const base = 1_764_000_000_000_000;
  w.meta({ start_time: base + offset, argv: ["node", `p${pid}.js`], samples, dropped_samples: 1 });
  const T = w.addThread({ process: w.addProcess({ pid, ppid }), tid: pid, name: "main" });
  const s = w.stack([w.frame(w.addFunction({ name: `work${pid}`, file: `/p${pid}.js`, line: 1 }))]);
  for (let i = 1; i <= samples; i++) w.sample(T, i * 1000, 1000, 1000, VmState.JS, s);
  w.end({ end_time: base + offset + samples * 1000 });
  return decodeProfile(sink.bytes(), `p${pid}.prof`);
}

test("merging a parent and its children: renumbered ids, one origin, summed counters", () => {
  const parent = child(10, 1, 0, 30);
  const kid = child(11, 10, 5000, 20);
  const truncatedKid = decodeProfile(encode([child(12, 10, 7000, 10)]).subarray(0, -2), "p12.prof");
  assert.ok(truncatedKid.truncation);
  const m = rewrite([parent, kid, truncatedKid]);
  assert.equal(m.truncation, undefined);
  assert.deepEqual(m.processes.map((p) => [p.pid, p.ppid]), [[10, 1], [11, 10], [12, 10]]);
  assert.deepEqual(m.threads.map((t) => m.processes[t.process - 1].pid), [10, 11, 12]);
  assert.equal(m.samples.count, 60);
  assert.equal(m.meta.get("start_time"), 1_764_000_000_000_000);
  assert.equal(m.meta.get("samples"), 60);
  assert.equal(m.meta.get("dropped_samples"), 3);
  assert.equal(m.meta.get("end_time"), 1_764_000_000_030_000);
  assert.deepEqual(m.processes[1].meta.get("argv"), ["node", "p11.js"]);
  // The child's first sample was 1000 µs after its own origin, which is 5000 µs after the parent's.
  const firstOf = (tid: number) => m.samples.time[m.samples.thread.indexOf(m.threads.find((t) => t.tid === tid)!.id)];
  assert.equal(firstOf(10), 1000);
  assert.equal(firstOf(11), 6000);
  assert.equal(firstOf(12), 8000);
  // Each child's samples land on its own function.
  const names = new Set<string>();
  for (let i = 0; i < m.samples.count; i++) {
    const fr = m.frames[m.stacks.frame[m.samples.stack[i]] - 1];
    names.add(`${m.threads[m.samples.thread[i] - 1].tid}:${m.functions[fr.function - 1].name}`);
  }
  assert.deepEqual([...names].sort(), ["10:work10", "11:work11", "12:work12"]);
});


test("merging processes that ran the same code: one function each, samples kept apart by thread", () => {
  const sameCode = (pid: number) => {
    const sink = memorySink();
    const w = new ProfileWriter(sink);
    w.meta({ start_time: 1_764_000_000_000_000 });
    w.addProcess({ pid, ppid: 1, name: "node" });
    const T = w.addThread({ process: 1, tid: pid, name: "main" });
    const s = w.stack([w.frame(w.addFunction({ name: "shared", file: "/app.js", line: 3, column: 1 }))]);
    for (let i = 1; i <= 5; i++) w.sample(T, i * 1000, 1000, 1000, VmState.JS, s);
    w.end();
    return decodeProfile(sink.bytes(), `p${pid}.prof`);
  };
  const m = rewrite([sameCode(20), sameCode(21)]);
  assert.deepEqual(m.functions.map((f) => f.name), ["shared"]);
  assert.equal(m.samples.count, 10);
  assert.equal(new Set(m.samples.thread).size, 2);
});
