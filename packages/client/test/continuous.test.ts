/**
 * ContinuousUploader against small HTTP servers in this process (one that takes everything, one that
 * never answers, a closed port), with recordings made by ProfileWriter and a clock the test moves:
 * no real time passes but the uploads'.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createServer as netServer } from "node:net";
import { after, test } from "node:test";
import { ProfileWriter, VmState, decodeProfile, memorySink, metaValue } from "@vmprof/format";
import { ContinuousUploader, UploadUsageError, type ContinuousOptions } from "../src/index.js";

const BASE = 1_764_000_000_000_000;
const SECOND = 1_000_000;

/** A recording of one process, 100 samples a second from BASE, written a second at a time: push(second) gives that second's bytes. */
function recorder() {
  const sink = memorySink();
  const w = new ProfileWriter(sink, { batchSize: 1000 });
  w.meta({ start_time: BASE, argv: ["node", "app.js"], "label.app": "demo" });
  const T = w.addThread({ process: w.addProcess({ pid: 7 }), tid: 7, name: "main" });
  const s = w.stack([w.frame(w.addFunction({ name: "work", file: "/app.js", line: 1 }))]);
  const route = w.labelSet([["route", "/a"]]);
  let written = 0;
  return (second: number, end = false): Uint8Array => {
    for (let i = 0; i < 100; i++) w.sample(T, second * SECOND + i * 10_000, 10_000, 10_000, VmState.JS, s, i % 2 ? route : 0);
    if (end) w.end();
    else w.flush();
    const all = sink.bytes();
    const out = all.slice(written);
    written = all.length;
    return out;
  };
}

interface Seen {
  path: string;
  query: URLSearchParams;
  body: Buffer;
}

const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));

