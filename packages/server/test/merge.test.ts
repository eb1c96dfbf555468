/**
 * Merged profiles through the real HTTP API: GET /api/merge of 100 uploads is the merge vmprof-convert
 * makes of the same stored profiles; labels and names select; the /merge page renders in Chromium;
 * bad selections are one line each.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { decodeProfile, dumpProfile, readProfileSync } from "@vmprof/format";
import { APP, chromium, node, startServer, tempDir, type Running } from "./helpers.js";

const dir = tempDir();
const CONVERT = path.resolve(path.dirname(APP), "../../../convert/bin/run.js");
let srv: Running;
/** Samples per upload, by label env. */
const samples = { prod: 0, dev: 0 };
/** The same, of the folded (collapsed stacks) uploads only. */
const foldedSamples = { prod: 0, dev: 0 };

async function upload(query: string, body: Uint8Array | string): Promise<string> {
  const r = await fetch(new URL(`/api/profiles?${query}`, srv.url), { method: "POST", body, headers: { "content-type": "application/octet-stream" } });
  const text = await r.text();
  assert.equal(r.status, 201, text);
  return JSON.parse(text).id as string;
}
async function get(pathname: string) {
  const r = await fetch(new URL(pathname, srv.url));
  const bytes = Buffer.from(await r.arrayBuffer());
  return { status: r.status, bytes, text: bytes.toString("utf8"), type: r.headers.get("content-type") ?? "" };
}

before(async () => {
  srv = await startServer(["--db", path.join(dir, "merge.db")]);
  // 100 uploads named svc: collapsed stacks that differ from one to the next, and real recordings.
  for (let i = 0; i < 100; i++) {
    const env = i % 2 === 0 ? "prod" : "dev";
    if (i % 25 === 0) {
      await upload(`name=svc&label=env=${env}&label=kind=recording`, fs.readFileSync(APP));
      samples[env] += readProfileSync(APP).samples.count;
    } else {
      const a = 10 + (i % 7);
      const b = 1 + i;
      await upload(`name=svc&label=env=${env}&label=kind=folded`, `main;handle;f${i % 5} ${a}\nmain;idle ${b}\nmain;${env}Only 20\n`);
      samples[env] += a + b + 20;
      foldedSamples[env] += a + b + 20;
    }
  }
  await upload("name=other", "main;elsewhere 5\n");
});
after(async () => {
  await srv.stop();
});

test("GET /api/merge of 100 uploads is the merge vmprof-convert makes of the same stored profiles", async () => {
  const merged = await get("/api/merge?name=svc");
  assert.equal(merged.status, 200, merged.text);
  const ours = decodeProfile(gunzipSync(merged.bytes), "merge");
  assert.equal(ours.samples.count, samples.prod + samples.dev);
  // The same stored profiles, in the order the list gives them, merged by the command.
  const list = JSON.parse((await get("/api/profiles?name=svc&limit=1000")).text) as { total: number; profiles: { id: string }[] };
  assert.equal(list.total, 100);
  const files: string[] = [];
  for (const p of list.profiles) {
    const d = await get(`/api/profiles/${p.id}/download?format=vmprof`);
    const file = path.join(dir, `${p.id}.prof.gz`);
    fs.writeFileSync(file, d.bytes);
    files.push(file);
  }
  const out = path.join(dir, "convert-merge.prof");
  const r = node(CONVERT, ["-o", out, ...files]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(dumpProfile(ours), dumpProfile(readProfileSync(out)));
  // Every format the downloads have.
  for (const format of ["pprof", "speedscope", "collapsed", "svg"]) {
    const d = await get(`/api/merge?name=svc&format=${format}`);
    assert.equal(d.status, 200, `${format}: ${d.text.slice(0, 200)}`);
    assert.ok(d.bytes.length > 100);
  }
});

test("labels select: the merge of env=prod holds exactly the prod uploads' samples", async () => {
  const prod = await get("/api/merge?name=svc&label=env=prod");
  assert.equal(prod.status, 200, prod.text);
  assert.equal(decodeProfile(gunzipSync(prod.bytes), "prod").samples.count, samples.prod);
  const other = await get("/api/merge?name=other");
  assert.equal(decodeProfile(gunzipSync(other.bytes), "other").samples.count, 5);
});

test("the /merge page renders in Chromium: how many profiles, the top functions, speedscope's viewer of the merge", async () => {
  const page = await get("/merge?name=svc&label=env=dev");
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /50 profiles/);
  const r = chromium(["--dump-dom", new URL("/merge?name=svc&label=env=dev", srv.url).href]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Merged: named like "svc", env=dev/);
  assert.match(r.stdout, /<td>handle<\/td>/);
  assert.match(r.stdout, /profileURL=%2Fapi%2Fmerge%3Fname%3Dsvc%26label%3Denv%253Ddev%26format%3Dspeedscope/);
  // The profile page links to the merge of its name.
  const id = JSON.parse((await get("/api/profiles?name=other")).text).profiles[0].id as string;
  assert.match((await get(`/profiles/${id}`)).text, /href="\/merge\?name=other"/);
});

