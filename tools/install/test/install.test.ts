/**
 * What a user does, checked: `npm pack` every package of packages/, install the tarballs into a fresh
 * prefix with install scripts disabled (no compiler may run: the sampler's prebuilt addons for Node
 * 20, 22, 24 and 26 travel inside @vmprof/native), then, with only that prefix's bin/ and one Node on
 * PATH, record a program outside this repository with `vmprof-record` and read it with
 * `vmprof-report`, `vmprof-convert` and the `--help` of every command.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { before, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const require = createRequire(import.meta.url);
const { nodeHome } = require(path.join(root, "packages/native/scripts/build-abi.cjs")) as { nodeHome: (major: string) => string };
const work = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-install-"));
process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }));
const prefix = path.join(work, "prefix");
const COMMANDS = ["vmprof-record", "vmprof-report", "vmprof-convert", "vmprof-upload", "vmprof-server"];

/** A CPU-bound program in a directory of its own, far from this repository's node_modules. */
const app = path.join(work, "someone-else", "app.js");
fs.mkdirSync(path.dirname(app), { recursive: true });
fs.writeFileSync(
  app,
  `function hotLoop(n) { let x = 0; for (let i = 0; i < n; i++) x += Math.sqrt(i) * Math.sin(i); return x; }
const end = Date.now() + 700;
let sum = 0;
while (Date.now() < end) sum += hotLoop(200000);
console.log("done", typeof sum);
`,
);

before(() => {
  const packages = fs.readdirSync(path.join(root, "packages")).filter((d) => fs.existsSync(path.join(root, "packages", d, "package.json")));
  const tarballs = path.join(work, "tarballs");
  fs.mkdirSync(tarballs);
  execFileSync("npm", ["pack", "--silent", "--pack-destination", tarballs, ...packages.map((d) => `--workspace=packages/${d}`)], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  const files = fs.readdirSync(tarballs).map((f) => path.join(tarballs, f));
  assert.equal(files.length, packages.length, `one tarball per package: ${files.join(", ")}`);
  execFileSync("npm", ["install", "-g", "--prefix", prefix, "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...files], {
    cwd: work,
    stdio: ["ignore", "ignore", "inherit"],
  });
});

/** Runs an installed command with Node `nodeBin` first on PATH (and nothing of this repository). */
function run(nodeBin: string, cmd: string, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(nodeBin)}:${path.join(prefix, "bin")}:/usr/bin:/bin` };
  delete env.NODE_PATH;
  delete env.npm_config_nodedir;
  return spawnSync(cmd, args, { cwd: path.dirname(app), env, encoding: "utf8", timeout: 120_000 });
}

test("the packed packages install without scripts, carry the sampler for four Node ABIs, and every command answers --help", () => {
  const native = path.join(prefix, "lib", "node_modules", "@vmprof", "native", "build");
  const abis = fs.readdirSync(native).filter((d) => d.startsWith("abi-"));
  assert.ok(fs.existsSync(path.join(native, "Release", "vmprof.node")), "the building Node's addon");
  assert.ok(abis.length >= 3, `prebuilt ABIs: ${abis.join(", ")}`);
  // Our packages depend on each other by "*": each must resolve to the installed tarball, never to a
  // second copy from a registry.
  const ours = ["@vmprof/format", "@vmprof/native", "@vmprof/client", "vmprof-convert", "vmprof-upload", "vmprof-record", "vmprof-report", "vmprof-server"];
  const top = path.join(prefix, "lib", "node_modules");
  for (const name of ours) {
    assert.equal(JSON.parse(fs.readFileSync(path.join(top, name, "package.json"), "utf8")).version, "0.1.0", name);
    for (const holder of ours) assert.ok(!fs.existsSync(path.join(top, holder, "node_modules", name)), `${holder} has its own copy of ${name}`);
  }
  for (const cmd of COMMANDS) {
    const r = run(process.execPath, cmd, ["--help"]);
    assert.equal(r.status, 0, `${cmd} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`\\$ ${cmd}`), cmd);
  }
});