/** A server that answers 201 (or `status`) to everything and keeps what it got; `hold` delays answers until released. */
async function server(o: { status?: number; hold?: boolean } = {}) {
  const seen: Seen[] = [];
  const held: (() => void)[] = [];
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const u = new URL(req.url!, "http://x");
      seen.push({ path: u.pathname, query: u.searchParams, body: Buffer.concat(chunks) });
      const answer = () => res.writeHead(o.status ?? 201, { "content-type": "application/json" }).end(JSON.stringify({ id: String(seen.length), url: `http://x/profiles/${seen.length}` }));
      if (o.hold) held.push(answer);
      else answer();
    });
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`, seen, release: () => held.splice(0).forEach((f) => f()) };
}

async function closedPort(): Promise<string> {
  const s = netServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

function uploader(o: Partial<ContinuousOptions> & { url: string }) {
  const lines: string[] = [];
  const u = new ContinuousUploader({ to: "vmprof", every: 2, origin: BASE, log: (l) => lines.push(l), graceMs: 500, ...o });
  return { u, lines };
}

/**
 * Feeds `seconds` seconds of the recording, ticking as a real clock would, 0.6 s after each second's
 * samples; `pauseMs` of real time after each tick lets uploads run meanwhile.
 */
async function feed(u: ContinuousUploader, seconds: number, pauseMs = 0): Promise<void> {
  const rec = recorder();
  const src = u.addSource("app");
  for (let s = 0; s < seconds; s++) {
    src.push(rec(s, s === seconds - 1));
    u.tick(BASE + (s + 1) * SECOND + 600_000);
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

test("one profile per window reaches the server, with its time range, labels and every sample", async () => {
  const srv = await server();
  const uploaded: number[] = [];
  const { u, lines } = uploader({ url: srv.url, labels: { env: "ci" }, name: "svc", onUploaded: (w) => uploaded.push(w.index) });
  await feed(u, 7);
  const stats = await u.finish(BASE + 7 * SECOND);
  assert.deepEqual(lines, []);
  assert.deepEqual(uploaded, [0, 1, 2, 3]);
  assert.equal(srv.seen.length, 4);
  assert.deepEqual({ windows: stats.windows, uploaded: stats.uploaded, failed: stats.failed, samples: stats.samples, late: stats.late }, { windows: 4, uploaded: 4, failed: 0, samples: 700, late: 0 });
  const profiles = srv.seen.map((s) => decodeProfile(s.body));
  assert.deepEqual(
    profiles.map((p) => [Number(metaValue(p, "start_time")) - BASE, Number(metaValue(p, "end_time")) - BASE, p.samples.count]),
    [
      [0, 2 * SECOND, 200],
      [2 * SECOND, 4 * SECOND, 200],
      [4 * SECOND, 6 * SECOND, 200],
      [6 * SECOND, 7 * SECOND, 100],
    ],
  );
  for (const s of srv.seen) {
    assert.equal(s.path, "/api/profiles");
    assert.equal(s.query.get("name"), "svc");
    assert.deepEqual(s.query.getAll("label"), ["env=ci"]);
  }
  for (const p of profiles) {
    assert.equal(metaValue(p, "label.app"), "demo");
    assert.equal(p.labelSets.length, 1);
    assert.equal([...p.samples.labels].filter((l) => l === 1).length, p.samples.count / 2);
  }
});

test("to Pyroscope: each window as pprof on /ingest with the window's from and until, one series per label set of its samples", async () => {
  const srv = await server({ status: 200 });
  const { u } = uploader({ url: srv.url, to: "pyroscope", name: "svc.cpu", labels: { env: "ci" } });
  await feed(u, 4);
  const stats = await u.finish(BASE + 4 * SECOND);
  assert.equal(stats.uploaded, 2);
  // Half the samples carry route=/a; all carry the recording's label.app=demo and the upload's env=ci.
  assert.deepEqual(
    srv.seen.map((s) => [s.path, s.query.get("name"), Number(s.query.get("from")) - BASE / 1e6, Number(s.query.get("until")) - BASE / 1e6, s.query.get("format")]),
    [
      ["/ingest", "svc.cpu{app=demo,env=ci}", 0, 2, "pprof"],
      ["/ingest", "svc.cpu{app=demo,env=ci,route=/a}", 0, 2, "pprof"],
      ["/ingest", "svc.cpu{app=demo,env=ci}", 2, 4, "pprof"],
      ["/ingest", "svc.cpu{app=demo,env=ci,route=/a}", 2, 4, "pprof"],
    ],
  );
});

test("an unreachable server: each window retried, then dropped with one line; after three, drops are counted", async () => {
  const { u, lines } = uploader({ url: await closedPort(), attempts: 2, backoffMs: 5 });
  await feed(u, 12, 100);
  const stats = await u.finish(BASE + 12 * SECOND);
  assert.deepEqual({ windows: stats.windows, uploaded: stats.uploaded, failed: stats.failed }, { windows: 6, uploaded: 0, failed: 6 });
  assert.equal(lines.length, 4, lines.join("\n"));
  assert.match(lines[0], /^window 0 \(\d\d:\d\d:\d\dZ-\d\d:\d\d:\d\dZ, 200 samples\) not sent \(2 attempts\): cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); dropped$/);
  assert.match(lines[1], /^window 1 .* not sent \(1 attempt\): cannot reach/);
  assert.match(lines[2], /further drops are counted/);
  assert.equal(lines[3], "6 windows in a row were not sent (3 of them not shown above)");
});

test("a server slower than the windows: at most three wait, the oldest is pushed out with a warning, and finish stops waiting", async () => {
  const srv = await server({ hold: true });
  const { u, lines } = uploader({ url: srv.url, every: 1 });
  await feed(u, 8);
  // The first window is being sent (held by the server); of the seven after it three wait.
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(srv.seen.length, 1);
  assert.equal(u.stats.overflowed, 4);
  assert.ok(u.stats.maxHeld <= 4, `held ${u.stats.maxHeld}`);
  assert.match(lines[0], /^window 1 \(.*\) not sent: the server takes longer than the windows come \(3 wait at most\); dropped$/);
  const t0 = performance.now();
  const stats = await u.finish(BASE + 8 * SECOND, 300);
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(stats.uploaded, 0);
  assert.match(lines.at(-2)!, /^4 windows still unsent 0.3 s after the end: dropped$/);
  srv.release();
});

test("options that could never work are refused at once, naming the flag", () => {
  const log = () => {};
  assert.throws(() => new ContinuousUploader({ url: "nope", to: "vmprof", every: 10, log }), (e) => e instanceof UploadUsageError && /--upload: "nope" is not a URL/.test(e.message));
  assert.throws(() => new ContinuousUploader({ url: "http://x", to: "vmprof", every: 0.5, log }), /--every: expected 1 to 3600 seconds, got 0.5/);
  assert.throws(() => new ContinuousUploader({ url: "http://x", to: "pyroscope", every: 10, labels: { a: "b,c" }, log }), /Pyroscope labels cannot contain/);
});
