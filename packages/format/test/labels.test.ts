/**
 * Label sets (format 1.2): written, read, merged, selected, and refused when malformed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ProfileBuilder,
  ProfileFormatError,
  ProfileWriter,
  SampleLabels,
  VmState,
  aggregate,
  aggregateGroups,
  decodeProfile,
  effectiveLabelSets,
  labelKeys,
  memorySink,
  selectSamples,
  threadTable,
  writeProfiles,
  type Profile,
} from "../src/index.js";
import { FIXTURES, fixtureBytes } from "./golden-fixtures.js";

const labelsFixture = FIXTURES.find((f) => f.name === "labels")!;

/** One process, one thread, samples labelled by `sets` (0: none) in order; profile label env=prod unless `env` is "". */
function profile(sets: [string, string][][], perSample: number[], env = "prod", processEnv?: string): Profile {
  const sink = memorySink();
  const w = new ProfileWriter(sink, { batchSize: 4 });
  w.meta(env ? { "label.env": env } : {});
  const P = w.addProcess({ pid: 5 });
  if (processEnv) w.meta({ "label.env": processEnv }, P);
  const T = w.addThread({ process: P, tid: 5 });
  const st = w.stack([w.frame(w.addFunction({ name: "work" }))]);
  const ids = [0, ...sets.map((s) => w.labelSet(s))];
  perSample.forEach((s, i) => w.sample(T, 1000 * (i + 1), 1000, 1000, VmState.JS, st, ids[s]));
  w.end();
  return decodeProfile(sink.bytes(), "l.prof");
}

test("a label set is defined once whatever the order of its pairs, and 0 stands for no labels", () => {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  const a = w.labelSet([["route", "/a"], ["tenant", "t1"]]);
  assert.equal(w.labelSet([["tenant", "t1"], ["route", "/a"]]), a);
  assert.notEqual(w.labelSet([["route", "/a"]]), a);
  assert.equal(w.labelSet([]), 0);
  assert.throws(() => w.labelSet([["", "x"]]), /label key must not be empty/);
  assert.throws(() => w.labelSet([["k", "1"], ["k", "2"]]), /label key "k" given twice/);
  const b = new ProfileBuilder();
  assert.equal(b.labelSet([["tenant", "t1"], ["route", "/a"]]), 1);
  assert.equal(b.labelSet([["route", "/a"], ["tenant", "t1"]]), 1);
});

test("runs of label sets across batches read back sample by sample", () => {
  const per = [1, 1, 0, 2, 2, 2, 1, 0, 0, 0, 0, 2, 1];
  const p = profile([[["route", "/a"]], [["route", "/b"]]], per);
  assert.deepEqual([...p.samples.labels], per);
  assert.deepEqual(p.labelSets, [[["route", "/a"]], [["route", "/b"]]]);
});

test("a sample's labels: its own set over its process's label.* over the profile's", () => {
  const p = profile([[["route", "/a"]], [["env", "canary"], ["route", "/b"]]], [1, 2, 0], "prod", "staging");
  const l = new SampleLabels(p);
  assert.deepEqual([...l.of(0)], [["env", "staging"], ["route", "/a"]]);
  assert.deepEqual([...l.of(1)], [["env", "canary"], ["route", "/b"]]);
  assert.deepEqual([...l.of(2)], [["env", "staging"]]);
  assert.deepEqual(labelKeys(p), ["env", "route"]);
});

test("selecting by labels: every pair must match, profile labels count", () => {
  const p = profile([[["route", "/a"]], [["route", "/b"], ["tenant", "x"]]], [1, 2, 0, 2, 1]);
  const pick = (labels: [string, string][]) => [...selectSamples(p, { labels })];
  assert.deepEqual(pick([["route", "/a"]]), [1, 0, 0, 0, 1]);
  assert.deepEqual(pick([["route", "/b"], ["tenant", "x"]]), [0, 1, 0, 1, 0]);
  assert.deepEqual(pick([["route", "/b"], ["tenant", "y"]]), [0, 0, 0, 0, 0]);
  assert.deepEqual(pick([["env", "prod"]]), [1, 1, 1, 1, 1]);
  assert.deepEqual(pick([]), [1, 1, 1, 1, 1]);
});

test("effective label sets: one id per distinct set of a sample's labels, the empty set first", () => {
  const p = profile([[["route", "/a"]], [["env", "canary"], ["route", "/b"]], [["env", "prod"], ["route", "/a"]]], [1, 2, 0, 3, 1]);
  const e = effectiveLabelSets(p);
  // Set 1 under the profile's env=prod and set 3, which says env=prod itself, are one effective set.
  assert.deepEqual(e.sets, [[], [["env", "prod"], ["route", "/a"]], [["env", "canary"], ["route", "/b"]], [["env", "prod"]]]);
  assert.deepEqual([...e.ids], [1, 2, 3, 1, 1]);
  const bare = effectiveLabelSets(profile([[["route", "/a"]]], [0, 1], ""));
  assert.deepEqual(bare.sets, [[], [["route", "/a"]]]);
  assert.deepEqual([...bare.ids], [0, 1]);
});

