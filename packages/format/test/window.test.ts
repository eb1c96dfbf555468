/** WindowCutter: growing streams of several processes in, one complete profile per time window out. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ProfileWriter, VmState, WindowCutter, decodeProfile, memorySink, metaValue, stackFrames, type Profile, type Window } from "../src/index.js";

const BASE = 1_764_000_000_000_000; // µs since the epoch
const SECOND = 1_000_000;

interface Chunk {
  /** Latest sample time in the chunk, µs since the epoch. */
  at: number;
  bytes: Uint8Array;
}

/**
 * A process's recording as it is written: `samples` samples every `step` µs from `offset` after BASE,
 * flushed every `flush` samples (one chunk each). Even samples run `hot<pid>`, odd ones `cold<pid>`;
 * every third carries the label set {route: /r<i % 2>}. Whole-profile labels: label.app=demo.
 */
function recording(pid: number, offset: number, samples: number, step: number, flush = 10): Chunk[] {
  const sink = memorySink();
  const w = new ProfileWriter(sink, { batchSize: 1000 });
  const start = BASE + offset;
  w.meta({ start_time: start, argv: ["node", `p${pid}.js`], "label.app": "demo", node_version: "v20.0.0" });
  const P = w.addProcess({ pid, ppid: 1, startTime: start, name: `p${pid}` });
  const T = w.addThread({ process: P, tid: pid, name: "main" });
  const W = w.addThread({ process: P, tid: pid + 1000, name: "worker 1", kind: 1 });
  const main = w.addFunction({ name: `main${pid}`, file: `/p${pid}.js`, line: 1 });
  const hot = w.stack([w.frame(main), w.frame(w.addFunction({ name: `hot${pid}`, file: `/p${pid}.js`, line: 5 }), 3, 6, 2)]);
  const cold = w.stack([w.frame(main), w.frame(w.addFunction({ name: `cold${pid}`, file: `/p${pid}.js`, line: 9 }))]);
  const routes = [w.labelSet([["route", "/r0"]]), w.labelSet([["route", "/r1"]])];
  const chunks: Chunk[] = [];
  let written = 0;
  for (let i = 0; i < samples; i++) {
    const t = (i + 1) * step;
    w.sample(i % 4 === 3 ? W : T, t, step, step / 2, VmState.JS, i % 2 === 0 ? hot : cold, i % 3 === 0 ? routes[i % 2] : 0);
    if ((i + 1) % flush === 0 || i === samples - 1) {
      if (i === samples - 1) w.end({ samples, end_time: start + t + 1, dropped_samples: 7 });
      else w.flush();
      const all = sink.bytes();
      chunks.push({ at: start + t, bytes: all.slice(written) });
      written = all.length;
    }
  }
  return chunks;
}

/** One sample as a line that names everything it carries: process, thread, time, stack, labels. */
function lines(p: Profile, origin = Number(metaValue(p, "start_time"))): string[] {
  const out: string[] = [];
  for (let i = 0; i < p.samples.count; i++) {
    const th = p.threads[p.samples.thread[i] - 1];
    const pr = p.processes[th.process - 1];
    const stack = stackFrames(p, p.samples.stack[i])
      .map((f) => `${p.functions[p.frames[f - 1].function - 1].name}:${p.frames[f - 1].line}`)
      .join(";");
    const l = p.samples.labels[i];
    const labels = l === 0 ? "" : p.labelSets[l - 1].map(([k, v]) => `${k}=${v}`).join(",");
    out.push(`${pr.pid}/${th.tid}@${origin + p.samples.time[i]} ${stack} wall=${p.samples.wall[i]} cpu=${p.samples.cpu[i]} [${labels}]`);
  }
  return out;
}

