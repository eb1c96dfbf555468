/**
 * Source maps at the end of a recording, with the real tools: a TypeScript project compiled by tsc
 * with .map files, and the same code as an esbuild bundle, minified, with a .map file and with an
 * inline map. Each runs under vmprof-record; vmprof-report must name the original functions and .ts
 * files (in the minified bundle the names come from the map). These check function-level mapping
 * (the sampler records each function's start); per-line checks need the sampler's frame positions
 * and live in the sourcemap package's tests (profiles made with ProfileBuilder).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { buildSync } from "esbuild";
import { applySources } from "@vmprof/format";
import { fixture, nodeBinary, read, record, tempDir } from "./helpers.js";

const require = createRequire(import.meta.url);
const REPORT = path.resolve(path.dirname(require.resolve("vmprof-report")), "../../bin/run.js");
const CONVERT = path.resolve(path.dirname(require.resolve("vmprof-convert")), "../../bin/run.js");

let built: string | undefined;
/** The fixture project copied to a temp dir and built three ways: dist/ (tsc), bundle/ (minified, .map), inline/. */
function project(): string {
  if (built) return built;
  const dir = fs.realpathSync(tempDir());
  fs.cpSync(fixture("ts-project"), dir, { recursive: true });
  const tsc = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", dir]);
  assert.equal(tsc.status, 0, `tsc: ${tsc.stdout}`);
  const common = { entryPoints: [path.join(dir, "src/main.ts")], bundle: true, minify: true, platform: "node" as const, logLevel: "silent" as const };
  buildSync({ ...common, sourcemap: true, outfile: path.join(dir, "bundle/app.js") });
  buildSync({ ...common, sourcemap: "inline", outfile: path.join(dir, "inline/app.js") });
  return (built = dir);
}

function report(file: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [REPORT, "--flat", "--limit", "30", ...args, file]);
  assert.equal(r.status, 0, String(r.stderr));
  return String(r.stdout);
}

for (const [what, script] of [
  ["tsc output with .map files", "dist/main.js"],
  ["an esbuild bundle, minified, with a .map file", "bundle/app.js"],
  ["an esbuild bundle, minified, with an inline map", "inline/app.js"],
] as const) {
  test(`${what}: the report names the TypeScript functions and .ts files`, () => {
    const dir = project();
    const out = path.join(dir, `${script.replace(/\W/g, "_")}.prof`);
    const r = record(["-o", out, "--", process.execPath, script, "800"], { cwd: dir });
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(String(r.stderr), "", "no warnings");
    const text = report(out);
    assert.match(text, /fibonacci\s.*src\/math\.ts:1/);
    assert.match(text, /sumSquares\s.*src\/math\.ts:5/);
    assert.match(text, /hotLoop\s.*src\/main\.ts:5/);
    // tsc's output is one module per map: its top level is that module's.
    if (script === "dist/main.js") assert.match(text, /\(anonymous\)\s.*src\/main\.ts:1/);
    // Both sides are stored: the generated code is one flag away (vmprof-convert's; vmprof-report
    // takes the same flag once its read passes `sources` on).
    const c = spawnSync(process.execPath, [CONVERT, "--to", "collapsed", "--no-source-maps", out]);
    assert.equal(c.status, 0, String(c.stderr));
    assert.doesNotMatch(String(c.stdout), /\.ts:/);
    assert.match(String(c.stdout), new RegExp(script.replace(".", "\\.")));
    const p = read(out);
    assert.ok(p.functions.some((f) => f.source?.file === path.join(dir, "src/math.ts")));

    // Lines: the hot line is the .ts line that does the work, in the report and in go tool pprof.
    const math = path.join(dir, "src/math.ts");
    const lines = spawnSync(process.execPath, [REPORT, "--lines", "^sumSquares$", "--json", out]);
    assert.equal(lines.status, 0, String(lines.stderr));
    const entry = (JSON.parse(String(lines.stdout)) as { functions: { name: string; files: { file: string; lines: { line: number; selfSamples: number }[] }[] }[] }).functions[0];
    const own = entry.files.find((f) => f.file === math);
    assert.ok(own, JSON.stringify(entry.files.map((f) => f.file)));
    const hottest = [...own.lines].sort((a, b) => b.selfSamples - a.selfSamples)[0];
    assert.equal(hottest.line, 7, JSON.stringify(own.lines));
    const pb = path.join(dir, `${script.replace(/\W/g, "_")}.pb.gz`);
    const conv = spawnSync(process.execPath, [CONVERT, "--to", "pprof", "-o", pb, out]);
    assert.equal(conv.status, 0, String(conv.stderr));
    const list = spawnSync("go", ["tool", "pprof", "-list", "^sumSquares$", pb], { encoding: "utf8" });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /ROUTINE =+ sumSquares in .*src\/math\.ts/);
    const ms = (v: string) => (v === "." ? 0 : Number.parseFloat(v) * (/[uµ]s$/.test(v) ? 1e-3 : v.endsWith("ms") ? 1 : v.endsWith("s") ? 1e3 : 1));
    const rows = [...list.stdout.matchAll(/^\s+(\S+)\s+\S+\s+(\d+):/gm)].map((m) => ({ flat: ms(m[1]), line: Number(m[2]) }));
    const top = rows.sort((a, b) => b.flat - a.flat)[0];
    assert.equal(top?.line, 7, list.stdout);
  });
}

