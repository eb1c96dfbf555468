/**
 * vmprof-server as a user runs it: a real process on loopback with a real SQLite file, spoken to over
 * HTTP, its pages loaded in headless Chromium, and fed what Pyroscope's Node agent sends.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { request } from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { Function as PFunction, Line, Location, Profile as PProfile, Sample, StringTable, ValueType } from "pprof-format";
import { ProfileWriter, Tier, decodeProfile, fileSink } from "@vmprof/format";
import { APP, LINES_PROGRAM, RECORD, TRUNCATED, chromium, node, startServer, tempDir, type Running } from "./helpers.js";

const dir = tempDir();
const DB = path.join(dir, "profiles.db");
const TOKEN = "s3cret-token";
let srv: Running;
const auth = { authorization: `Bearer ${TOKEN}` };
const app = fs.readFileSync(APP);

before(async () => {
  srv = await startServer(["--db", DB, "--token", TOKEN]);
});
after(async () => {
  await srv?.stop();
});

async function post(pathname: string, body: Uint8Array | string, headers: Record<string, string> = auth) {
  const r = await fetch(new URL(pathname, srv.url), { method: "POST", body, headers: { "content-type": "application/octet-stream", ...headers } });
  const text = await r.text();
  return { status: r.status, text, json: () => JSON.parse(text) };
}
async function get(pathname: string, headers: Record<string, string> = {}) {
  const r = await fetch(new URL(pathname, srv.url), { headers });
  const buf = Buffer.from(await r.arrayBuffer());
  return { status: r.status, buf, type: r.headers.get("content-type") ?? "", json: () => JSON.parse(buf.toString()) };
}

/** A pprof shaped like @datadog/pprof's wall profile (what Pyroscope's Node agent encodes). */
function agentPprof(): Buffer {
  const st = new StringTable();
  const fn = (id: number, name: string) => new PFunction({ id, name: st.dedup(name), systemName: st.dedup(name), filename: st.dedup("/srv/agent/app.js"), startLine: id * 10 });
  const loc = (id: number) => new Location({ id, line: [new Line({ functionId: id, line: id * 10 + 1 })] });
  const profile = new PProfile({
    sampleType: [new ValueType({ type: st.dedup("sample"), unit: st.dedup("count") }), new ValueType({ type: st.dedup("wall"), unit: st.dedup("nanoseconds") })],
    sample: [new Sample({ locationId: [2, 1], value: [30, 300_000_000] }), new Sample({ locationId: [3, 1], value: [10, 100_000_000] })],
    location: [loc(1), loc(2), loc(3)],
    function: [fn(1, "handler"), fn(2, "agentHotPath"), fn(3, "agentColdPath")],
    stringTable: st,
    timeNanos: BigInt(Date.now()) * 1_000_000n,
    durationNanos: 10_000_000_000,
    periodType: new ValueType({ type: st.dedup("wall"), unit: st.dedup("nanoseconds") }),
    period: 10_000_000,
  });
  return gzipSync(profile.encode());
}

