/**
 * vmprof-server benchmark, each figure beside a baseline measured in the same run:
 * 1. Uploads per second of a typical 1 MB profile, ours and pprof (see below), with 16 concurrent
 *    clients, for DURATION seconds, against a bare node:http server on the same machine
 *    that only reads the body and answers 201 (the transport's ceiling).
 * 2. Latency (p50, p99 of REQUESTS sequential requests) of the list page with 10,000 stored
 *    (small) profiles, beside a static file of the same server (/viewer/index.html).
 * 3. The storage engines side by side (issue 17): SQLite with one server process, PostgreSQL
 *    (a throwaway cluster of Debian's PostgreSQL, as the tests start it) with one and with two server
 *    processes: uploads per second of our 1 MB profile (16 clients spread over the processes), then
 *    with STORED profiles in the database, the latency of GET /api/profiles?limit=50 and of
 *    GET /api/merge of a selection of 100 small profiles (MERGES sequential requests).
 *
 *   node tools/bench/dist/server.js [duration=10] [requests=500] [stored=100000] [merges=20]
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ProfileWriter, decodeProfile, memorySink, readProfileSync, type Profile } from "@vmprof/format";
import { toPprof } from "vmprof-convert";
import { openStore, parseUpload } from "vmprof-server";
import { synthesize, writeSynthetic } from "./synthetic.js";

const DURATION = Number(process.argv[2] ?? 10);
const REQUESTS = Number(process.argv[3] ?? 500);
const STORED = Number(process.argv[4] ?? 100_000);
const MERGES = Number(process.argv[5] ?? 20);
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const serverBin = join(root, "packages/server/bin/run.js");
const dir = mkdtempSync(join(tmpdir(), "vmprof-bench-server-"));

function start(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((res, rej) => {
    child.stdout!.once("data", (d) => res({ url: String(d).split("\n")[0], child }));
    child.once("exit", (c) => rej(new Error(`exited ${c}`)));
  });
}
const stop = (c: ChildProcess) => new Promise<void>((r) => (c.kill("SIGTERM"), c.once("exit", () => r())));

/** `p` with its samples repeated `times` times end to end, encoded in our format. */
function repeated(p: Profile, times: number): Uint8Array {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  w.meta(Object.fromEntries(p.meta));
  // The writer numbers what it is given (and merges equal frames): map every id through it.
  const processIds = p.processes.map((pr) => w.addProcess(pr));
  const threadIds = p.threads.map((t) => w.addThread({ ...t, process: processIds[t.process - 1] }));
  const functionIds = p.functions.map((f) => w.addFunction(f));
  const frameIds = p.frames.map((fr) => w.frame(functionIds[fr.function - 1], fr.tier, fr.line, fr.column));
  const stackIds = new Uint32Array(p.stacks.count);
  for (let st = 1; st < p.stacks.count; st++) stackIds[st] = w.child(stackIds[p.stacks.parent[st]], frameIds[p.stacks.frame[st] - 1]);
  const x = p.samples;
  let span = 0;
  for (let i = 0; i < x.count; i++) span = Math.max(span, x.time[i]);
  for (let r = 0; r < times; r++)
    for (let i = 0; i < x.count; i++) w.sample(threadIds[x.thread[i] - 1], x.time[i] + r * (span + 1000), x.wall[i], x.cpu[i], x.state[i], stackIds[x.stack[i]]);
  w.end();
  return sink.bytes();
}

async function uploads(url: string | string[], body: Uint8Array): Promise<number> {
  const urls = Array.isArray(url) ? url : [url];
  const end = Date.now() + DURATION * 1000;
  let done = 0;
  let n = 0;
  const client = async () => {
    const target = urls[n++ % urls.length];
    while (Date.now() < end) {
      const r = await fetch(target, { method: "POST", body, headers: { "content-type": "application/octet-stream" } });
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`upload answered ${r.status}`);
      done++;
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 16 }, client));
  return done / ((Date.now() - t0) / 1000);
}

