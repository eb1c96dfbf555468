/**
 * Retention through the real server (--max-bytes, --retain) and on a real SQLite store (a profile
 * being read is passed over until it is no longer read); bad values are one line, exit 2.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { Readers, Retention } from "../src/retention.js";
import { SqliteStore } from "../src/store-sqlite.js";
import { APP, SERVER, node, startServer, tempDir } from "./helpers.js";

const dir = tempDir();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function upload(url: string, name: string, body: Uint8Array | string): Promise<{ id: string }> {
  const r = await fetch(new URL(`/api/profiles?name=${name}`, url), { method: "POST", body, headers: { "content-type": "application/octet-stream" } });
  const text = await r.text();
  assert.equal(r.status, 201, text);
  return JSON.parse(text) as { id: string };
}
async function list(url: string): Promise<{ name: string; size: number }[]> {
  return ((await (await fetch(new URL("/api/profiles?limit=1000", url))).json()) as { profiles: { name: string; size: number }[] }).profiles;
}

test("--max-bytes: after each upload the oldest go until what is stored fits; the newest stay", async () => {
  // One upload's stored size, measured on a server of its own.
  const probe = await startServer(["--db", path.join(dir, "probe.db")]);
  await upload(probe.url, "probe", fs.readFileSync(APP));
  const size = (await list(probe.url))[0].size;
  await probe.stop();

  const srv = await startServer(["--db", path.join(dir, "max.db"), "--max-bytes", String(3 * size + size / 2)]);
  try {
    for (let i = 0; i < 8; i++) {
      await upload(srv.url, `p${i}`, fs.readFileSync(APP));
      await sleep(20); // uploads a few ms apart: "oldest" is well defined
    }
    let names: string[] = [];
    for (let k = 0; k < 50; k++) {
      await sleep(100);
      names = (await list(srv.url)).map((p) => p.name);
      if (names.length <= 3) break;
    }
    assert.deepEqual(names, ["p7", "p6", "p5"]);
  } finally {
    await srv.stop();
  }
});

test("--retain: profiles older than the retention are deleted continuously; newer ones stay", async () => {
  // 0.00003 days: 2.6 s.
  const srv = await startServer(["--db", path.join(dir, "retain.db"), "--retain", "0.00003"]);
  try {
    await upload(srv.url, "old", "main;a 5\n");
    await sleep(2000);
    await upload(srv.url, "new", "main;b 5\n");
    let names: string[] = [];
    for (let k = 0; k < 40; k++) {
      await sleep(100);
      names = (await list(srv.url)).map((p) => p.name);
      if (!names.includes("old")) break;
    }
    assert.deepEqual(names, ["new"]);
  } finally {
    await srv.stop();
  }
});

test("a profile being read is passed over, and deleted once it is no longer read", async () => {
  const store = await SqliteStore.open(path.join(dir, "readers.db"));
  try {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const rec = await store.insert({ name: `r${i}`, labels: {}, uploadedAt: 1000 + i, startTime: 0, durationUs: 0, samples: 1, sourceFormat: "collapsed", summary: {} }, new Uint8Array(100));
      ids.push(rec.id);
    }
    const readers = new Readers();
    const release = readers.hold(ids[0]); // the oldest is being read
    // Uploaded in 1970: all past a day's retention.
    const r = new Retention(store, { retainDays: 1 }, readers, () => {});
    assert.deepEqual(await r.pass(), { deleted: 4, bytes: 400 });
    assert.deepEqual((await store.list({ limit: 10, offset: 0 })).profiles.map((p) => p.name), ["r0"]);
    release();
    assert.deepEqual(await r.pass(), { deleted: 1, bytes: 100 });
    assert.deepEqual((await store.list({ limit: 10, offset: 0 })).profiles.map((p) => p.name), []);
    // A size limit passes over a profile being read the same way, and stops as soon as the rest fits.
    for (let i = 0; i < 5; i++) {
      await store.insert({ name: `s${i}`, labels: {}, uploadedAt: Date.now() + i, startTime: 0, durationUs: 0, samples: 1, sourceFormat: "collapsed", summary: {} }, new Uint8Array(100));
    }
    const oldest = (await store.oldest(1))[0].id;
    const again = readers.hold(oldest);
    assert.deepEqual(await new Retention(store, { maxBytes: 250 }, readers, () => {}).pass(), { deleted: 3, bytes: 300 });
    assert.deepEqual((await store.list({ limit: 10, offset: 0 })).profiles.map((p) => p.name), ["s4", "s0"]);
    again();
  } finally {
    await store.close();
  }
});

test("bad retention values: one line naming the flag, exit 2", () => {
  for (const [args, message] of [
    [["--retain", "-1"], /--retain: expected a positive number of days, got "-1"/],
    [["--retain", "soon"], /--retain: expected a positive number of days, got "soon"/],
    [["--max-bytes", "12Q"], /--max-bytes: expected a size such as 500M or 20G, got "12Q"/],
  ] as const) {
    const r = node(SERVER, ["--db", path.join(dir, "bad.db"), "--port", "0", ...args]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  }
});