test("upload, list, read, download in every format, delete: the API over a real SQLite file", async () => {
  const up = await post("/api/profiles?name=checkout&label=env=prod&label=region=eu", app);
  assert.equal(up.status, 201, up.text);
  const { id, url } = up.json();
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.equal(url, `${srv.url}profiles/${id}`);

  const meta = (await get(`/api/profiles/${id}`)).json();
  assert.equal(meta.name, "checkout");
  assert.deepEqual(meta.labels, { env: "prod", region: "eu" });
  assert.equal(meta.samples, 1127);
  assert.equal(meta.sourceFormat, "vmprof");
  assert.equal(meta.summary.top.find((r: { name: string }) => r.name === "tokenize").totalPercent.toFixed(1), "47.3", "as vmprof-report --flat says");
  assert.equal(meta.summary.threads.length, 3);

  // Every importable format is accepted and detected.
  const samples = (await get(`/api/profiles/${id}/download?format=collapsed`)).buf;
  const speedscope = (await get(`/api/profiles/${id}/download?format=speedscope`)).buf;
  const pprof = (await get(`/api/profiles/${id}/download?format=pprof`)).buf;
  const cpuprofile = (await get(`/api/profiles/${id}/download?format=cpuprofile`)).buf;
  assert.equal(pprof[0], 0x1f);
  assert.equal(JSON.parse(speedscope.toString()).$schema, "https://www.speedscope.app/file-format-schema.json");
  for (const [format, body] of [["collapsed", samples], ["speedscope", speedscope], ["pprof", pprof], ["cpuprofile", cpuprofile]] as const) {
    const r = await post(`/api/profiles?name=as-${format}`, body);
    assert.equal(r.status, 201, `${format}: ${r.text}`);
    assert.equal((await get(`/api/profiles/${r.json().id}`)).json().sourceFormat, format);
  }
  // The stored bytes are our format: what was uploaded comes back with the same samples.
  const back = decodeProfile(gunzipSync((await get(`/api/profiles/${id}/download`)).buf));
  assert.equal(back.samples.count, 1127);
  const svg = await get(`/api/profiles/${id}/download?format=svg`);
  assert.equal(svg.type, "image/svg+xml");

  // Newest first, filters, pages.
  const all = (await get("/api/profiles")).json();
  assert.equal(all.total, 5);
  assert.deepEqual(
    all.profiles.map((p: { name: string }) => p.name),
    ["as-cpuprofile", "as-pprof", "as-speedscope", "as-collapsed", "checkout"],
  );
  assert.equal(all.profiles[0].summary, undefined, "lists carry no summaries");
  assert.equal((await get("/api/profiles?name=CHECK")).json().total, 1);
  assert.equal((await get("/api/profiles?label=env=prod")).json().total, 1);
  assert.equal((await get("/api/profiles?label=env=dev")).json().total, 0);
  const page2 = (await get("/api/profiles?limit=2&offset=2")).json();
  assert.deepEqual(
    page2.profiles.map((p: { name: string }) => p.name),
    ["as-speedscope", "as-collapsed"],
  );
  assert.equal((await get(`/api/profiles?from=${Date.now() + 60_000}`)).json().total, 0);
  assert.equal((await get(`/api/profiles?to=${new Date(Date.now() + 60_000).toISOString()}`)).json().total, 5);

  const del = await fetch(new URL(`/api/profiles/${id}`, srv.url), { method: "DELETE", headers: auth });
  assert.equal(del.status, 204);
  assert.equal((await get(`/api/profiles/${id}`)).status, 404);
  assert.equal((await get("/api/profiles")).json().total, 4);
});

