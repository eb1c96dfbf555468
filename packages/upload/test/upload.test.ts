/**
 * vmprof-upload and vmprof-record --upload as a user runs them, against a real vmprof-server process
 * (and, for retries, small HTTP servers in this process that fail on purpose); labelled profiles are
 * written here with ProfileWriter.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as netServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ProfileWriter, VmState, memorySink } from "@vmprof/format";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, "../..");
const UPLOAD = path.join(pkg, "bin/run.js");
const SERVER = path.resolve(pkg, "../server/bin/run.js");
const RECORD = path.resolve(pkg, "../record/bin/run.cjs");
const APP = path.resolve(pkg, "../report/test/fixtures/app.prof");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-upload-test-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const TOKEN = "upload-token";

/** Runs a command without blocking this process (its HTTP servers must answer meanwhile). */
function run(script: string, args: string[], opts: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { env: opts.env ?? { ...process.env, VMPROF_URL: "", VMPROF_TOKEN: "" }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

async function startServer(args: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [SERVER, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(String(d).split("\n")[0]));
    child.once("exit", (c) => reject(new Error(`server exited ${c}`)));
  });
  return { url, stop: () => new Promise((r) => (child.kill("SIGTERM"), child.once("exit", () => r()))) };
}

async function freePort(): Promise<number> {
  const s = netServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** An HTTP server in this process that answers with `answers` in turn and records the requests. */
async function scripted(answers: [number, string][]): Promise<{ url: string; seen: IncomingMessage[]; server: Server }> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    req.resume();
    req.on("end", () => {
      const [status, body] = answers[Math.min(seen.length - 1, answers.length - 1)];
      res.writeHead(status, { "content-type": "application/json" }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, server };
}

let srv: { url: string; stop: () => Promise<void> };
before(async () => {
  srv = await startServer(["--port", "0", "--db", path.join(dir, "p.db"), "--token", TOKEN]);
});
after(async () => {
  await srv?.stop();
});

const list = async (q = "") => (await (await fetch(new URL(`/api/profiles${q}`, srv.url))).json()) as { total: number; profiles: { id: string; name: string; labels: Record<string, string>; samples: number; startTime: number; durationUs: number }[] };

test("vmprof-upload sends a file or stdin to vmprof-server and prints the profile's page", async () => {
  const r = await run(UPLOAD, ["--url", srv.url, "--token", TOKEN, "--name", "checkout", "--label", "env=prod", "--label", "build=42", APP]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^http:\/\/127\.0\.0\.1:\d+\/profiles\/[0-9a-f]{16}\n$/);
  const page = await fetch(r.stdout.trim());
  assert.equal(page.status, 200);
  assert.match(await page.text(), /checkout/);
  const p = (await list("?name=checkout")).profiles[0];
  assert.deepEqual(p.labels, { env: "prod", build: "42" });
  assert.equal(p.samples, 1127);
  // stdin, with the URL and token from the environment.
  const s = await run(UPLOAD, ["--name", "from-stdin"], { input: fs.readFileSync(APP), env: { ...process.env, VMPROF_URL: srv.url, VMPROF_TOKEN: TOKEN } });
  assert.equal(s.status, 0, s.stderr);
  assert.equal((await list("?name=from-stdin")).total, 1);
});

test("--to pyroscope converts to pprof and posts to /ingest with name, labels, time range, spy name and rate", async () => {
  const r = await run(UPLOAD, ["--url", srv.url, "--token", TOKEN, "--to", "pyroscope", "--name", "shop.cpu", "--label", "env=staging", APP]);
  assert.equal(r.status, 0, r.stderr);
  const u = new URL(r.stdout.trim());
  assert.equal(u.pathname, "/ingest");
  // app.prof's samples all carry its profile label build=42: one series, with it and --label's.
  assert.equal(u.searchParams.get("name"), "shop.cpu{build=42,env=staging}");
  assert.equal(u.searchParams.get("format"), "pprof");
  assert.equal(u.searchParams.get("spyName"), "vmprof-node");
  assert.equal(u.searchParams.get("sampleRate"), "1000");
  assert.equal(u.searchParams.get("from"), "1700000000");
  const p = (await list("?name=shop.cpu")).profiles[0];
  assert.deepEqual(p.labels, { build: "42", env: "staging", __spy_name__: "vmprof-node", __sample_rate__: "1000" });
  assert.equal(p.samples, 1127);
  assert.equal(p.startTime, 1_700_000_000_000_000);
});

/**
 * A profile whose samples carry two label sets: route=/a runs handleA (3 samples, one also
 * env=canary, its own label over --label's), route=/b runs handleB (2), all under main.
 */
function twoRoutes(): string {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  w.meta({ mode: "cpu", period_us: 1000, start_time: 1_700_000_000_000_000 });
  const T = w.addThread({ process: w.addProcess({ pid: 9, name: "api.js" }), tid: 9, name: "main" });
  const main = w.frame(w.addFunction({ name: "main", file: "/api.js", line: 1 }));
  const a = w.stack([main, w.frame(w.addFunction({ name: "handleA", file: "/api.js", line: 5 }))]);
  const b = w.stack([main, w.frame(w.addFunction({ name: "handleB", file: "/api.js", line: 9 }))]);
  const [A, B, canary] = [w.labelSet([["route", "/a"]]), w.labelSet([["route", "/b"]]), w.labelSet([["route", "/a"], ["env", "canary"]])];
  const plan: [number, number][] = [[a, A], [b, B], [a, A], [a, canary], [b, B]];
  plan.forEach(([st, l], i) => w.sample(T, 1000 * (i + 1), 1000, 1000, VmState.JS, st, l));
  w.end();
  const file = path.join(dir, "two-routes.prof");
  fs.writeFileSync(file, sink.bytes());
  return file;
}

test("--to pyroscope: one series per label set, named with its labels over --label's, holding its own samples", async () => {
  const r = await run(UPLOAD, ["--url", srv.url, "--token", TOKEN, "--to", "pyroscope", "--name", "routes.cpu", "--label", "env=staging", "--label", "region=eu", twoRoutes()]);
  assert.equal(r.status, 0, r.stderr);
  // One ingest URL per series, in the order of the samples' first label sets.
  const names = r.stdout.trim().split("\n").map((l) => new URL(l).searchParams.get("name"));
  assert.deepEqual(names, ["routes.cpu{env=staging,region=eu,route=/a}", "routes.cpu{env=staging,region=eu,route=/b}", "routes.cpu{env=canary,region=eu,route=/a}"]);
  const listed = (await list("?name=routes.cpu")).profiles;
  const byRoute = (route: string, env: string) => listed.find((p) => p.labels.route === route && p.labels.env === env)!;
  assert.equal(listed.length, 3);
  for (const p of listed) assert.deepEqual(Object.keys(p.labels).sort(), ["__sample_rate__", "__spy_name__", "env", "region", "route"]);
  assert.deepEqual([byRoute("/a", "staging").samples, byRoute("/b", "staging").samples, byRoute("/a", "canary").samples], [2, 2, 1]);
  // Each stored series holds its own samples' functions: collapsed stacks from the server's download.
  const stacks = async (id: string) => {
    const res = await fetch(new URL(`/api/profiles/${id}/download?format=collapsed`, srv.url));
    assert.equal(res.status, 200);
    return (await res.text()).trim().split("\n").map((l) => l.replace(/ \([^)]*\)/g, ""));
  };
  assert.deepEqual(await stacks(byRoute("/a", "staging").id), ["main;handleA 2000"]);
  assert.deepEqual(await stacks(byRoute("/b", "staging").id), ["main;handleB 2000"]);
  assert.deepEqual(await stacks(byRoute("/a", "canary").id), ["main;handleA 1000"]);
});

test("--to pyroscope: a label in the profile Pyroscope cannot carry is refused before anything is sent", async () => {
  const counting = await scripted([[200, ""]]);
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  const T = w.addThread({ process: w.addProcess({ pid: 9 }), tid: 9 });
  const st = w.stack([w.frame(w.addFunction({ name: "f" }))]);
  w.sample(T, 1000, 1000, 1000, VmState.JS, st, w.labelSet([["route", "/a"]]));
  w.sample(T, 2000, 1000, 1000, VmState.JS, st, w.labelSet([["route", "/a,/b"]]));
  w.end();
  const file = path.join(dir, "comma.prof");
  fs.writeFileSync(file, sink.bytes());
  const r = await run(UPLOAD, ["--url", counting.url, "--to", "pyroscope", file]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `vmprof-upload: ${file}: label route=/a,/b: Pyroscope labels cannot contain { } , or =\n`);
  assert.equal(counting.seen.length, 0);
  counting.server.close();
});

test("retries: connection refused and 5xx are retried with backoff, 4xx is final and its message printed", async () => {
  const flaky = await scripted([
    [503, '{"error":"busy"}'],
    [502, "bad gateway"],
    [201, '{"id":"0123456789abcdef","url":"http://x/profiles/0123456789abcdef"}'],
  ]);
  const r = await run(UPLOAD, ["--url", flaky.url, APP]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(flaky.seen.length, 3);
  assert.equal(r.stdout, "http://x/profiles/0123456789abcdef\n");
  const retries = r.stderr.trimEnd().split("\n");
  assert.equal(retries.length, 2);
  assert.match(retries[0], /answered 503: busy; retrying in 0\.5 s \(attempt 2 of 5\)/);
  assert.match(retries[1], /answered 502: bad gateway; retrying in 1\.0 s \(attempt 3 of 5\)/);
  flaky.server.close();

  const refusing = await scripted([[400, '{"error":"label \\"x\\" is not key=value"}']]);
  const f = await run(UPLOAD, ["--url", refusing.url, APP]);
  assert.equal(f.status, 1);
  assert.equal(refusing.seen.length, 1, "a 4xx is not retried");
  assert.equal(f.stderr, `vmprof-upload: ${refusing.url} refused the profile (400): label "x" is not key=value\n`);
  refusing.server.close();

  // Nothing listening yet: the server comes up during the backoff and gets the profile.
  const port = await freePort();
  const late = run(UPLOAD, ["--url", `http://127.0.0.1:${port}`, "--name", "late", APP]);
  await new Promise((r) => setTimeout(r, 700));
  const s = await startServer(["--port", String(port), "--db", path.join(dir, "late.db")]);
  try {
    const done = await late;
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stderr, /cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); retrying/);
    assert.match(done.stdout, new RegExp(`^http://127\\.0\\.0\\.1:${port}/profiles/`));
  } finally {
    await s.stop();
  }
});