const nodes: [string, string][] = [
  ["20", process.execPath],
  ...(["22", "24", "26"] as const).map((m): [string, string] => [m, path.join(nodeHome(m), "bin", "node")]),
];
for (const [major, nodeBin] of nodes) {
  test(`Node ${major}: the installed vmprof-record records a program outside the repository, and vmprof-report and vmprof-convert read it`, () => {
    assert.ok(fs.existsSync(nodeBin), `${nodeBin} is missing: the native build fetches it (npm run build -w @vmprof/native)`);
    const version = execFileSync(nodeBin, ["-p", "process.versions.node"], { encoding: "utf8" }).trim();
    assert.equal(version.split(".")[0], major);
    const out = path.join(path.dirname(app), `node${major}.prof`);
    const rec = run(nodeBin, "vmprof-record", ["-o", out, "--", "node", app]);
    assert.equal(rec.status, 0, rec.stderr);
    assert.equal(rec.stdout, "done number\n");
    const top = run(nodeBin, "vmprof-report", ["--top", "--json", out]);
    assert.equal(top.status, 0, top.stderr);
    const view = JSON.parse(top.stdout) as { samples: number; functions: { name: string; file: string; totalPercent: number }[]; summary: { threads: { samples: number }[] } };
    assert.ok(view.samples > 100, `${view.samples} samples`);
    const hot = view.functions.find((f) => f.name === "hotLoop");
    assert.ok(hot && hot.file === app && hot.totalPercent > 50, JSON.stringify(view.functions.slice(0, 5)));
    assert.equal(view.summary.threads.length, 1);
    const folded = run(nodeBin, "vmprof-convert", ["--to", "collapsed", out]);
    assert.equal(folded.status, 0, folded.stderr);
    assert.match(folded.stdout, /hotLoop \(.*app\.js:1:\d+\) \d+$/m);
  });
}

test("continuous profiling from the installed packages: vmprof-record --every and startContinuous's worker upload to a vmprof-server", async () => {
  const { spawn } = await import("node:child_process");
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(process.execPath)}:${path.join(prefix, "bin")}:/usr/bin:/bin` };
  // This repository's server: the installed one has no SQLite binding (better-sqlite3's install script did not run).
  const server = spawn(process.execPath, [path.join(root, "packages/server/bin/run.js"), "--port", "0", "--db", path.join(work, "continuous.db")], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      server.stdout!.once("data", (d) => resolve(String(d).split("\n")[0]));
      server.once("exit", (c) => reject(new Error(`vmprof-server exited ${c}`)));
    });
    const rec = run(process.execPath, "vmprof-record", ["--every", "1", "--upload", url, "--name", "installed-record", "--", "node", app]);
    assert.equal(rec.status, 0, rec.stderr);
    assert.equal(rec.stdout, "done number\n");
    assert.match(rec.stderr, /vmprof-record: uploaded 1 of 1 windows \(\d+ samples\)/);
    // A program of someone else's importing the installed @vmprof/native: its worker file and @vmprof/client must be there.
    const prog = path.join(path.dirname(app), "continuous.mjs");
    const native = path.join(prefix, "lib", "node_modules", "@vmprof", "native", "dist", "src", "index.js");
    fs.writeFileSync(
      prog,
      `import { startContinuous } from ${JSON.stringify(native)};
const profiling = startContinuous({ url: ${JSON.stringify(url)}, every: 1, name: "installed-native" });
const end = Date.now() + 2500;
while (Date.now() < end) { let x = 0; for (let i = 0; i < 1e5; i++) x += Math.sqrt(i); await new Promise((r) => setImmediate(r)); }
console.log(JSON.stringify(await profiling.stop()));
`,
    );
    const r = spawnSync(process.execPath, [prog], { cwd: path.dirname(app), env, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
    const stats = JSON.parse(r.stdout) as { uploaded: number; failed: number };
    assert.ok(stats.uploaded >= 2 && stats.failed === 0, r.stdout);
    const listed = (await (await fetch(new URL("/api/profiles?limit=100", url))).json()) as { profiles: { name: string }[] };
    assert.equal(listed.profiles.filter((p) => p.name === "installed-native").length, stats.uploaded);
    assert.equal(listed.profiles.filter((p) => p.name === "installed-record").length, 1);
  } finally {
    server.kill("SIGTERM");
  }
});