test("--no-source-maps: the profile is left as the sampler wrote it", () => {
  const dir = project();
  const out = path.join(dir, "nomaps.prof");
  const r = record(["--no-source-maps", "-o", out, "--", process.execPath, "bundle/app.js", "300"], { cwd: dir });
  assert.equal(r.status, 0, String(r.stderr));
  assert.ok(!read(out).functions.some((f) => f.source));
});

test("vmprof-convert --source-maps DIR maps a profile recorded without them, later", () => {
  const dir = project();
  const out = path.join(dir, "later.prof");
  assert.equal(record(["--no-source-maps", "-o", out, "--", process.execPath, "bundle/app.js", "300"], { cwd: dir }).status, 0);
  const c = spawnSync(process.execPath, [CONVERT, "--to", "collapsed", "--source-maps", path.join(dir, "bundle"), out]);
  assert.equal(c.status, 0, String(c.stderr));
  assert.match(String(c.stdout), /fibonacci \(.*src\/math\.ts:1/);
});

test("a program without maps: no sources, no warning (the glance finds nothing to map; the file is taken as written)", () => {
  const dir = project();
  const a = path.join(dir, "plain.prof");
  // The generated JS with its map comment and files removed: nothing to map.
  const plain = path.join(dir, "plain");
  fs.mkdirSync(plain, { recursive: true });
  fs.writeFileSync(path.join(plain, "app.js"), fs.readFileSync(path.join(dir, "bundle/app.js"), "utf8").replace(/\/\/# sourceMappingURL=.*/, ""));
  const r = record(["-o", a, "--", process.execPath, "plain/app.js", "300"], { cwd: dir });
  assert.equal(r.status, 0);
  assert.equal(String(r.stderr), "");
  const p = read(a);
  assert.ok(!p.functions.some((f) => f.source));
  assert.equal(applySources(p), p);
});

/** Runs the tsc build with its math.js.map replaced by `map` (undefined: deleted); returns stderr and the profile. */
function withBrokenMap(map: string | undefined) {
  const dir = fs.realpathSync(tempDir());
  fs.cpSync(project(), dir, { recursive: true });
  const m = path.join(dir, "dist/math.js.map");
  if (map === undefined) fs.rmSync(m);
  else fs.writeFileSync(m, map);
  const out = path.join(dir, "broken.prof");
  const r = record(["-o", out, "--", process.execPath, "dist/main.js", "300"], { cwd: dir });
  return { r, stderr: String(r.stderr), p: read(out), dir };
}

test("bad maps: one warning each on stderr, exit 0, the profile intact and main.ts still mapped", () => {
  const cases: [string, string | undefined, RegExp][] = [
    ["missing map", undefined, /^vmprof-record: warning: .*dist\/math\.js\.map \(the source map of .*math\.js\): not found; generated positions kept$/],
    ["bad JSON", "{ nope", /^vmprof-record: warning: .*math\.js\.map .*: not valid JSON .*; generated positions kept$/],
    ["bad mappings", '{"version":3,"sources":["../src/math.ts"],"names":[],"mappings":"AAAA;AEAA"}', /^vmprof-record: warning: .*math\.js\.map .*: bad mappings/],
    ["outside the project", '{"version":3,"sources":["../../../../../../../../elsewhere/math.ts"],"names":[],"sourcesContent":["x"],"mappings":"AAAA;AACA;AACA;AACA;AACA;AACA"}', /^vmprof-record: warning: .*math\.js\.map: 1 source outside .*; used as they are$/],
    ["sources that do not exist", '{"version":3,"sources":["../src/gone.ts"],"names":[],"mappings":"AAAA;AACA;AACA;AACA;AACA;AACA"}', /^vmprof-record: warning: .*math\.js\.map: 1 source not found and not in its sourcesContent/],
  ];
  for (const [what, map, re] of cases) {
    const { r, stderr, p, dir } = withBrokenMap(map);
    assert.equal(r.status, 0, what);
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${what}: ${stderr}`);
    assert.match(lines[0], re, what);
    assert.ok(p.samples.count > 50, what);
    assert.equal(p.truncation, undefined, what);
    const shown = applySources(p);
    assert.ok(shown.functions.some((f) => f.name === "hotLoop" && f.file === path.join(dir, "src/main.ts")), what);
    assert.ok(shown.functions.some((f) => f.name === "fibonacci"), what);
  }
});

test("speedscope's viewer in Chromium shows the .ts files of a minified bundle's functions (its hover tooltip)", async () => {
  const dir = project();
  const out = path.join(dir, "viewer.prof");
  assert.equal(record(["-o", out, "--", process.execPath, "bundle/app.js", "500"], { cwd: dir }).status, 0);
  const doc = spawnSync(process.execPath, [CONVERT, "--to", "speedscope", "-o", path.join(dir, "viewer.json"), out]);
  assert.equal(doc.status, 0, String(doc.stderr));
  const { viewerDir } = (await import("vmprof-convert")) as { viewerDir: () => string };
  const server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).slice(1);
    const file = name === "p/viewer.json" ? path.join(dir, "viewer.json") : path.join(viewerDir(), name);
    fs.readFile(file, (err, data) => {
      res.writeHead(err ? 404 : 200, { "content-type": name.endsWith(".html") ? "text/html" : name.endsWith(".js") ? "text/javascript" : "application/octet-stream" });
      res.end(err ? "" : data);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    // The driver speaks the DevTools protocol with the WebSocket client of Node 22+.
    const hover = spawn(nodeBinary("22"), [fixture("speedscope-hover.mjs"), `${base}/index.html#profileURL=${encodeURIComponent(`${base}/p/viewer.json`)}`], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    hover.stdout.on("data", (d) => (stdout += d));
    hover.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => hover.once("exit", resolve));
    assert.equal(code, 0, stderr);
    const shown = (JSON.parse(stdout) as string[]).join("\n");
    assert.match(shown, new RegExp(`hotLoop\\n${path.join(dir, "src/main.ts").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:5`), shown.slice(-1500));
    assert.match(shown, /(fibonacci|sumSquares)\n.*src\/math\.ts:\d+/, shown.slice(-1500));
  } finally {
    server.close();
  }
});

test("vmprof-report --source prints a function's TypeScript from the map's sourcesContent when the .ts files are gone", () => {
  const dir = project();
  const out = path.join(dir, "away.prof");
  assert.equal(record(["-o", out, "--", process.execPath, "bundle/app.js", "500"], { cwd: dir }).status, 0);
  fs.renameSync(path.join(dir, "src"), path.join(dir, "src.away"));
  try {
    const r = spawnSync(process.execPath, [REPORT, "--source", "^sumSquares$", out], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const row = r.stdout.split("\n").find((l) => /^\s+7\s/.test(l));
    assert.ok(row, r.stdout);
    assert.match(row, /\d+\.\d%\s+\d+\.\d%\s+for \(let i = 0; i < limit; i\+\+\) total \+= Math\.sqrt\(i\)/);
    assert.doesNotMatch(r.stdout, /cannot be read/);
  } finally {
    fs.renameSync(path.join(dir, "src.away"), path.join(dir, "src"));
  }
});