test("bad input and refusals: a clear line and a non-zero exit; nothing is sent for bad local input", async () => {
  const counting = await scripted([[201, "{}"]]);
  const garbage = path.join(dir, "garbage.bin");
  fs.writeFileSync(garbage, "\x00\x01 not a profile");
  const cases: [string[], number, RegExp][] = [
    [["--url", counting.url, path.join(dir, "missing.prof")], 2, /missing\.prof: no such file/],
    [["--url", counting.url, garbage], 2, /garbage\.bin: unknown format/],
    [["--url", "not a url", APP], 2, /--url: "not a url" is not a URL/],
    [["--url", counting.url, "--label", "novalue", APP], 2, /--label: expected key=value, got "novalue"/],
    [["--url", counting.url, "--to", "pyroscope", "--label", "a=b,c", APP], 2, /Pyroscope labels cannot contain/],
    [["--url", srv.url, APP], 1, /refused the profile \(401\): missing or wrong token/],
    [["--url", srv.url, "--token", "wrong", APP], 1, /refused the profile \(401\)/],
  ];
  for (const [args, status, message] of cases) {
    const r = await run(UPLOAD, args);
    assert.equal(r.status, status, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, "");
  }
  assert.equal(counting.seen.length, 0);
  counting.server.close();
  const empty = await run(UPLOAD, ["--url", srv.url, "-"], { input: "" });
  assert.equal(empty.status, 2);
  assert.match(empty.stderr, /<stdin>: empty input/);
});

