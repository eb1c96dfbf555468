import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  FunctionKind,
  ProfileDecoder,
  ProfileWriter,
  Tier,
  VmState,
  decodeProfile,
  dumpProfile,
  fileSink,
  memorySink,
  decodeStream,
  readProfileSync,
} from "../src/index.js";
import { FIXTURES, fixtureBytes, prng } from "./golden-fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "vmprof-format-test-"));

/** Writes random samples and returns the bytes together with what was written, as expected dump lines. */
function randomProfile(seed: number, n: number, compress: boolean) {
  const r = prng(seed);
  const sink = memorySink();
  const w = new ProfileWriter(sink, { compress, batchSize: 1 + Math.floor(r() * 300) });
  w.meta({ start_time: 1_000_000, big: 2 ** 52, neg: -123456789, pi: 3.25, list: ["a", "", "ü"] });
  const P = w.addProcess({ pid: 7, ppid: 0, name: "p" });
  const threads = [w.addThread({ process: P, tid: 7 }), w.addThread({ process: P, tid: 8, name: "w", kind: 1 })];
  const fns = Array.from({ length: 20 }, (_, i) => w.addFunction({ name: `f${i}`, file: `/f${i % 3}.js`, line: i, column: i * 2, kind: (i % 4) as FunctionKind }));
  const stacks = [0];
  for (let k = 0; k < 50; k++) {
    const d = 1 + Math.floor(r() * 30);
    stacks.push(w.stack(Array.from({ length: d }, () => w.frame(fns[Math.floor(r() * fns.length)], Math.floor(r() * 5) as Tier))));
  }
  const expected: string[] = [];
  const last = [0, 0];
  for (let i = 0; i < n; i++) {
    const ti = r() < 0.7 ? 0 : 1;
    // Mostly regular steps, sometimes huge ones (a suspended process), sometimes zero.
    const x = r();
    const step = x < 0.01 ? Math.floor(r() * 2 ** 40) : x < 0.02 ? 0 : 900 + Math.floor(r() * 200);
    last[ti] += step;
    const wall = r() < 0.9 ? step : Math.floor(r() * 5000);
    const cpu = Math.floor(r() * (wall + 10));
    const state = Math.floor(r() * 7);
    const stack = stacks[Math.floor(r() * stacks.length)];
    w.sample(threads[ti], last[ti], wall, cpu, state, stack);
    expected.push(`${threads[ti]} ${last[ti]} ${Math.min(wall, 2 ** 32 - 1)} ${Math.min(cpu, 2 ** 32 - 1)} ${state} ${stack}`);
    if (r() < 0.01) w.flush();
  }
  w.end({ samples: n });
  return { bytes: sink.bytes(), expected };
}

function sampleLines(p: ReturnType<typeof decodeProfile>): string[] {
  const s = p.samples;
  return Array.from({ length: s.count }, (_, i) => `${s.thread[i]} ${s.time[i]} ${s.wall[i]} ${s.cpu[i]} ${s.state[i]} ${s.stack[i]}`);
}

/** Orders lines per thread, since the writer groups samples by thread. */
function byThread(lines: string[]): string[] {
  return [...lines].sort((a, b) => Number(a.split(" ")[0]) - Number(b.split(" ")[0]));
}

for (const compress of [false, true]) {
  test(`round trip of random profiles (${compress ? "deflate" : "plain"}): every sample comes back exactly`, () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { bytes, expected } = randomProfile(seed, 2000, compress);
      const p = decodeProfile(bytes, "rt.prof");
      assert.equal(p.truncation, undefined);
      assert.equal(p.samples.count, expected.length);
      assert.deepEqual(byThread(sampleLines(p)), byThread(expected));
      assert.deepEqual(p.meta.get("list"), ["a", "", "ü"]);
      assert.equal(p.meta.get("big"), 2 ** 52);
      assert.equal(p.meta.get("neg"), -123456789);
      assert.equal(p.meta.get("pi"), 3.25);
      assert.equal(p.functions[5].kind, FunctionKind.NATIVE);
      assert.equal(p.functions[5].column, 10);
      assert.equal(p.threads[1].name, "w");
    }
  });
}

test("a profile read in chunks of any size equals the one read whole", () => {
  for (const f of FIXTURES) {
    const bytes = fixtureBytes(f);
    const whole = dumpProfile(decodeProfile(bytes, "x"));
    for (const size of [1, 2, 3, 7, 64, 1000]) {
      const d = new ProfileDecoder("x");
      for (let i = 0; i < bytes.length; i += size) d.push(bytes.subarray(i, i + size));
      assert.equal(dumpProfile(d.finish()), whole, `${f.name} in chunks of ${size}`);
    }
  }
});

