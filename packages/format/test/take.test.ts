/** ProfileDecoder.takeSamples: a long stream read in parts, holding only the samples since the last take. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ProfileDecoder, ProfileWriter, VmState, decodeProfile, memorySink } from "../src/index.js";
import { FIXTURES, fixtureBytes } from "./golden-fixtures.js";

const COLUMNS = ["thread", "time", "wall", "cpu", "state", "stack", "labels"] as const;

for (const f of FIXTURES) {
  test(`golden ${f.name} pushed in small chunks and taken after each: every sample handed over once, in order`, () => {
    const bytes = fixtureBytes(f);
    const full = decodeProfile(bytes, "full");
    const d = new ProfileDecoder("parts");
    const got: Record<(typeof COLUMNS)[number], number[]> = { thread: [], time: [], wall: [], cpu: [], state: [], stack: [], labels: [] };
    for (let at = 0; at < bytes.length; at += 7) {
      d.push(bytes.subarray(at, at + 7));
      const part = d.takeSamples();
      assert.equal(d.sampleCount, 0);
      for (const c of COLUMNS) got[c].push(...part.samples[c]);
      // Definitions stay: every stack a handed-over sample names is defined in what came with it.
      for (const s of part.samples.stack) assert.ok(s < part.stacks.count);
    }
    for (const c of COLUMNS) assert.deepEqual(got[c], [...full.samples[c]], c);
    const end = d.finish();
    assert.equal(end.samples.count, 0);
    assert.equal(end.truncation, undefined);
    assert.equal(end.functions.length, full.functions.length);
    assert.equal(end.stacks.count, full.stacks.count);
  });
}

/** `n` batches of 1000 samples of one thread as they would come from a recording, as chunks. */
function stream(n: number): Uint8Array[] {
  const sink = memorySink();
  const chunks: Uint8Array[] = [];
  const w = new ProfileWriter(sink, { batchSize: 1000 });
  const T = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
  const s = w.stack([w.frame(w.addFunction({ name: "f" }))]);
  let taken = 0;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < 1000; i++) w.sample(T, (b * 1000 + i) * 1000, 1000, 1000, VmState.JS, s);
    w.flush();
    const all = sink.bytes();
    chunks.push(all.slice(taken));
    taken = all.length;
  }
  return chunks;
}

test("memory stays that of the samples since the last take, over a long stream", () => {
  const d = new ProfileDecoder("long");
  let total = 0;
  let biggest = 0;
  for (const chunk of stream(200)) {
    d.push(chunk);
    const part = d.takeSamples();
    total += part.samples.count;
    biggest = Math.max(biggest, part.samples.time.buffer.byteLength);
  }
  assert.equal(total, 200_000);
  // Each take's arrays hold one batch (1000 samples, at least 1024 slots), not the 200,000 read in all.
  assert.ok(biggest <= 1024 * 8, `the time column's buffer grew to ${biggest} bytes`);
  // Without takes the arrays hold everything: the comparison that makes the bound above mean something.
  const keep = new ProfileDecoder("kept");
  for (const chunk of stream(200)) keep.push(chunk);
  assert.ok(keep.snapshot().samples.time.buffer.byteLength >= 200_000 * 8);
});

test("a snapshot taken before takeSamples keeps its samples while the decoder goes on", () => {
  const chunks = stream(3);
  const d = new ProfileDecoder("x");
  d.push(chunks[0]);
  const before = d.snapshot();
  const times = [...before.samples.time];
  const taken = d.takeSamples();
  d.push(chunks[1]);
  d.push(chunks[2]);
  assert.deepEqual([...before.samples.time], times);
  assert.deepEqual([...taken.samples.time], times);
  assert.equal(d.sampleCount, 2000);
  assert.equal(d.snapshot().samples.time[0], 1000 * 1000); // the first sample of the second batch
});

test("the per-thread time check goes on across takes", () => {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  const T = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
  w.sample(T, 5000, 1000, 1000, VmState.JS, 0);
  w.flush();
  const first = sink.bytes();
  // A second writer's batch for the same thread id, earlier in time: not a valid continuation.
  const sink2 = memorySink();
  const w2 = new ProfileWriter(sink2);
  const T2 = w2.addThread({ process: w2.addProcess({ pid: 1 }), tid: 1 });
  w2.flush();
  const definitions = sink2.bytes().length;
  w2.sample(T2, 1000, 1000, 1000, VmState.JS, 0);
  w2.flush();
  const samplesRecord = sink2.bytes().subarray(definitions);
  const d = new ProfileDecoder("x");
  d.push(first);
  d.takeSamples();
  assert.throws(() => d.push(samplesRecord), /sample time goes back on thread 1/);
});