test("vmprof-record --upload records, uploads, and keeps the program's exit status", async () => {
  const out = path.join(dir, "rec.prof");
  const prog = "let s=0; const end=Date.now()+300; while(Date.now()<end) s+=Math.sqrt(s+1); process.exit(3)";
  const r = await run(RECORD, ["--upload", srv.url, "--label", "ci=yes", "-o", out, "--", process.execPath, "-e", prog], {
    env: { ...process.env, VMPROF_TOKEN: TOKEN },
  });
  assert.equal(r.status, 3, r.stderr);
  const m = /vmprof-record: uploaded: (http:\/\/\S+)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const id = m[1].split("/").pop();
  const meta = (await (await fetch(new URL(`/api/profiles/${id}`, srv.url))).json()) as { labels: Record<string, string>; samples: number };
  assert.deepEqual(meta.labels, { ci: "yes" });
  assert.ok(meta.samples > 100, `${meta.samples} samples`);
  assert.ok(fs.existsSync(out));
  // A refused upload says so, leaves the file, and still exits with the program's status.
  const bad = await run(RECORD, ["--upload", srv.url, "-o", out, "--", process.execPath, "-e", "process.exit(4)"]);
  assert.equal(bad.status, 4);
  assert.match(bad.stderr, /upload failed: .*401.*\(the profile stays in .*rec\.prof\)/);
});
