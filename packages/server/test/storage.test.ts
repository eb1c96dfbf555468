/**
 * The two storage engines as operators meet them: real vmprof-server processes over HTTP, on a real
 * PostgreSQL (a throwaway cluster of Debian's PostgreSQL) and on a real SQLite file; kill -9 in the
 * middle of uploads, a second process on one SQLite file, a database unreachable at start and one
 * stopped and started again while serving.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { gunzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { decodeProfile } from "@vmprof/format";
import { APP, SERVER, startServer, tempDir, type Running } from "./helpers.js";
import { freePort, startCluster, type Cluster } from "./postgres.js";

const app = fs.readFileSync(APP);
const plain = (b: Buffer) => (b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b);
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
/** What every stored copy of app.prof must download as (our format, uncompressed). */
const APP_SHA = sha(plain(app));
const dir = tempDir();
let pg: Cluster;

before(async () => {
  pg = await startCluster();
});
after(() => {
  pg?.remove();
});

/** Uploads app.prof through `srv` as `name` with label run=RUN and i=N; the answer's status and id (status 0: no answer). */
async function upload(srv: Running, run: string, i: number): Promise<{ status: number; id?: string; text: string }> {
  try {
    const r = await fetch(new URL(`/api/profiles?name=${run}-${i}&label=run=${run}&label=i=${i}`, srv.url), { method: "POST", body: app, headers: { "content-type": "application/octet-stream" } });
    const text = await r.text();
    return { status: r.status, id: r.status === 201 ? (JSON.parse(text) as { id: string }).id : undefined, text };
  } catch (e) {
    return { status: 0, text: (e as Error).message };
  }
}

async function getJson(srv: Running, pathname: string): Promise<{ status: number; body: any }> {
  const r = await fetch(new URL(pathname, srv.url));
  const text = await r.text();
  return { status: r.status, body: JSON.parse(text) };
}

interface Listed {
  id: string;
  name: string;
  labels: Record<string, string>;
}

/** Every profile of `run` as listed through `srv` (by name, and by label: a profile without its label rows would be missing from the second). */
async function listRun(srv: Running, run: string): Promise<{ byName: Listed[]; byLabel: Listed[] }> {
  const byName = await getJson(srv, `/api/profiles?name=${run}-&limit=1000`);
  const byLabel = await getJson(srv, `/api/profiles?label=run=${run}&limit=1000`);
  assert.equal(byName.status, 200);
  assert.equal(byLabel.status, 200);
  return { byName: byName.body.profiles, byLabel: byLabel.body.profiles };
}

/**
 * Asserts that every profile of `run` listed through `srv` is whole: its labels are the ones its upload
 * sent, it is found by label as well as by name, and its bytes download whole; and that every id in
 * `answered` (uploads answered 201) is among them. Returns how many are stored.
 */
async function assertWhole(srv: Running, run: string, answered: Map<number, string>): Promise<number> {
  const { byName, byLabel } = await listRun(srv, run);
  assert.deepEqual(byLabel.map((p) => p.id).sort(), byName.map((p) => p.id).sort(), "the same profiles by name and by label");
  const seen = new Set<string>();
  for (const p of byName) {
    const i = Number(p.name.slice(run.length + 1));
    assert.deepEqual(p.labels, { run, i: String(i) }, `${p.name}: labels`);
    assert.ok(!seen.has(p.name), `${p.name} stored once`);
    seen.add(p.name);
    const r = await fetch(new URL(`/api/profiles/${p.id}/download`, srv.url));
    assert.equal(r.status, 200);
    assert.equal(sha(plain(Buffer.from(await r.arrayBuffer()))), APP_SHA, `${p.name}: bytes`);
  }
  const ids = new Set(byName.map((p) => p.id));
  for (const [i, id] of answered) assert.ok(ids.has(id), `upload ${i} was answered 201 (${id}) and must be stored`);
  return byName.length;
}