test("aggregateGroups: each group's aggregate is aggregate() over its samples alone", () => {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  const P = w.addProcess({ pid: 5 });
  const T = w.addThread({ process: P, tid: 5 });
  const [a, b] = [w.addFunction({ name: "a" }), w.addFunction({ name: "b" })];
  const sa = w.stack([w.frame(a)]);
  const sab = w.stack([w.frame(a), w.frame(b)]);
  const [x, y] = [w.labelSet([["g", "x"]]), w.labelSet([["g", "y"]])];
  const rows: [number, number, number, number][] = [
    [sa, VmState.JS, x, 10],
    [sab, VmState.JS, y, 20],
    [0, VmState.GC, x, 30],
    [sab, VmState.JS, x, 40],
    [sa, VmState.IDLE, 0, 50],
    [sab, VmState.JS, y, 60],
  ];
  rows.forEach(([st, state, l, cpu], i) => w.sample(T, 1000 * (i + 1), 1000, cpu, state, st, l));
  w.end();
  const p = decodeProfile(sink.bytes(), "g.prof");
  const group = Uint32Array.from(p.samples.labels);
  const groups = aggregateGroups(p, group, 3, { weight: "cpu" });
  const plain = (agg: ReturnType<typeof aggregate>) => ({ ...agg, paths: undefined });
  const only = (labels: [string, string][]) => aggregate(p, { weight: "cpu", selection: { labels } });
  assert.deepEqual(plain(groups[1]), plain(only([["g", "x"]])));
  assert.deepEqual(plain(groups[2]), plain(only([["g", "y"]])));
  assert.equal(groups[0].samples, 1);
  assert.equal(groups[0].total, 50);
  assert.deepEqual([groups[1].samples, groups[1].total, groups[2].total], [3, 80, 80]);
  // Entries are in aggregate's order: JS stacks first, then the state leaves.
  assert.deepEqual([...groups[1].states], [VmState.JS, VmState.JS, VmState.GC]);
  // The selection still applies, and a group id out of range is refused.
  assert.equal(aggregateGroups(p, group, 3, { weight: "cpu", selection: { from: 2500 } })[1].samples, 2);
  assert.throws(() => aggregateGroups(p, group, 2), /sample 1 is in group 2, not in 0\.\.1/);
});

test("threadTable counts a thread's samples that carry the selection's labels", () => {
  const p = profile([[["route", "/a"]], [["route", "/b"]]], [1, 2, 0, 2, 1, 2]);
  const [a] = threadTable(p, { labels: [["route", "/a"]] });
  // Samples 1 and 5 (times 1000 and 5000 µs, each 1000 µs of wall time).
  assert.deepEqual([a.samples, a.cpuUs, a.startUs, a.endUs, a.durationUs], [2, 2000, 0, 5000, 5000]);
  const [none] = threadTable(p, { labels: [["route", "/c"]] });
  assert.deepEqual([none.samples, none.durationUs], [0, 0]);
  assert.equal(threadTable(p)[0].samples, 6);
});

test("merging renumbers label sets and keeps each sample's", () => {
  const a = profile([[["route", "/a"]], [["route", "/b"]]], [1, 2, 0]);
  const b = profile([[["route", "/b"]], [["route", "/c"]]], [2, 1, 1]);
  const sink = memorySink();
  writeProfiles([a, b], sink);
  const m = decodeProfile(sink.bytes(), "m.prof");
  const routes = [...m.samples.labels].map((id) => (id === 0 ? "-" : m.labelSets[id - 1][0][1]));
  assert.deepEqual(routes, ["/a", "/b", "-", "/c", "/b", "/b"]);
  assert.equal(m.labelSets.length, 3);
});

/** The labels fixture's bytes with the first LABELS record's payload edited by `edit`. */
function withLabelsRecord(edit: (payload: number[]) => number[]): Uint8Array {
  const b = fixtureBytes(labelsFixture);
  // Walk the records (type, uvarint length) to the first LABELS record (0x0b).
  let at = 12;
  for (;;) {
    const type = b[at];
    let len = 0;
    let shift = 0;
    let k = at + 1;
    for (;;) {
      const x = b[k++];
      len |= (x & 0x7f) << shift;
      shift += 7;
      if (x < 0x80) break;
    }
    if (type === 0x0b) {
      const payload = edit([...b.subarray(k, k + len)]);
      assert.ok(payload.length < 128);
      return Uint8Array.from([...b.subarray(0, at), 0x0b, payload.length, ...payload, ...b.subarray(k + len)]);
    }
    at = k + len;
  }
}

test("malformed label sets and references are corruption, named with the record and offset", () => {
  const rejects = (bytes: Uint8Array, message: RegExp) =>
    assert.throws(() => decodeProfile(bytes, "bad.prof"), (e: unknown) => e instanceof ProfileFormatError && e.code === "CORRUPT" && message.test(e.message));
  // The record as written: 1 set, 1 pair, "route" "/a".
  const empty = withLabelsRecord(() => [1, 1, 0, 1, 0x78]);
  rejects(empty, /^bad\.prof: bad labels record at byte \d+: label set 1 has an empty key/);
  const twice = withLabelsRecord(() => [1, 2, 1, 0x6b, 1, 0x31, 1, 0x6b, 1, 0x32]);
  rejects(twice, /label set 1 has key "k" twice/);
  // The first of the two LABELS records defining nothing: samples refer to label set 2, undefined then.
  const none = withLabelsRecord(() => [0]);
  rejects(none, /bad samples record at byte \d+: sample refers to undefined label set 2/);
});
