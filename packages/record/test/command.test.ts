/** vmprof-record as a Unix command: endings, stdio, exit status, output, bad input. */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import https from "node:https";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { decodeProfile } from "@vmprof/format";
import { BIN, fixture, read, record, recordAsync, share, shares, tempDir } from "./helpers.js";

const dir = tempDir();
const out = (name: string) => path.join(dir, name);

function ending(how: string, expectStatus: number, ms = "1200") {
  const r = record(["-o", out(`${how}.prof`), "--", "node", fixture("endings.cjs"), how, ms], { cwd: dir });
  assert.equal(r.status, expectStatus, r.stderr.toString());
  const p = read(out(`${how}.prof`));
  assert.equal(p.truncation, undefined);
  assert.ok(share(shares(p), "work") > 80, `work ${share(shares(p), "work").toFixed(1)}%`);
  return { r, p };
}

test("a complete profile on a normal exit, process.exit() and an uncaught exception", () => {
  ending("normal", 0);
  ending("exit", 3);
  const { r } = ending("throw", 1);
  assert.match(r.stderr.toString(), /the program failed/);
});

for (const [sig, status] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
  test(`${sig} sent to the recorder reaches the program; the profile is complete; exit ${status}`, async () => {
    const file = out(`${sig}.prof`);
    const child = recordAsync(["-o", file, "--", "node", fixture("endings.cjs"), "wait"], dir);
    let stdout = "";
    await new Promise<void>((resolve) => child.stdout.on("data", (d) => { stdout += d; if (stdout.includes("ready")) resolve(); }));
    await new Promise((r) => setTimeout(r, 700));
    child.kill(sig);
    const code = await new Promise((resolve) => child.on("exit", (c) => resolve(c)));
    assert.equal(code, status);
    const p = read(file);
    assert.equal(p.truncation, undefined);
    assert.ok(p.samples.count >= 400, `${p.samples.count} samples`);
    assert.ok(share(shares(p), "work") > 80);
  });
}

test("SIGKILL: the output holds what was flushed (at most about a second lost) and reads cleanly", () => {
  const r = record(["-o", out("kill.prof"), "--", "node", fixture("endings.cjs"), "sigkill", "2500"], { cwd: dir });
  assert.equal(r.status, 137);
  assert.match(r.stderr.toString(), /ended before finishing its profile/);
  const p = read(out("kill.prof"));
  assert.equal(p.truncation, undefined, "the merged output is itself complete");
  assert.ok(p.samples.count >= 1300, `${p.samples.count} samples of 2500 ms`);
});

test("stdin, stdout, stderr, environment, NODE_OPTIONS and exit status pass through", () => {
  const r = record(["-o", out("stdio.prof"), "--", "node", fixture("stdio.cjs")], {
    cwd: dir,
    input: "hello",
    env: { ...process.env, PASS_ME: "yes", NODE_OPTIONS: "--max-old-space-size=200" },
  });
  assert.equal(r.status, 7);
  const stdout = r.stdout.toString();
  assert.match(stdout, /^out:hello\|env:yes\|opts:.*--max-old-space-size=200$/);
  assert.equal(r.stderr.toString(), "err:line\n");
  assert.equal(read(out("stdio.prof")).truncation, undefined);
});

test("-o - writes the profile to stdout and the program's stdout to stderr", () => {
  // A fixed amount of work (about 0.4 s of CPU here), not 300 ms of wall time: a loaded machine gave
  // that program 181 samples.
  const r = record(["-o", "-", "--", "node", "-e", "console.log('from the program'); let x = 0; for (let i = 0; i < 4e7; i++) x += Math.sqrt(i) % 3;"], { cwd: dir });
  assert.equal(r.status, 0);
  assert.match(r.stderr.toString(), /from the program/);
  const p = decodeProfile(r.stdout, "stdout");
  assert.equal(p.truncation, undefined);
  assert.ok(p.samples.count >= 200, `${p.samples.count} samples`);
});