/** Feeds the chunks of every stream in time order, cutting each window `grace` µs after its end, then finishes. */
function run(streams: Chunk[][], every: number, grace: number): { windows: Window[]; cutter: WindowCutter } {
  const cutter = new WindowCutter({ origin: BASE, every });
  const sources = streams.map((_, k) => cutter.addSource(`p${k}`));
  const all = streams.flatMap((chunks, k) => chunks.map((c) => ({ ...c, k }))).sort((a, b) => a.at - b.at);
  const windows: Window[] = [];
  for (const c of all) {
    while (c.at >= cutter.current.end + grace) windows.push(cutter.cut());
    sources[c.k].push(c.bytes);
    cutter.pump();
  }
  windows.push(...cutter.finish(all[all.length - 1].at + 1));
  return { windows, cutter };
}

test("two processes cut into 1 s windows: every sample in exactly one window, inside its time range, with its labels", () => {
  const a = recording(10, 0, 350, 10_000); // 3.5 s
  const b = recording(11, 500_000, 100, 20_000); // from 0.5 s to 2.5 s
  const { windows, cutter } = run([a, b], SECOND, 300_000);
  assert.ok(cutter.complete);
  assert.deepEqual(
    windows.map((w) => [w.index, w.start - BASE, w.end - BASE]),
    [
      [0, 0, SECOND],
      [1, SECOND, 2 * SECOND],
      [2, 2 * SECOND, 3 * SECOND],
      [3, 3 * SECOND, 3.5 * SECOND + 1],
    ],
  );
  assert.deepEqual(
    windows.map((w) => w.processes),
    [2, 2, 2, 1],
  );
  const got: string[] = [];
  for (const w of windows) {
    const p = decodeProfile(w.bytes, `window ${w.index}`);
    assert.equal(p.truncation, undefined);
    assert.equal(p.samples.count, w.samples);
    assert.equal(w.late, 0);
    assert.equal(metaValue(p, "start_time"), w.start);
    assert.equal(metaValue(p, "end_time"), w.end);
    assert.equal(metaValue(p, "samples"), w.samples);
    // Run-wide counters are not a window's: left out, not copied from the recording's end.
    assert.equal(metaValue(p, "dropped_samples"), undefined);
    assert.equal(metaValue(p, "label.app"), "demo");
    assert.deepEqual(metaValue(p, "argv"), ["node", "p10.js"]);
    for (const pr of p.processes) assert.deepEqual(pr.meta.get("argv"), ["node", `p${pr.pid}.js`]);
    for (let i = 0; i < p.samples.count; i++) {
      const at = w.start + p.samples.time[i];
      assert.ok(at >= w.start && at < w.end, `window ${w.index}: a sample at ${at - BASE}`);
    }
    got.push(...lines(p));
  }
  // Together the windows hold exactly the samples of both recordings, as a merge of the whole files has them.
  const whole = [a, b].map((chunks) => decodeProfile(Buffer.concat(chunks.map((c) => c.bytes))));
  const want = whole.flatMap((p) => lines(p));
  assert.equal(got.length, 450);
  assert.deepEqual(got.sort(), want.sort());
});

test("a window defines only what its samples use", () => {
  const a = recording(10, 0, 99, 10_000); // 0.01 to 0.99 s
  const b = recording(11, 1_200_000, 50, 10_000); // 1.2 to 1.7 s
  const { windows } = run([a, b], SECOND, 300_000);
  assert.equal(windows.length, 2);
  const [w0, w1] = windows.map((w) => decodeProfile(w.bytes));
  assert.deepEqual(
    w0.functions.map((f) => f.name),
    ["main10", "hot10", "cold10"],
  );
  assert.deepEqual(
    w1.functions.map((f) => f.name),
    ["main11", "hot11", "cold11"],
  );
  assert.deepEqual(
    w1.processes.map((p) => p.pid),
    [11],
  );
  // The first stream's metadata is not in a window it has no sample in.
  assert.deepEqual(metaValue(w1, "argv"), ["node", "p11.js"]);
});