test("bad requests: 401, 404, 415, 413, 400 (malformed ids too) with one JSON line each, and nothing half stored", async () => {
  const before = (await get("/api/profiles")).json().total;
  const corrupt = gzipSync(Buffer.concat([gunzipSync(agentPprof()).subarray(0, 40), Buffer.from([0x12, 0xff, 0xff, 0x7f])]));
  const cases: [Promise<{ status: number; text?: string; buf?: Buffer }>, number, RegExp][] = [
    [post("/api/profiles", app, {}), 401, /missing or wrong token/],
    [post("/api/profiles", app, { authorization: "Bearer wrong" }), 401, /missing or wrong token/],
    [post("/api/profiles", Buffer.from("\x00\x01garbage")), 415, /unsupported profile format; accepted: vmprof, pprof, cpuprofile, speedscope, collapsed/],
    [post("/api/profiles", ""), 400, /empty body/],
    [post("/api/profiles", fs.readFileSync(TRUNCATED)), 400, /truncated/],
    [post("/api/profiles", corrupt), 400, /corrupt pprof/],
    [post("/api/profiles", '{"nodes":[{"id":1,"callFrame":{"functionName":"(root)","url":""},"children":[5]}],"samples":[1],"timeDeltas":[1]}'), 400, /node 1 has child 5, which is not defined/],
    [post("/api/profiles?label=novalue", app), 400, /label "novalue" is not key=value/],
    [get("/api/profiles/0123456789abcdef"), 404, /no profile with id "0123456789abcdef"/],
    [get("/api/profiles/../../etc/passwd"), 404, /not found|no profile/],
    [get("/api/profiles/0123456789ABCDEF"), 400, /malformed profile id "0123456789ABCDEF": ids are 16 hex digits/],
    [get("/api/profiles/xyz/download"), 400, /malformed profile id "xyz"/],
    [get("/profiles/x'%3Cb%3E"), 400, /malformed profile id/],
    [fetch(new URL("/api/profiles/nothex", srv.url), { method: "DELETE", headers: auth }).then(async (r) => ({ status: r.status, text: await r.text() })), 400, /malformed profile id "nothex"/],
    [get("/api/profiles?limit=abc"), 400, /limit must be an integer from 1 to 1000, got "abc"/],
    [get("/api/profiles?limit=0"), 400, /limit must be an integer/],
    [get("/api/profiles?from=yesterday"), 400, /from must be ms since the epoch or an ISO date/],
    [post("/ingest?name=x&format=trie", "a;b 1"), 415, /unsupported format "trie"; accepted: pprof, folded, lines, speedscope/],
    [post("/ingest?format=folded", "a;b 1"), 400, /name is required/],
    [get("/viewer/..%2f..%2fpackage.json"), 404, /not found/],
    [get("/viewer/%2e%2e%2fpackage.json"), 404, /not found/],
  ];
  for (const [pending, status, message] of cases) {
    const r = await pending;
    assert.equal(r.status, status, r.text ?? r.buf?.toString());
    const body = JSON.parse(r.text ?? r.buf!.toString());
    assert.deepEqual(Object.keys(body), ["error"]);
    assert.match(body.error, message);
    assert.ok(!body.error.includes("\n"));
  }
  const del = await fetch(new URL("/api/profiles/0123456789abcdef", srv.url), { method: "DELETE", headers: auth });
  assert.equal(del.status, 404);
  assert.equal((await get("/api/profiles")).json().total, before);

  // Too large: a body over 1 MB, a gzip bomb inflating past 20 times that, a count of samples over the limit.
  const small = await startServer(["--db", path.join(dir, "small.db"), "--max-size", "1", "--max-samples", "1000"]);
  try {
    const tooLarge: [Buffer, RegExp][] = [
      [Buffer.alloc(1_500_000, 0x61), /body too large: the limit is 1048576 bytes/],
      [gzipSync(Buffer.alloc(30 << 20)), /upload: inflates to more than 20971520 bytes/],
      [gzipSync(Buffer.concat([fs.readFileSync(APP), Buffer.alloc(30 << 20)])), /upload: inflates to more than 20971520 bytes/],
      [Buffer.from("main;work 999\nmain;idle 2\n"), /upload: collapsed stacks count more than 1000 samples/],
    ];
    for (const [body, message] of tooLarge) {
      const r = await fetch(new URL("/api/profiles", small.url), { method: "POST", body, headers: { "content-type": "application/octet-stream" } });
      assert.equal(r.status, 413);
      assert.match(((await r.json()) as { error: string }).error, message);
    }
    assert.equal(((await (await fetch(new URL("/api/profiles", small.url))).json()) as { total: number }).total, 0);
  } finally {
    assert.equal(await small.stop(), 0);
  }
});

test("reading can require the token; the server binds to 127.0.0.1 unless told otherwise", async () => {
  assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal((await get("/api/profiles")).status, 200, "reads are open without --auth-read");
  const closed = await startServer(["--db", path.join(dir, "closed.db"), "--token", TOKEN, "--auth-read"]);
  try {
    const r = await fetch(new URL("/api/profiles", closed.url));
    assert.equal(r.status, 401);
    assert.equal((await fetch(new URL("/", closed.url))).status, 401);
    assert.equal((await fetch(new URL("/api/profiles", closed.url), { headers: auth })).status, 200);
    assert.equal((await fetch(new URL("/api/profiles", closed.url), { headers: { cookie: "vmprof_token=%E0%A4%A" } })).status, 401, "a malformed cookie is no token");
    // A browser brings the token once in the URL and gets a cookie.
    const page = await fetch(new URL(`/?token=${TOKEN}`, closed.url), { redirect: "manual" });
    assert.equal(page.status, 303);
    const cookie = page.headers.get("set-cookie") ?? "";
    assert.match(cookie, /HttpOnly/);
    assert.equal((await fetch(new URL("/", closed.url), { headers: { cookie: cookie.split(";")[0] } })).status, 200);
    // The page carries a Content-Security-Policy; the cookie grants reads, never writes.
    assert.match((await fetch(new URL("/", closed.url), { headers: auth })).headers.get("content-security-policy") ?? "", /default-src 'self'.*frame-ancestors 'self'/);
    const viaCookie = await fetch(new URL("/api/profiles", closed.url), { method: "POST", body: app, headers: { cookie: cookie.split(";")[0], "content-type": "application/octet-stream" } });
    assert.equal(viaCookie.status, 401);
    assert.equal((await fetch(new URL("/api/profiles", closed.url), { headers: { cookie: cookie.split(";")[0] } })).status, 200);
  } finally {
    await closed.stop();
  }
});

