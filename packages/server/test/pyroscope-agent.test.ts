/**
 * A real client of /ingest: Pyroscope's official Node agent (@pyroscope/nodejs, a dev dependency)
 * profiles a program that burns CPU in a named function and pushes to a real vmprof-server (SQLite,
 * a token); what it sent is then listed and viewable through the server's HTTP API and pages.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { node, startServer, tempDir, type Running } from "./helpers.js";

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/pyroscope-agent.cjs");
const TOKEN = "agent-s3cret";
let srv: Running;

before(async () => {
  srv = await startServer(["--db", path.join(tempDir(), "agent.db"), "--token", TOKEN]);
});
after(async () => {
  await srv?.stop();
});

interface Answer {
  url: string;
  method: string;
  contentType: string | null;
  authorization: string | null;
  bytes: number;
  /** Read by the fixture from the pprof it sent: the sum of its "samples" values, and the stacks of its samples with a count of 0 but CPU time. */
  samples?: { count: number; uncounted: string[] };
  status: number;
  body: string;
}

async function get(pathname: string) {
  const r = await fetch(new URL(pathname, srv.url));
  const text = await r.text();
  return { status: r.status, type: r.headers.get("content-type") ?? "", text, json: () => JSON.parse(text) };
}

test("Pyroscope's Node agent pushes to /ingest with the token: its wall/CPU profiles are listed with its labels and viewable, naming the hot function", async () => {
  const startedUs = Date.now() * 1000;
  // The agent joins "/ingest" to the address itself: no trailing slash.
  const run = node(FIXTURE, [srv.url.replace(/\/$/, ""), TOKEN], { env: { ...process.env, DEBUG: "" } });
  assert.equal(run.status, 0, run.stderr);
  const { agentVersion, answers } = JSON.parse(run.stdout) as { agentVersion: string; answers: Answer[] };

  // What the agent sends: the gzipped pprof as the raw body, format=pprof, Bearer token.
  assert.ok(answers.length >= 5, `two rounds of wall and heap profiles, a wall profile at stop: ${JSON.stringify(answers)}`);
  for (const a of answers) {
    const u = new URL(a.url);
    assert.equal(`${u.origin}${u.pathname}`, `${srv.url}ingest`);
    assert.equal(a.method, "POST");
    assert.equal(u.searchParams.get("format"), "pprof");
    assert.equal(u.searchParams.get("spyName"), "nodespy");
    assert.match(u.searchParams.get("from") ?? "", /^\d{10}$/);
    assert.match(u.searchParams.get("until") ?? "", /^\d{10}$/);
    assert.match(u.searchParams.get("name") ?? "", /^agent-test\{.*\benv=ci\b.*\}$/);
    assert.equal(a.contentType, "application/octet-stream");
    assert.equal(a.authorization, `Bearer ${TOKEN}`);
    assert.ok(a.bytes > 0);
  }
  // Its wall profiles (they carry sampleRate) are stored. Its heap profiles (start() starts the heap
  // profiler too, sent under the same name) are refused, naming their sample types: the server
  // keeps CPU and wall time only.
  const wall = answers.filter((a) => new URL(a.url).searchParams.has("sampleRate"));
  const heap = answers.filter((a) => !new URL(a.url).searchParams.has("sampleRate"));
  assert.ok(wall.length >= 3, "two rounds and the last upload at stop");
  for (const a of wall) assert.equal(a.status, 200, a.body);
  assert.ok(heap.length >= 2, "a heap profile in each round");
  for (const a of heap) {
    assert.equal(a.status, 400);
    assert.match(JSON.parse(a.body).error, /no sample count, CPU or wall time \(it has inuse_objects\/count, inuse_space\/bytes\)/);
  }
  const sampleRate = new URL(wall[0].url).searchParams.get("sampleRate");

  // Listed: one profile per accepted upload, found by the agent's app name and a tag it was given,
  // with every label of the name (its tags and the ones it adds) and the spy name and sample rate.
  const list = (await get("/api/profiles?name=agent-test&label=env=ci&limit=100")).json();
  assert.equal(list.total, wall.length);
  for (const p of list.profiles) {
    assert.equal(p.name, "agent-test");
    assert.deepEqual(p.labels, {
      "otel.scope.name": "com.grafana.pyroscope/nodejs",
      "otel.scope.version": agentVersion,
      "process.runtime.name": "nodejs",
      "process.runtime.version": process.versions.node,
      env: "ci",
      region: "local",
      __spy_name__: "nodespy",
      __sample_rate__: sampleRate,
    });
    assert.equal(p.sourceFormat, "pprof");
    assert.ok(p.startTime >= startedUs - 1_000_000 && p.startTime <= Date.now() * 1000, `start time ${p.startTime} µs is during the run`);
  }
  // Each stored profile has the samples its pprof counted (pprof sums a stack's samples in one
  // value: all are kept), and one more per pprof sample with CPU time but a count of 0
  // (@datadog/pprof's "Non JS threads activity"), which is kept as one sample carrying that time.
  const sent = wall.map((a) => a.samples!.count + a.samples!.uncounted.length).sort((a, b) => a - b);
  assert.ok(wall.every((a) => a.samples!.count > 0));
  for (const stack of wall.flatMap((a) => a.samples!.uncounted)) assert.match(stack, /:Non JS threads activity:/);
  assert.deepEqual(list.profiles.map((p: { samples: number }) => p.samples).sort((a: number, b: number) => a - b), sent);

  // Viewable: the largest one's summary, page and speedscope export name the function that burnt
  // the CPU (the agent names functions "file:name:line", Pyroscope's way).
  const biggest = list.profiles.reduce((a: { samples: number }, b: { samples: number }) => (b.samples > a.samples ? b : a));
  const meta = (await get(`/api/profiles/${biggest.id}`)).json();
  const hot = meta.summary.top.find((r: { name: string }) => /:burnCpuForPyroscope:\d+$/.test(r.name));
  assert.ok(hot, JSON.stringify(meta.summary.top.slice(0, 5)));
  assert.equal(hot.file, FIXTURE);
  assert.ok(hot.selfPercent > 50, `burnCpuForPyroscope has ${hot.selfPercent}% self: ${JSON.stringify(meta.summary.top.slice(0, 8))}`);
  const page = await get(`/profiles/${biggest.id}`);
  assert.equal(page.status, 200);
  assert.match(page.type, /^text\/html/);
  assert.match(page.text, /<td>[^<]*:burnCpuForPyroscope:\d+<\/td>/);
  assert.ok(page.text.includes("agent-test"));
  const speedscope = await get(`/api/profiles/${biggest.id}/download?format=speedscope`);
  assert.equal(speedscope.status, 200);
  assert.ok(speedscope.json().shared.frames.some((f: { name: string }) => f.name.includes("burnCpuForPyroscope")));
  assert.ok((await get("/?q=agent-test")).text.includes(`href="/profiles/${biggest.id}"`), "the list page links it");
});