test("a snapshot is what finish() would return for the bytes pushed so far, and later pushes do not change it", () => {
  // A profile whose later records (FUNCTION_SOURCE, FRAME_SOURCES, META) touch what earlier ones defined.
  const sink = memorySink();
  const w = new ProfileWriter(sink, { batchSize: 3 });
  w.meta({ mode: "cpu", samples: 0 });
  const P = w.addProcess({ pid: 9 });
  const T = w.addThread({ process: P, tid: 9 });
  const f = w.addFunction({ name: "a", file: "/a.js", line: 1 });
  const s1 = w.stack([w.frame(f, Tier.OPTIMIZED, 2, 3)]);
  for (let i = 0; i < 7; i++) w.sample(T, 1000 * i, 1000, 900, VmState.JS, s1);
  w.flush();
  const g = w.addFunction({ name: "b", file: "/b.js", line: 5, source: { name: "B", file: "/b.ts", line: 4, column: 1 } });
  const s2 = w.stack([w.frame(f, Tier.OPTIMIZED, 2, 3), w.frame(g, Tier.INTERPRETED, 6, 1, { file: "", line: 5, column: 2 })]);
  for (let i = 7; i < 12; i++) w.sample(T, 1000 * i, 1000, 1000, VmState.JS, s2);
  w.end({ samples: 12 });
  const fixtures = [...FIXTURES.map((x) => ({ name: x.name, bytes: fixtureBytes(x) })), { name: "sources", bytes: sink.bytes() }];
  for (const { name, bytes } of fixtures) {
    for (const size of [1, 5, 64]) {
      const d = new ProfileDecoder("x");
      const taken: [ReturnType<ProfileDecoder["snapshot"]>, string][] = [];
      for (let i = 0; i < bytes.length; i += size) {
        const end = Math.min(bytes.length, i + size);
        d.push(bytes.subarray(i, end));
        const snap = d.snapshot();
        const dump = dumpProfile(snap);
        assert.equal(dump, dumpProfile(decodeProfile(bytes.subarray(0, end), "x")), `${name}: snapshot after ${end} bytes (chunks of ${size})`);
        assert.equal(d.bytesRead, end);
        assert.equal(d.complete, end === bytes.length, `${name}: complete after ${end} of ${bytes.length} bytes`);
        taken.push([snap, dump]);
      }
      d.finish();
      for (const [snap, dump] of taken) assert.equal(dumpProfile(snap), dump, `${name}: a snapshot changed after later pushes (chunks of ${size})`);
    }
  }
  // Before any byte: an empty profile cut in the header, not an error (finish() would throw EMPTY).
  const empty = new ProfileDecoder("y").snapshot();
  assert.equal(empty.samples.count, 0);
  assert.equal(empty.truncation?.inside, "header");
});

test("files, gzip, and streams in chunks all read the same profile (the convert package reads other inputs)", async () => {
  const bytes = fixtureBytes(FIXTURES[1]);
  const want = dumpProfile(decodeProfile(bytes, "x"));
  const path = join(tmp, "a.prof");
  const gz = join(tmp, "a.prof.gz");
  writeFileSync(path, bytes);
  writeFileSync(gz, gzipSync(bytes));
  assert.equal(dumpProfile(readProfileSync(path)), want);
  assert.equal(dumpProfile(readProfileSync(gz)), want);
  assert.equal(dumpProfile(decodeProfile(gzipSync(bytes), "x")), want);
  const chunks = (b: Uint8Array) => Readable.from(Array.from({ length: Math.ceil(b.length / 5) }, (_, i) => Buffer.from(b.subarray(i * 5, i * 5 + 5))));
  assert.equal(dumpProfile(await decodeStream(chunks(bytes))), want);
});

test("a pipe is decoded while the writer is still writing", async () => {
  const pipe = new PassThrough();
  const w = new ProfileWriter({ write: (b) => pipe.write(Buffer.from(b)) }, { batchSize: 10 });
  const P = w.addProcess({ pid: 1 });
  const T = w.addThread({ process: P, tid: 1 });
  const s = w.stack([w.frame(w.addFunction({ name: "live" }))]);
  const reading = decodeStream(pipe, "<pipe>");
  for (let i = 1; i <= 100; i++) {
    w.sample(T, i * 1000, 1000, 1000, VmState.JS, s);
    if (i % 25 === 0) {
      w.flush();
      await new Promise((r) => setImmediate(r));
    }
  }
  w.end();
  pipe.end();
  const p = await reading;
  assert.equal(p.samples.count, 100);
  assert.equal(p.truncation, undefined);
});

test("fileSink writes a readable file and a profile copied mid-run is fully named", () => {
  const path = join(tmp, "live.prof");
  const w = new ProfileWriter(fileSink(path), { batchSize: 4 });
  const P = w.addProcess({ pid: 1 });
  const T = w.addThread({ process: P, tid: 1 });
  const s = w.stack([w.frame(w.addFunction({ name: "early", file: "/e.js", line: 3 }), Tier.OPTIMIZED)]);
  for (let i = 1; i <= 9; i++) w.sample(T, i * 1000, 1000, 900, VmState.JS, s);
  w.flush();
  // Read while the writer is still open: everything is there and named, and the read says "truncated".
  const mid = readProfileSync(path);
  assert.equal(mid.samples.count, 9);
  assert.equal(mid.functions[0].name, "early");
  assert.equal(mid.truncation?.inside, "end");
  w.end();
  const done = readProfileSync(path);
  assert.equal(done.truncation, undefined);
});

test("the writer refuses what the format cannot say", () => {
  const w = new ProfileWriter(memorySink());
  assert.throws(() => w.addThread({ process: 1, tid: 1 }), /unknown process id 1/);
  const P = w.addProcess({ pid: 1 });
  const T = w.addThread({ process: P, tid: 1 });
  assert.throws(() => w.sample(T, 10, 1, 1, VmState.JS, 5), /unknown stack id 5/);
  assert.throws(() => w.sample(T, 10, 1, 1, 9, 0), /bad VM state 9/);
  w.sample(T, 10, 1, 1, VmState.JS, 0);
  assert.throws(() => w.sample(T, 9, 1, 1, VmState.JS, 0), /goes back/);
  assert.throws(() => w.frame(3), /unknown function id 3/);
  w.end();
  assert.throws(() => w.flush(), /has ended/);
});
