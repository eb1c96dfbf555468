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
  decodeProfile,
  labelKeys,
  memorySink,
  selectSamples,
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