test("a sample written after its window was cut goes into the next one, at its start, counted as late", () => {
  const a = recording(10, 0, 10, 100_000, 1); // samples at 0.1 .. 1.0 s, one chunk each
  const cutter = new WindowCutter({ origin: BASE, every: SECOND });
  const src = cutter.addSource("p10");
  for (const c of a.slice(0, 8)) src.push(c.bytes); // up to 0.8 s
  const w0 = cutter.cut();
  assert.equal(w0.samples, 8);
  src.push(a[8].bytes); // 0.9 s: late
  src.push(a[9].bytes); // 1.0 s: the next window's own
  const [w1] = cutter.finish(BASE + 1_500_000);
  assert.equal(w1.samples, 2);
  assert.equal(w1.late, 1);
  const p = decodeProfile(w1.bytes);
  assert.deepEqual([...p.samples.time], [0, 0]);
  assert.equal(w1.end, BASE + 1_500_000);
});

test("windows with no samples are cut empty, and a cut long after skips to the window of the next samples", () => {
  const a = recording(10, 5_500_000, 10, 10_000); // 5.5 to 5.6 s
  const cutter = new WindowCutter({ origin: BASE, every: SECOND });
  const src = cutter.addSource("p10");
  const empty = cutter.cut();
  assert.deepEqual([empty.index, empty.samples], [0, 0]);
  assert.equal(decodeProfile(empty.bytes).samples.count, 0);
  for (const c of a) src.push(c.bytes);
  const w = cutter.cut(); // window 1 is empty; the samples kept for later belong to window 5
  assert.deepEqual([w.index, w.samples], [1, 0]);
  assert.equal(cutter.current.index, 5);
  const [last] = cutter.finish(BASE + 5_700_000);
  assert.deepEqual([last.index, last.samples, last.late], [5, 10, 0]);
});

test("a stream that is not a profile is set aside with its error; the others go on", () => {
  const cutter = new WindowCutter({ origin: BASE, every: SECOND });
  const bad = cutter.addSource("bad");
  const good = cutter.addSource("good");
  bad.push(new TextEncoder().encode("not a profile at all"));
  assert.match(bad.error!.message, /not a vmprof profile/);
  for (const c of recording(10, 0, 20, 10_000)) good.push(c.bytes);
  const [w] = cutter.finish(BASE + 500_000);
  assert.equal(w.samples, 20);
});

test("the cutter holds the current window encoded, not decoded samples: an hour of samples in 10 s windows", () => {
  // 1 kHz for an hour on one thread (3.6 million samples), fed as the sampler writes them (once a second).
  const sink = memorySink();
  const w = new ProfileWriter(sink, { batchSize: 1000 });
  w.meta({ start_time: BASE });
  const T = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
  const s = w.stack([w.frame(w.addFunction({ name: "f" }))]);
  const cutter = new WindowCutter({ origin: BASE, every: 10 * SECOND });
  const src = cutter.addSource("p1");
  let written = 0;
  let windows = 0;
  let samples = 0;
  let biggest = 0;
  for (let sec = 0; sec < 3600; sec++) {
    for (let i = 0; i < 1000; i++) w.sample(T, sec * SECOND + i * 1000, 1000, 1000, VmState.JS, s);
    w.flush();
    const all = sink.bytes();
    src.push(all.subarray(written));
    written = all.length;
    cutter.pump();
    if (sec * SECOND >= cutter.current.end - BASE + 2 * SECOND) {
      const win = cutter.cut();
      windows++;
      samples += win.samples;
      biggest = Math.max(biggest, win.bytes.length);
    }
    // What the decoder holds between pumps: nothing; what is kept for later: at most the grace's 2 s.
    assert.equal(src.decoder.sampleCount, 0);
    assert.ok((src.carry?.count ?? 0) <= 3000);
  }
  for (const win of cutter.finish(BASE + 3600 * SECOND)) {
    windows++;
    samples += win.samples;
  }
  assert.equal(windows, 360);
  assert.equal(samples, 3_600_000);
  assert.ok(biggest < 10_000 * 4, `a window of 10,000 samples took ${biggest} bytes`);
});
