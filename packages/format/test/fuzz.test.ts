import assert from "node:assert/strict";
import { test } from "node:test";
import { deflateRawSync, gzipSync } from "node:zlib";
import { ByteWriter } from "../src/bytes.js";
import { MAGIC, ProfileDecoder, ProfileFormatError, ProfileWriter, decodeProfile, dumpProfile, memorySink } from "../src/index.js";
import { FIXTURES, fixtureBytes, prng } from "./golden-fixtures.js";

/** Each input must give a profile or a ProfileFormatError: never another exception, a hang or a blow-up. */
function check(input: Uint8Array, what: string): "ok" | "error" {
  const t = performance.now();
  let out: "ok" | "error";
  try {
    const p = decodeProfile(input, "fuzz.prof");
    dumpProfile(p); // the model must be consistent enough to walk
    out = "ok";
  } catch (e) {
    if (!(e instanceof ProfileFormatError)) assert.fail(`${what}: threw ${(e as Error)?.stack ?? e}`);
    assert.match(e.message, /fuzz\.prof/, `${what}: message does not name the source`);
    assert.ok(!e.message.includes("\n"), `${what}: message is not one line`);
    out = "error";
  }
  const ms = performance.now() - t;
  assert.ok(ms < 2000, `${what}: took ${ms.toFixed(0)} ms`);
  return out;
}

test("10,000+ random and mutated inputs: a profile or a typed error, never a crash", () => {
  const r = prng(2026);
  const seeds = FIXTURES.map(fixtureBytes);
  const counts = { ok: 0, error: 0 };
  let n = 0;
  const run = (b: Uint8Array, what: string) => {
    counts[check(b, what)]++;
    n++;
  };
  const rand = (len: number) => Uint8Array.from({ length: len }, () => Math.floor(r() * 256));
  // Pure noise, with and without a valid header in front.
  for (let i = 0; i < 1500; i++) run(rand(Math.floor(r() * 300)), `noise ${i}`);
  for (let i = 0; i < 1500; i++) {
    const b = rand(12 + Math.floor(r() * 400));
    b.set(MAGIC);
    b[8] = 1;
    b[9] = 0;
    run(b, `header+noise ${i}`);
  }
  // Mutations of real profiles.
  for (let i = 0; i < 7000; i++) {
    const src = seeds[i % seeds.length];
    let b = Uint8Array.from(src);
    const kind = i % 7;
    const at = 12 + Math.floor(r() * (b.length - 12));
    if (kind === 0) b[at] ^= 1 << Math.floor(r() * 8);
    else if (kind === 1) for (let k = 0; k < 8; k++) b[12 + Math.floor(r() * (b.length - 12))] = Math.floor(r() * 256);
    else if (kind === 2) b = Uint8Array.from([...b.subarray(0, at), ...rand(1 + Math.floor(r() * 20)), ...b.subarray(at)]);
    else if (kind === 3) b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1 + Math.floor(r() * 20))]);
    else if (kind === 4) b[at] = [0x00, 0x7f, 0x80, 0xff][Math.floor(r() * 4)];
    else if (kind === 5) b = Uint8Array.from([...b.subarray(0, at), 0xff, 0xff, 0xff, 0x7f, ...b.subarray(at)]);
    else b = gzipSync(b).subarray(0, Math.floor(r() * (b.length + 20)));
    run(b, `mutation ${i} (kind ${kind} at ${at})`);
  }
  assert.ok(n >= 10_000, `${n} inputs`);
  // The mix must exercise both outcomes, or the mutations are not reaching the decoder.
  assert.ok(counts.ok > 500 && counts.error > 500, JSON.stringify(counts));
});

test("a record that declares a huge length is refused at once, not buffered", () => {
  const b = new Uint8Array(12 + 6);
  b.set(MAGIC);
  b[8] = 1;
  b.set([0x07, 0xff, 0xff, 0xff, 0x7f], 12);
  assert.throws(() => decodeProfile(b, "fuzz.prof"), (e: ProfileFormatError) => e.code === "CORRUPT" && /declares \d+ bytes/.test(e.message));
  const d = new ProfileDecoder("fuzz.prof");
  assert.throws(() => d.push(b), ProfileFormatError);
});

test("a deflate bomb in a samples record is refused, not inflated", () => {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
  w.flush();
  const bomb = deflateRawSync(new Uint8Array(50_000_000));
  const payload = new ByteWriter();
  payload.uvarint(1); // thread
  payload.uvarint(1); // one sample
  payload.u8(1); // deflate
  payload.uvarint(0); // period
  payload.bytes(bomb);
  const rec = new ByteWriter();
  rec.bytes(sink.bytes());
  rec.u8(0x07);
  rec.uvarint(payload.length);
  rec.bytes(payload.view());
  const t = performance.now();
  assert.throws(() => decodeProfile(rec.view(), "fuzz.prof"), (e: ProfileFormatError) => e.code === "CORRUPT" && /deflate/.test(e.message));
  assert.ok(performance.now() - t < 1000);
});