test("bad selections: nothing matches (404), a malformed label, time or format (400), one JSON line each", async () => {
  for (const [q, status, message] of [
    ["name=nothing-like-this", 404, /no profile matches the selection/],
    ["label=env", 400, /label "env" is not key=value/],
    ["name=svc&from=yesterday-ish", 400, /from must be ms since the epoch or an ISO date/],
    ["name=svc&format=bogus", 400, /format must be one of/],
  ] as const) {
    const r = await get(`/api/merge?${q}`);
    assert.equal(r.status, status, `${q}: ${r.text}`);
    const body = JSON.parse(r.text) as { error: string };
    assert.match(body.error, message);
    assert.ok(!body.error.includes("\n"));
  }
});

test("compare over two merged selections: the change per function between them, none between a selection and itself, the page links to both merges", async () => {
  // The folded uploads only: they weigh by samples (the recordings in the same selection would make CPU time the weight).
  const both = await get("/api/compare?base.name=svc&base.label=env=prod&base.label=kind=folded&other.name=svc&other.label=env=dev&other.label=kind=folded");
  assert.equal(both.status, 200, both.text);
  const c = JSON.parse(both.text) as { base: { name: string; samples: number; merge?: string }; other: { samples: number }; functions: { name: string; deltaTotal: number }[] };
  assert.equal(c.base.samples, foldedSamples.prod);
  assert.equal(c.other.samples, foldedSamples.dev);
  assert.match(c.base.name, /merge of named like "svc", env=prod, kind=folded/);
  assert.equal(c.base.merge, "name=svc&label=env%3Dprod&label=kind%3Dfolded");
  // devOnly is only in the new side, prodOnly only in the base.
  assert.ok(c.functions.find((f) => f.name === "devOnly")!.deltaTotal > 1);
  assert.ok(c.functions.find((f) => f.name === "prodOnly")!.deltaTotal < -1);
  const same = JSON.parse((await get("/api/compare?base.name=svc&base.label=env=prod&other.name=svc&other.label=env=prod")).text) as { functions: { deltaTotal: number }[] };
  assert.ok(same.functions.length > 0);
  for (const f of same.functions) assert.equal(f.deltaTotal, 0);
  const page = await get("/compare?base.name=svc&base.label=env=prod&other=" + JSON.parse((await get("/api/profiles?name=other")).text).profiles[0].id);
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /href="\/merge\?name=svc&amp;label=env%3Dprod"/);
  assert.match(page.text, /href="\/profiles\/[0-9a-f]{16}"/);
  // A side with neither an id nor a selection: 400, saying both ways.
  const none = await get("/api/compare?other.name=svc");
  assert.equal(none.status, 400);
  assert.match(JSON.parse(none.text).error, /base is required: a profile id, or a selection/);
});