test("an upload without the token is answered 401 before its body is read", async () => {
  // 95 MB announced, 64 KB sent: the answer must come without waiting for the rest.
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(new URL("/api/profiles", srv.url), { method: "POST", headers: { "content-type": "application/octet-stream", "content-length": String(95 << 20) } }, (r) => {
      let body = "";
      r.on("data", (d) => (body += d));
      r.on("end", () => resolve({ status: r.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.write(Buffer.alloc(64 << 10));
    setTimeout(() => reject(new Error("no answer in 10 s: the server waited for the body")), 10_000).unref();
  });
  assert.equal(res.status, 401);
  assert.match(JSON.parse(res.body).error, /missing or wrong token/);
});

test("one client's uploads are read a few at a time: the next waits, unread, until one ends", async () => {
  const one = await startServer(["--db", path.join(dir, "turns.db"), "--uploads-per-client", "1"]);
  try {
    // The first upload announces its body and sends only part of it: it holds the client's turn.
    const rest = app.subarray(1000);
    let firstStatus = 0;
    const firstReq = request(new URL("/api/profiles?name=first", one.url), { method: "POST", headers: { "content-type": "application/octet-stream", "content-length": String(app.length) } });
    const first = new Promise<void>((resolve, reject) => {
      firstReq.on("response", (r) => {
        firstStatus = r.statusCode ?? 0;
        r.resume();
        r.on("end", resolve);
      });
      firstReq.on("error", reject);
    });
    firstReq.write(app.subarray(0, 1000));
    await new Promise((r) => setTimeout(r, 200));
    let secondDone = false;
    const second = fetch(new URL("/api/profiles?name=second", one.url), { method: "POST", body: app, headers: { "content-type": "application/octet-stream" } }).then((r) => {
      secondDone = true;
      return r.status;
    });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(secondDone, false, "the second upload was read while the first held the turn");
    firstReq.end(rest);
    await first;
    assert.equal(firstStatus, 201);
    assert.equal(await second, 201);
  } finally {
    await one.stop();
  }
});

test("Pyroscope ingest: the request the official Node agent 0.4 sent (multipart pprof, spyName=nodespy) is stored", async () => {
  const boundary = "----pyroscope0123456789abcdef";
  const pprof = agentPprof();
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="profile"; filename="profile"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    pprof,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const from = Math.floor(Date.now() / 1000) - 10;
  const q = new URLSearchParams({ from: String(from), name: "nodeapp.wall{env=staging,region=us}", spyName: "nodespy", until: String(from + 10), sampleRate: "100" });
  const r = await post(`/ingest?${q}`, body, { ...auth, "content-type": `multipart/form-data; boundary=${boundary}` });
  assert.equal(r.status, 200, r.text);
  const list = (await get("/api/profiles?name=nodeapp.wall")).json();
  assert.equal(list.total, 1);
  const p = list.profiles[0];
  assert.deepEqual(p.labels, { env: "staging", region: "us", __spy_name__: "nodespy", __sample_rate__: "100" });
  assert.equal(p.samples, 40);
  assert.equal(p.durationUs, 10_000_000);
  assert.equal(p.sourceFormat, "pprof");
  const meta = (await get(`/api/profiles/${p.id}`)).json();
  const hot = meta.summary.top.find((t: { name: string }) => t.name === "agentHotPath");
  assert.equal(hot.selfPercent, 75);
  // Folded text, the ingest API's default format, works too.
  const folded = await post("/ingest?name=folded.cpu{}&from=1700000000&until=1700000010", "main;work 7\nmain;idle 3\n");
  assert.equal(folded.status, 200, folded.text);
  assert.equal((await get("/api/profiles?name=folded.cpu")).json().profiles[0].samples, 10);
  // "lines": a stack per line, one sample each.
  const lines = await post("/ingest?name=lines.cpu&format=lines", "main;work\nmain;work\nmain;idle\n");
  assert.equal(lines.status, 200, lines.text);
  const linesId = (await get("/api/profiles?name=lines.cpu")).json().profiles[0].id;
  assert.equal((await get(`/api/profiles/${linesId}/download?format=collapsed`)).buf.toString(), "main;idle 1\nmain;work 2\n");
});

test("the UI in headless Chromium: the list, a profile page with its top table and speedscope's flame graph, hostile names as text", async () => {
  const hostile = await post(`/api/profiles?name=${encodeURIComponent("<script>alert(1)</script>")}&label=kind=xss`, "main;<script>alert(1)</script> 10\nmain;safe 5\n");
  assert.equal(hostile.status, 201, hostile.text);
  const ok = await post("/api/profiles?name=ui-app&label=team=perf", app);
  const id = ok.json().id;
  const list = chromium(["--dump-dom", srv.url]);
  assert.equal(list.status, 0, list.stderr);
  assert.ok(list.stdout.includes(">ui-app</a>"), list.stdout.slice(0, 2000));
  assert.ok(list.stdout.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert.ok(!list.stdout.includes("<script>alert(1)</script>"));
  const search = chromium(["--dump-dom", `${srv.url}?q=perf`]);
  assert.ok(search.stdout.includes(">ui-app</a>") && !search.stdout.includes("nodeapp.wall"), "search filters the list");

  const page = chromium(["--dump-dom", `${srv.url}profiles/${id}`]);
  assert.ok(page.stdout.includes("<td>tokenize</td>"));
  assert.ok(page.stdout.includes("<td>&lt;img src=x onerror=alert(1)&gt;</td>"));
  assert.ok(!/<img src="?x/.test(page.stdout));
  for (const f of ["speedscope", "pprof", "cpuprofile", "collapsed", "svg", "vmprof"]) assert.ok(page.stdout.includes(`download?format=${f}`));
  const src = /<iframe id="viewer" title="speedscope" src="([^"]+)"/.exec(page.stdout)?.[1].replace(/&amp;/g, "&");
  assert.ok(src, "the page embeds the viewer");
  const viewer = chromium(["--dump-dom", new URL(src.replace("view=left-heavy", "view=sandwich"), srv.url).href]);
  for (const name of ["tokenize", "handle", "render"]) assert.ok(viewer.stdout.includes(`>${name}<`), `${name} not in the viewer`);

  const xssPage = chromium(["--dump-dom", `${srv.url}profiles/${hostile.json().id}`]);
  assert.ok(xssPage.stdout.includes("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"), xssPage.stdout.slice(0, 3000));
  assert.ok(!xssPage.stdout.includes("<script>alert(1)</script>"));
  const shot = path.join(dir, "page.png");
  chromium([`--screenshot=${shot}`, `${srv.url}profiles/${id}`]);
  assert.ok(fs.statSync(shot).size > 20_000);
});

test("a recording with lines: the profile page shows the hot lines of its top functions", async () => {
  const prof = path.join(dir, "lines.prof");
  const rec = node(RECORD, ["-o", prof, "--", process.execPath, LINES_PROGRAM, "800"]);
  assert.equal(rec.status, 0, rec.stderr);
  const up = await post("/api/profiles?name=lines", fs.readFileSync(prof));
  assert.equal(up.status, 201, up.text);
  const summary = (await get(`/api/profiles/${up.json().id}`)).json().summary;
  const grind = summary.hotLines.find((f: { name: string }) => f.name === "grind");
  assert.ok(grind, JSON.stringify(summary.hotLines));
  // The loop's first two lines hold most of grind's time (see record's lines test).
  assert.ok([6, 7].includes(grind.lines[0].line), JSON.stringify(grind));
  assert.ok(grind.lines[0].selfPercent > 20, JSON.stringify(grind));
  const page = chromium(["--dump-dom", `${srv.url}profiles/${up.json().id}`]);
  assert.equal(page.status, 0, page.stderr);
  const section = page.stdout.slice(page.stdout.indexOf('id="hot-lines"'));
  assert.ok(section.includes(">grind <span"), section.slice(0, 2000));
  assert.ok(section.includes(`<td>line ${grind.lines[0].line}</td>`), section.slice(0, 2000));
});

test("exports are made off the event loop: a list answered while three large speedscope downloads run", async () => {
  // A profile whose speedscope export takes a while: 400,000 samples over 5,000 distinct stacks.
  const file = path.join(dir, "big.prof");
  const w = new ProfileWriter(fileSink(file));
  const t = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
  const fns = Array.from({ length: 300 }, (_, i) => w.addFunction({ name: `fn${i}`, file: "/srv/big.js", line: i + 1 }));
  const stacks = Array.from({ length: 5000 }, (_, k) => w.stack(Array.from({ length: 20 }, (_, d) => w.frame(fns[(k * 7 + d * 13) % fns.length], Tier.OPTIMIZED))));
  for (let i = 0; i < 400_000; i++) w.sample(t, i * 1000, 1000, 1000, 0, stacks[(i * 7919) % stacks.length]);
  w.end();
  const up = await post("/api/profiles?name=big", fs.readFileSync(file));
  assert.equal(up.status, 201, up.text);
  const order: string[] = [];
  const downloads = [0, 1, 2].map(async (k) => {
    const r = await get(`/api/profiles/${up.json().id}/download?format=speedscope`);
    assert.equal(r.status, 200);
    order.push(`download ${k}`);
    return r.buf.length;
  });
  await new Promise((r) => setTimeout(r, 50));
  const list = await get("/api/profiles");
  order.push("list");
  assert.equal(list.status, 200);
  const sizes = await Promise.all(downloads);
  assert.ok(sizes.every((n) => n > 1_000_000), String(sizes));
  assert.equal(order[0], "list", `answered in the order ${order.join(", ")}`);
});

test("200 concurrent uploads are all stored and listed; a restarted server serves everything it stored", async () => {
  const own = await startServer(["--db", path.join(dir, "load.db")]);
  let stored: { id: string }[] = [];
  type List = { total: number; profiles: { id: string; name: string }[] };
  try {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        fetch(new URL(`/api/profiles?name=load-${i}`, own.url), { method: "POST", body: app, headers: { "content-type": "application/octet-stream" } }).then(async (r) => ({ status: r.status, body: await r.json() })),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      Array(200).fill(201),
    );
    stored = results.map((r) => r.body as { id: string });
    const list = (await (await fetch(new URL("/api/profiles?limit=1000", own.url))).json()) as List;
    assert.equal(list.total, 200);
    assert.equal(new Set(list.profiles.map((p: { id: string }) => p.id)).size, 200);
  } finally {
    assert.equal(await own.stop(), 0);
  }
  const again = await startServer(["--db", path.join(dir, "load.db")]);
  try {
    const list = (await (await fetch(new URL("/api/profiles?limit=1000", again.url))).json()) as List;
    assert.equal(list.total, 200);
    const one = stored[137].id;
    const bytes = Buffer.from(await (await fetch(new URL(`/api/profiles/${one}/download`, again.url))).arrayBuffer());
    assert.equal(decodeProfile(gunzipSync(bytes)).samples.count, 1127);
    assert.equal((await fetch(new URL(`/profiles/${one}`, again.url))).status, 200);
  } finally {
    await again.stop();
  }
});

test("SIGTERM finishes the upload in flight, then exits 0", async () => {
  const own = await startServer(["--db", path.join(dir, "term.db")]);
  const u = new URL("/api/profiles?name=in-flight", own.url);
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(u, { method: "POST", headers: { "content-type": "application/octet-stream", "content-length": String(app.length) } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.write(app.subarray(0, 100));
    setTimeout(() => {
      own.child.kill("SIGTERM");
      setTimeout(() => req.end(app.subarray(100)), 400);
    }, 300);
  });
  const r = await answer;
  assert.equal(r.status, 201, r.body);
  const code = await new Promise<number | null>((res) => (own.child.exitCode !== null ? res(own.child.exitCode) : own.child.once("exit", res)));
  assert.equal(code, 0, own.stderr());
  assert.match(own.stderr(), /finishing requests in flight/);
  const again = await startServer(["--db", path.join(dir, "term.db")]);
  try {
    const list = (await (await fetch(new URL("/api/profiles", again.url))).json()) as { profiles: { name: string }[] };
    assert.deepEqual(
      list.profiles.map((p: { name: string }) => p.name),
      ["in-flight"],
    );
  } finally {
    await again.stop();
  }
});