async function latencies(url: string, requests = REQUESTS): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t0 = process.hrtime.bigint();
    const r = await fetch(url);
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${url} answered ${r.status}`);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length * 0.5)], p99: ms[Math.floor(ms.length * 0.99)] };
}

try {
  // Two kinds of 1 MB profile: ours (a real 2 s recording of the record package's workload, its
  // samples repeated end to end: our format holds millions of samples per MB) and pprof (what
  // Pyroscope agents send: summed stacks; from the synthetic recording, sized to 1 MB).
  const real = join(dir, "real.prof");
  const rec = spawnSync(process.execPath, [join(root, "packages/record/bin/run.cjs"), "-o", real, "--", process.execPath, join(root, "packages/record/test/fixtures/workload.cjs"), "20"]);
  if (rec.status !== 0) throw new Error(`vmprof-record failed: ${rec.stderr}`);
  const p = readProfileSync(real);
  let times = 8;
  for (let k = 0; k < 3; k++) times = Math.max(1, Math.round((times * 1e6) / repeated(p, times).length));
  const ours = { name: "ours", body: repeated(p, times), samples: p.samples.count * times };
  let pprof: { name: string; body: Uint8Array; samples: number } = { name: "pprof", body: new Uint8Array(0), samples: 0 };
  for (const n of [250_000, 500_000, 1_000_000, 2_000_000, 4_000_000]) {
    const sink = memorySink();
    writeSynthetic(synthesize(n), sink);
    const body = toPprof(decodeProfile(sink.bytes()));
    if (Math.abs(body.length - 1e6) < Math.abs(pprof.body.length - 1e6)) pprof = { name: "pprof", body, samples: n };
    if (body.length > 1e6) break;
  }

  const bare = await start([
    "-e",
    `const s=require("http").createServer((q,r)=>{q.resume();q.on("end",()=>r.writeHead(201,{"content-type":"application/json"}).end('{"id":"x"}'))});s.listen(0,"127.0.0.1",()=>console.log("http://127.0.0.1:"+s.address().port+"/"))`,
  ]);
  console.log(`uploads, 16 concurrent clients, ${DURATION} s each:`);
  for (const kind of [ours, pprof]) {
    const bareRate = await uploads(bare.url, kind.body);
    const db = join(dir, `upload-${kind.name}.db`);
    const srv = await start([serverBin, "--port", "0", "--db", db]);
    const rate = await uploads(new URL("/api/profiles", srv.url).href, kind.body);
    await stop(srv.child);
    console.log(`  ${kind.name}, ${(kind.body.length / 1e6).toFixed(2)} MB (${kind.samples} samples):`);
    console.log(`    bare node:http (reads the body)   ${bareRate.toFixed(1)} /s`);
    console.log(`    vmprof-server POST /api/profiles  ${rate.toFixed(1)} /s   ${(rate / bareRate).toFixed(3)}x bare`);
  }
  await stop(bare.child);

  // 10,000 stored profiles: one small recording (the report's checked-in app.prof) stored 10,000
  // times under different names; the list reads rows, not profile bytes, so their size does not count.
  const db = join(dir, "list.db");
  const store = await openStore(db);
  const parsed = await parseUpload(readFileSync(join(root, "packages/report/test/fixtures/app.prof")), { source: "bench" });
  const rows = Array.from({ length: 10_000 }, (_, i) => ({ profile: { ...parsed.record, name: `service-${i % 97}/run-${i}`, labels: { env: i % 2 ? "prod" : "dev" }, uploadedAt: Date.now() - i * 1000 }, data: parsed.data }));
  await store.insertMany(rows);
  await store.close();
  const listSrv = await start([serverBin, "--port", "0", "--db", db]);
  const page = await latencies(listSrv.url);
  const api = await latencies(new URL("/api/profiles?limit=50", listSrv.url).href);
  const stat = await latencies(new URL("/viewer/index.html", listSrv.url).href);
  await stop(listSrv.child);
  console.log(`latency with 10,000 stored profiles (${(statSync(db).size / 1e6).toFixed(0)} MB), ${REQUESTS} sequential requests:`);
  console.log(`  static /viewer/index.html         p50 ${stat.p50.toFixed(2)} ms  p99 ${stat.p99.toFixed(2)} ms`);
  console.log(`  list page /                       p50 ${page.p50.toFixed(2)} ms  p99 ${page.p99.toFixed(2)} ms   p99 ${(page.p99 / stat.p99).toFixed(2)}x static`);
  console.log(`  GET /api/profiles?limit=50        p50 ${api.p50.toFixed(2)} ms  p99 ${api.p99.toFixed(2)} ms   p99 ${(api.p99 / stat.p99).toFixed(2)}x static`);

  // 3. The engines side by side.
  // The tests' throwaway cluster (packages/server/test/postgres.ts), built with the server's tests.
  const { startCluster } = (await import(join(root, "packages/server/dist/test/postgres.js"))) as { startCluster: () => Promise<{ url: string }> };
  const small = await parseUpload(Buffer.from("main;handle;work 7\nmain;idle 3\n"), { source: "bench" });
  const engines: { name: string; db: () => Promise<string>; processes: number }[] = [
    { name: "SQLite, 1 process", db: async () => join(dir, "engine.db"), processes: 1 },
    { name: "PostgreSQL, 1 process", db: async () => (await startCluster()).url, processes: 1 },
    { name: "PostgreSQL, 2 processes", db: async () => (await startCluster()).url, processes: 2 },
  ];
  const bare2 = await start([
    "-e",
    `const s=require("http").createServer((q,r)=>{q.resume();q.on("end",()=>r.writeHead(201,{"content-type":"application/json"}).end('{"id":"x"}'))});s.listen(0,"127.0.0.1",()=>console.log("http://127.0.0.1:"+s.address().port+"/"))`,
  ]);
  const bareRate = await uploads(bare2.url, ours.body);
  await stop(bare2.child);
  console.log(`storage engines: uploads of our ${(ours.body.length / 1e6).toFixed(2)} MB profile (16 clients, ${DURATION} s; bare node:http ${bareRate.toFixed(1)} /s), then with ${STORED} stored profiles:`);
  console.log(`  ${"engine".padEnd(26)} ${"uploads/s".padStart(10)} ${"x bare".padStart(7)}   ${"list p50".padStart(9)} ${"list p99".padStart(9)}   ${"merge(100) p50".padStart(14)} ${"merge p99".padStart(10)}`);
  for (const e of engines) {
    const db = await e.db();
    const procs = await Promise.all(Array.from({ length: e.processes }, () => start([serverBin, "--port", "0", "--db", db])));
    const rate = await uploads(procs.map((p) => new URL("/api/profiles", p.url).href), ours.body);
    await Promise.all(procs.map((p) => stop(p.child)));
    // STORED small profiles, loaded in one transaction; batch=N labels select 100 each for the merges.
    const store = await openStore(db);
    for (let from = 0; from < STORED; from += 10_000) {
      const rows = Array.from({ length: Math.min(10_000, STORED - from) }, (_, k) => {
        const i = from + k;
        return { profile: { ...small.record, name: `service-${i % 97}/run-${i}`, labels: { batch: String(i % Math.max(1, STORED / 100)) }, uploadedAt: Date.now() - i * 1000 }, data: small.data };
      });
      await store.insertMany(rows);
    }
    await store.close();
    const again = await Promise.all(Array.from({ length: e.processes }, () => start([serverBin, "--port", "0", "--db", db])));
    const list = await latencies(new URL("/api/profiles?limit=50", again[0].url).href);
    const merge = await latencies(new URL("/api/merge?label=batch=7&format=pprof", again[again.length - 1].url).href, MERGES);
    await Promise.all(again.map((p) => stop(p.child)));
    console.log(
      `  ${e.name.padEnd(26)} ${rate.toFixed(1).padStart(10)} ${(rate / bareRate).toFixed(3).padStart(7)}   ${list.p50.toFixed(2).padStart(9)} ${list.p99.toFixed(2).padStart(9)}   ${merge.p50.toFixed(1).padStart(14)} ${merge.p99.toFixed(1).padStart(10)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