/** Starts a server and measures how long until it listens, in ms. */
async function timedStart(args: string[]): Promise<{ srv: Running; ms: number }> {
  const t0 = performance.now();
  const srv = await startServer(args);
  return { srv, ms: performance.now() - t0 };
}

/** Runs vmprof-server expecting it to refuse to start; its exit code and stderr. */
function refused(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [SERVER, "--port", "0", ...args], { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stderr: r.stderr };
}

/**
 * Fires `total` concurrent uploads spread over `servers` and kills `victim` with SIGKILL once `killAfter`
 * of its uploads were answered 201. Resolves to the uploads answered 201 (i -> id) and the statuses.
 */
async function uploadsWithKill(servers: Running[], victim: Running, run: string, total: number, killAfter: number) {
  const answered = new Map<number, string>();
  let victimDone = 0;
  let killed = false;
  const results = await Promise.all(
    Array.from({ length: total }, async (_, i) => {
      const srv = servers[i % servers.length];
      const r = await upload(srv, run, i);
      if (r.status === 201) {
        // An answer read after the kill was still sent before it: it counts.
        answered.set(i, r.id!);
        if (srv === victim && ++victimDone === killAfter && !killed) {
          killed = true;
          victim.child.kill("SIGKILL");
        }
      }
      return { srv, status: r.status };
    }),
  );
  assert.ok(killed, "the server was killed in the middle of the uploads");
  return { answered, results };
}