test("without -o: vmprof-<pid>.prof in the current directory, and says where", () => {
  const cwd = fs.mkdtempSync(path.join(dir, "default-"));
  const r = record(["--", "node", fixture("endings.cjs"), "normal", "200"], { cwd });
  assert.equal(r.status, 0);
  const files = fs.readdirSync(cwd);
  assert.equal(files.length, 1);
  assert.match(files[0], /^vmprof-\d+\.prof$/);
  assert.match(r.stderr.toString(), new RegExp(`wrote \\d+ samples .* to ${path.join(cwd, files[0]).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
});

test("labels are stored, secrets in command lines are redacted, --no-argv stores none", () => {
  record(["-o", out("meta.prof"), "--label", "team=core", "--", "node", fixture("endings.cjs"), "normal", "100", "--token=hunter2", "API_KEY=abc"], { cwd: dir });
  const p = read(out("meta.prof"));
  assert.equal(p.meta.get("label.team"), "core");
  const argv = p.meta.get("argv") as string[];
  assert.ok(argv.includes("--token=<redacted>") && argv.includes("API_KEY=<redacted>"), argv.join(" "));
  assert.ok(!JSON.stringify([...p.meta]).includes("hunter2"));
  record(["-o", out("noargv.prof"), "--no-argv", "--", "node", fixture("endings.cjs"), "normal", "100", "--token=hunter2"], { cwd: dir });
  const q = read(out("noargv.prof"));
  assert.equal(q.meta.get("argv"), undefined);
  assert.equal(q.meta.get("command"), undefined);
  assert.ok(!fs.readFileSync(out("noargv.prof")).includes("hunter2"));
});

test("--rate and --period set the requested period", () => {
  record(["-o", out("rate.prof"), "--rate", "200", "--", "node", fixture("endings.cjs"), "normal", "1000"], { cwd: dir });
  const p = read(out("rate.prof"));
  assert.equal(p.meta.get("period_us"), 5000);
  // cpu mode: 200 samples per second of the CPU time the program got (a loaded machine gives it less
  // than the second it runs for), measured by the thread's CPU clock in the samples' weights.
  let cpuUs = 0;
  for (let i = 0; i < p.samples.count; i++) cpuUs += p.samples.cpu[i];
  const want = (cpuUs / 1e6) * 200;
  assert.ok(cpuUs > 300_000 && p.samples.count >= want * 0.85 && p.samples.count <= want * 1.15 + 5, `${p.samples.count} samples at 200 Hz for ${(cpuUs / 1e6).toFixed(2)} s of CPU`);
  record(["-o", out("period.prof"), "--period", "0.002", "--", "node", fixture("endings.cjs"), "normal", "100"], { cwd: dir });
  assert.equal(read(out("period.prof")).meta.get("period_us"), 2000);
});

test("bad input: exit 2 with one line (or 127 for a missing program), and the program never starts", () => {
  const marker = out("started");
  const program = ["node", "-e", `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`];
  const cases: [string[], number, RegExp][] = [
    [["-o", out("x.prof"), "--"], 2, /no program to run/],
    [["-o", "/nonexistent-dir/x.prof", "--", ...program], 2, /cannot write \/nonexistent-dir\/x\.prof: ENOENT/],
    [["-o", dir, "--", ...program], 2, /cannot write .*: it is a directory/],
    [["--mode", "fast", "-o", out("x.prof"), "--", ...program], 2, /mode/],
    [["--period", "soon", "-o", out("x.prof"), "--", ...program], 2, /--period: expected a positive number of seconds, got "soon"/],
    [["--rate", "0", "-o", out("x.prof"), "--", ...program], 2, /--rate/],
    [["--label", "nokey", "-o", out("x.prof"), "--", ...program], 2, /--label: expected key=value, got "nokey"/],
    [["--max-depth", "0", "-o", out("x.prof"), "--", ...program], 2, /max-depth/],
  ];
  for (const [args, status, message] of cases) {
    const r = record(args, { cwd: dir });
    assert.equal(r.status, status, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr.toString(), message);
    assert.ok(!fs.existsSync(marker), `${args.join(" ")} started the program`);
  }
  const missing = record(["-o", out("missing.prof"), "--", "no-such-program-here"], { cwd: dir });
  assert.equal(missing.status, 127);
  assert.equal(missing.stderr.toString(), "vmprof-record: no-such-program-here: command not found\n");
  assert.ok(!fs.existsSync(out("missing.prof")));
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")), []);
});

test("a program that handles SIGINT itself keeps its own behaviour", async () => {
  const file = out("handled.prof");
  const program = "process.on('SIGINT', () => { console.log('handled'); process.exit(5); }); console.log('ready'); setInterval(() => { const e = Date.now() + 20; while (Date.now() < e); }, 25);";
  const child = recordAsync(["-o", file, "--", "node", "-e", program], dir);
  let stdout = "";
  await new Promise<void>((resolve) => child.stdout.on("data", (d) => { stdout += d; if (stdout.includes("ready")) resolve(); }));
  await new Promise((r) => setTimeout(r, 300));
  child.kill("SIGINT");
  const code = await new Promise((resolve) => child.on("exit", (c) => resolve(c)));
  assert.equal(code, 5);
  assert.match(stdout, /handled/);
  assert.equal(read(file).truncation, undefined);
});

test("-o naming a FIFO or a device is refused before the program starts: renaming the profile into place would replace the node itself", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-fifo-"));
  t.after(() => fs.rmSync(dir, { recursive: true }));
  const fifo = path.join(dir, "out.fifo");
  assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
  const r = record(["-o", fifo, "--", "node", "-e", "console.log('ran')"]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout.toString(), "");
  assert.match(r.stderr.toString(), /cannot write .*out\.fifo: not a regular file \(for a pipe or a device, use -o - and redirect\)/);
  assert.ok(fs.statSync(fifo).isFIFO());
});

// bin/run.cjs starts the recorder's Node without NODE_EXTRA_CA_CERTS (Node 20 parses the whole file
// at every start) unless it uploads, and gives it back to the program.
describe("NODE_EXTRA_CA_CERTS, run as a command", () => {
  const d = tempDir();
  const cert = path.join(d, "cert.pem");
  const key = path.join(d, "key.pem");
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"]);
  assert.equal(made.status, 0, made.stderr?.toString());
  // The program says what it was given, and what its parent (the recorder's Node) was started with.
  const probe = path.join(d, "probe.cjs");
  fs.writeFileSync(
    probe,
    `const parent = require("node:fs").readFileSync("/proc/" + process.ppid + "/environ", "utf8").split("\\0");
let x = 0; for (let i = 0; i < 3e7; i++) x += i % 7;
console.log(JSON.stringify({ ca: process.env.NODE_EXTRA_CA_CERTS ?? null, saved: process.env.VMPROF_NODE_EXTRA_CA_CERTS ?? null, parentCa: parent.find((e) => e.startsWith("NODE_EXTRA_CA_CERTS=")) ?? null, x }));`,
  );
  const { NODE_EXTRA_CA_CERTS: _, ...bare } = process.env;
  const asCommand = (args: string[], env: NodeJS.ProcessEnv) => spawn(BIN, args, { env: { ...env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` }, stdio: ["ignore", "pipe", "pipe"] });
  const finish = (c: ReturnType<typeof spawn>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      let stdout = "", stderr = "";
      c.stdout!.on("data", (b) => (stdout += b));
      c.stderr!.on("data", (b) => (stderr += b));
      c.on("close", (code) => resolve({ code, stdout, stderr }));
    });

  test("the recorder starts without it; the program gets it as given, and nothing of ours", async () => {
    const r = await finish(asCommand(["-o", path.join(d, "ca.prof"), "--", "node", probe], { ...bare, NODE_EXTRA_CA_CERTS: cert }));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual({ ...JSON.parse(r.stdout), x: 0 }, { ca: cert, saved: null, parentCa: null, x: 0 });
    assert.ok(read(path.join(d, "ca.prof")).samples.count > 0);
    const none = await finish(asCommand(["-o", path.join(d, "none.prof"), "--", "node", probe], bare));
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual({ ...JSON.parse(none.stdout), x: 0 }, { ca: null, saved: null, parentCa: null, x: 0 });
  });

  test("--upload over HTTPS to a server whose certificate only NODE_EXTRA_CA_CERTS trusts", async (t) => {
    let body = Buffer.alloc(0);
    const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        body = Buffer.concat(chunks);
        res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ id: "p1", url: "https://127.0.0.1/p/p1" }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    const r = await finish(asCommand(["--upload", url, "-o", path.join(d, "up.prof"), "--", "node", probe], { ...bare, NODE_EXTRA_CA_CERTS: cert }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).parentCa, `NODE_EXTRA_CA_CERTS=${cert}`);
    assert.match(r.stderr, /https:\/\/127\.0\.0\.1\/p\/p1/);
    assert.deepEqual(body, fs.readFileSync(path.join(d, "up.prof")));
  });
});
