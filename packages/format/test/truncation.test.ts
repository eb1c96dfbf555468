import assert from "node:assert/strict";
import { test } from "node:test";
import { ProfileFormatError, ProfileWriter, VmState, decodeProfile, memorySink, type FunctionInfo } from "../src/index.js";
import { FIXTURES, fixtureBytes } from "./golden-fixtures.js";

for (const f of FIXTURES) {
  test(`every prefix of golden ${f.name}, cut at every byte, reads what is before the cut`, () => {
    const bytes = fixtureBytes(f);
    const full = decodeProfile(bytes, "full.prof");
    let prevSamples = 0;
    let prevFunctions = 0;
    for (let cut = 0; cut < bytes.length; cut++) {
      let p;
      try {
        p = decodeProfile(bytes.subarray(0, cut), "cut.prof");
      } catch (e) {
        assert.ok(e instanceof ProfileFormatError, `cut ${cut}: threw ${e}`);
        assert.equal(cut, 0, `cut ${cut}: only the empty prefix may be refused, got ${e.message}`);
        assert.equal(e.code, "EMPTY");
        continue;
      }
      assert.ok(p.truncation, `cut ${cut}: truncation not reported`);
      assert.ok(p.truncation.offset <= cut, `cut ${cut}: offset ${p.truncation.offset}`);
      assert.match(p.truncation.message, /^cut\.prof: truncated at byte \d+/);
      assert.match(p.truncation.message, new RegExp(`read ${p.samples.count} samples before it`));
      // What was read is a prefix of the full profile: records only ever add.
      assert.ok(p.samples.count >= prevSamples && p.functions.length >= prevFunctions, `cut ${cut}: went back`);
      prevSamples = p.samples.count;
      prevFunctions = p.functions.length;
      for (let i = 0; i < p.samples.count; i++) {
        assert.equal(p.samples.stack[i], full.samples.stack[i]);
        assert.equal(p.samples.time[i], full.samples.time[i]);
      }
      // A function's source-map origin is a later record: a prefix may not have it yet.
      for (let i = 0; i < p.functions.length; i++) {
        const got: FunctionInfo = p.functions[i];
        const want = full.functions[i];
        assert.deepEqual({ ...got, source: undefined }, { ...want, source: undefined });
        if (got.source) assert.deepEqual(got.source, want.source);
      }
    }
    assert.equal(prevSamples, full.samples.count, "the last prefix before END holds every sample");
  });
}

test("a truncated file names the record it was cut in and the samples read", () => {
  const sink = memorySink();
  const w = new ProfileWriter(sink, { batchSize: 50 });
  const T = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
  const s = w.stack([w.frame(w.addFunction({ name: "f" }))]);
  for (let i = 1; i <= 50; i++) w.sample(T, i * 1000, 1000, 1000, VmState.JS, s);
  w.flush();
  const first = sink.bytes().length;
  for (let i = 51; i <= 100; i++) w.sample(T, i * 1000, 1000, 1000, VmState.JS, s);
  w.flush();
  const second = sink.bytes().length;
  const cut = Math.floor((first + second) / 2);
  const p = decodeProfile(sink.bytes().subarray(0, cut), "x.prof");
  assert.equal(p.truncation!.message, `x.prof: truncated at byte ${cut} inside a samples record starting at byte ${first}; read 50 samples before it`);
});

test("a zero-filled tail (what a crash can leave) reads as truncation, not corruption", () => {
  const bytes = fixtureBytes(FIXTURES[0]);
  const cut = bytes.length - 40;
  const padded = new Uint8Array(cut + 4096);
  padded.set(bytes.subarray(0, cut));
  const p = decodeProfile(padded, "crash.prof");
  assert.equal(p.truncation?.inside, "zero-filled tail");
  const whole = decodeProfile(bytes.subarray(0, cut), "x");
  assert.equal(p.samples.count, whole.samples.count);
  padded[padded.length - 1] = 9;
  assert.throws(() => decodeProfile(padded, "crash.prof"), (e: ProfileFormatError) => e.code === "CORRUPT" && /record type 0 at byte/.test(e.message));
});