test("two servers on one PostgreSQL: 200 concurrent uploads spread over both are stored once each, and each is listed, read, downloaded and deleted through the other", async () => {
  // Started together: both migrate the empty database at once (the advisory lock makes it once).
  const [a, b] = await Promise.all([startServer(["--db", pg.url]), startServer(["--db", pg.url])]);
  try {
    const servers = [a, b];
    const t0 = performance.now();
    const ups = await Promise.all(Array.from({ length: 200 }, (_, i) => upload(servers[i % 2], "two", i)));
    const ms = performance.now() - t0;
    console.log(`200 concurrent uploads over 2 servers on PostgreSQL: ${ms.toFixed(0)} ms`);
    for (const u of ups) assert.equal(u.status, 201, u.text);
    const answered = new Map(ups.map((u, i) => [i, u.id!]));
    // Whole and stored once, as each server lists them.
    assert.equal(await assertWhole(a, "two", answered), 200);
    assert.equal(await assertWhole(b, "two", answered), 200);
    // Each upload read through the server it did not go through.
    for (const [i, id] of answered) {
      const other = servers[(i + 1) % 2];
      const rec = await getJson(other, `/api/profiles/${id}`);
      assert.equal(rec.status, 200);
      assert.equal(rec.body.name, `two-${i}`);
      assert.equal(rec.body.samples, 1127);
    }
    // Deleted through the other: gone through both.
    for (let i = 0; i < 20; i++) {
      const del = await fetch(new URL(`/api/profiles/${answered.get(i)}`, servers[(i + 1) % 2].url), { method: "DELETE" });
      assert.equal(del.status, 204);
      assert.equal((await getJson(servers[i % 2], `/api/profiles/${answered.get(i)}`)).status, 404);
    }
    assert.equal((await getJson(a, "/api/profiles?label=run=two")).body.total, 180);
    assert.equal((await getJson(b, "/api/profiles?label=run=two")).body.total, 180);
    // Merged through one server, whichever server stored them.
    const merged = await fetch(new URL("/api/merge?label=run=two", b.url));
    assert.equal(merged.status, 200);
    assert.equal(decodeProfile(gunzipSync(Buffer.from(await merged.arrayBuffer())), "merge").samples.count, 180 * 1127);
    // Retention on PostgreSQL: a third server with a size limit of one byte empties the shared
    // database, oldest first, as the others see it.
    const c = await startServer(["--db", pg.url, "--max-bytes", "1"]);
    try {
      let left = 180;
      for (let k = 0; k < 300 && left > 0; k++) {
        await new Promise((r) => setTimeout(r, 100));
        left = (await getJson(a, "/api/profiles?label=run=two")).body.total;
      }
      assert.equal(left, 0);
    } finally {
      await c.stop();
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test("kill -9 of one of two servers on PostgreSQL in the middle of 200 uploads: every upload answered 201 is stored whole, none half, and it starts again at once", async () => {
  const a = await startServer(["--db", pg.url]);
  const b = await startServer(["--db", pg.url]);
  let again: Running | undefined;
  try {
    const { answered, results } = await uploadsWithKill([a, b], a, "pgkill", 200, 10);
    // The survivor answered all of its own.
    for (const r of results.filter((x) => x.srv === b)) assert.equal(r.status, 201);
    const lost = results.filter((x) => x.srv === a && x.status !== 201).length;
    assert.ok(lost > 0, "some uploads were cut off by the kill");
    const started = await timedStart(["--db", pg.url]);
    again = started.srv;
    console.log(`PostgreSQL: ${answered.size} of 200 answered 201, ${lost} cut off; restart took ${started.ms.toFixed(0)} ms`);
    assert.ok(started.ms < 10_000, `restarted in ${started.ms} ms`);
    const stored = await assertWhole(again, "pgkill", answered);
    assert.ok(stored >= answered.size && stored <= 200);
    assert.equal(await assertWhole(b, "pgkill", answered), stored);
  } finally {
    await Promise.all([a.stop(), b.stop(), again?.stop()]);
  }
});

test("kill -9 of the server on a SQLite file in the middle of 200 uploads: every upload answered 201 is stored whole, none half, the file is sound, and it starts again at once", async () => {
  const db = path.join(dir, "kill.db");
  const a = await startServer(["--db", db]);
  const t0 = performance.now();
  const { answered, results } = await uploadsWithKill([a], a, "sqlkill", 200, 20);
  console.log(`SQLite: ${answered.size} of 200 answered 201 before and around the kill (${(performance.now() - t0).toFixed(0)} ms)`);
  assert.ok(results.some((r) => r.status !== 201), "some uploads were cut off by the kill");
  await new Promise((r) => (a.child.exitCode !== null || a.child.signalCode !== null ? r(null) : a.child.once("exit", r)));
  // Nothing is left beside the file that could block the next start (no lock directory, no -shm).
  const left = fs.readdirSync(dir).filter((f) => f.startsWith("kill.db"));
  assert.deepEqual(left.filter((f) => f !== "kill.db" && f !== "kill.db-wal"), [], `left beside the file: ${left.join(", ")}`);
  const { srv, ms } = await timedStart(["--db", db]);
  try {
    console.log(`SQLite: restart after kill -9 took ${ms.toFixed(0)} ms`);
    assert.ok(ms < 10_000);
    const stored = await assertWhole(srv, "sqlkill", answered);
    assert.ok(stored >= answered.size && stored <= 200);
    // It accepts new uploads at once.
    assert.equal((await upload(srv, "sqlafter", 0)).status, 201);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
  // SQLite's own check of the file the kill and the restart left.
  const check = new Database(db, { readonly: true });
  try {
    assert.equal(check.pragma("integrity_check", { simple: true }), "ok");
    assert.deepEqual(check.pragma("foreign_key_check"), []);
    assert.equal(check.pragma("user_version", { simple: true }), 1);
  } finally {
    check.close();
  }
});

test("a second server on the same SQLite file is refused: exit 2, one line naming the file; the first serves on, and the file is free once it stops", async () => {
  const db = path.join(dir, "owned.db");
  const first = await startServer(["--db", db]);
  try {
    assert.equal((await upload(first, "owned", 0)).status, 201);
    const t0 = performance.now();
    const second = refused(["--db", db]);
    assert.equal(second.status, 2, second.stderr);
    assert.ok(performance.now() - t0 < 10_000);
    assert.equal(second.stderr.trim().split("\n").length, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`^vmprof-server: ${db.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: the database is in use by another process`));
    assert.equal((await upload(first, "owned", 1)).status, 201);
    assert.equal((await getJson(first, "/api/profiles?label=run=owned")).body.total, 2);
  } finally {
    assert.equal(await first.stop(), 0);
  }
  const next = await startServer(["--db", db]);
  try {
    assert.equal((await getJson(next, "/api/profiles?label=run=owned")).body.total, 2);
  } finally {
    await next.stop();
  }
});

test("a database unreachable at start: exit 2, one line naming it", async () => {
  const port = await freePort();
  const url = `postgres://vmprof:hunter2@127.0.0.1:${port}/vmprof`;
  const r = refused(["--db", url]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^vmprof-server: postgres://vmprof:\\*\\*\\*@127\\.0\\.0\\.1:${port}/vmprof: cannot open the database \\(.*ECONNREFUSED`));
  assert.ok(!r.stderr.includes("hunter2"), "the password is not printed");
  // A database that does not exist on a reachable server, and a SQLite file in a missing directory.
  const missing = refused(["--db", pg.url.replace(/\/vmprof$/, "/nosuchdb")]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^vmprof-server: postgres:\/\/vmprof@127\.0\.0\.1:\d+\/nosuchdb: cannot open the database \(database "nosuchdb" does not exist\)\n$/);
  const nodir = refused(["--db", path.join(dir, "no/such/dir/x.db")]);
  assert.equal(nodir.status, 2);
  assert.match(nodir.stderr, /^vmprof-server: \S+no\/such\/dir\/x\.db: cannot open the database \(.+\)\n$/);
});

test("PostgreSQL stopped while serving: 503 with one line on requests that need it, nothing half-written; started again: requests succeed", async () => {
  const srv = await startServer(["--db", pg.url]);
  try {
    const first = await upload(srv, "outage", 0);
    assert.equal(first.status, 201);
    const answered = new Map<number, string>([[0, first.id!]]);
    // Uploads in flight while the database stops.
    const inflight = Array.from({ length: 40 }, (_, i) => upload(srv, "outage", i + 1));
    await new Promise((r) => setTimeout(r, 30));
    pg.stop();
    const during = await Promise.all(inflight);
    during.forEach((u, i) => {
      if (u.status === 201) answered.set(i + 1, u.id!);
      else assert.equal(u.status, 503, `${u.text}: ${srv.stderr()}`);
    });
    // Down: one JSON line, 503, for every request that needs the database; the viewer needs none.
    const checks: [string, RequestInit?][] = [["/api/profiles"], ["/api/profiles/0123456789abcdef"], ["/"], ["/api/profiles?name=x", { method: "POST", body: app }]];
    for (const [p, init] of checks) {
      const r = await fetch(new URL(p, srv.url), init);
      const text = await r.text();
      assert.equal(r.status, 503, `${p}: ${text}`);
      assert.equal(r.headers.get("retry-after"), "5");
      assert.deepEqual(JSON.parse(text), { error: "the database is unavailable: try again later" });
    }
    assert.equal((await fetch(new URL("/viewer/index.html", srv.url))).status, 200);
    pg.start();
    // Back: the next requests are served (the pool opens new connections).
    const up = await upload(srv, "outage", 100);
    assert.equal(up.status, 201, up.text);
    answered.set(100, up.id!);
    const stored = await assertWhole(srv, "outage", answered);
    console.log(`outage: ${answered.size - 2} of 40 in flight answered 201, ${42 - answered.size} answered 503; ${stored} stored after`);
    assert.ok(srv.stderr().includes("unreachable"), srv.stderr());
    assert.ok(srv.stderr().includes("reachable again"), srv.stderr());
  } finally {
    await srv.stop();
  }
});
