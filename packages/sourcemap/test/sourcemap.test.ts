/**
 * resolveSources against maps made by the real tools (tsc, esbuild) and against broken ones. Profiles
 * are made with ProfileBuilder at generated positions found in the real output, so frame-level
 * mapping is tested whether or not the sampler records frame positions yet.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import { buildSync } from "esbuild";
import { FunctionKind, ProfileBuilder, Tier, applySources, type Profile } from "@vmprof/format";
import { SourceMapCache, resolveSources } from "../src/index.js";

const require = createRequire(import.meta.url);
const TSC = require.resolve("typescript/bin/tsc");

const MATH = `export function fibonacci(n: number): number {
  if (n < 2) return n;
  return fibonacci(n - 1) + fibonacci(n - 2);
}

export const sumSquares = (limit: number): number => {
  let total = 0;
  for (let i = 0; i < limit; i++) total += Math.sqrt(i) * Math.sqrt(i + 1);
  return total;
};
`;
const MAIN = `import { fibonacci, sumSquares } from "./math.js";

export function hotLoop(rounds: number): number {
  let acc = 0;
  for (let r = 0; r < rounds; r++) acc += fibonacci(20) + sumSquares(1000);
  return acc;
}
hotLoop(1);
`;

const made: string[] = [];
process.on("exit", () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-sourcemap-test-"));
  made.push(d);
  return fs.realpathSync(d);
}

let compiled: string | undefined;

/** A project in a temp dir: src/*.ts, package.json; compiled by tsc into dist/ with .map files (once; copied per test). */
function project(): string {
  if (!compiled) {
    compiled = tempDir();
    fs.mkdirSync(path.join(compiled, "src"));
    fs.writeFileSync(path.join(compiled, "src/math.ts"), MATH);
    fs.writeFileSync(path.join(compiled, "src/main.ts"), MAIN);
    fs.writeFileSync(path.join(compiled, "package.json"), '{"type":"commonjs"}');
    fs.writeFileSync(path.join(compiled, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", outDir: "dist", rootDir: "src", sourceMap: true, strict: true, types: [] }, include: ["src"] }));
    const r = spawnSync(process.execPath, [TSC, "-p", compiled]);
    assert.equal(r.status, 0, `tsc: ${r.stdout}${r.stderr}`);
  }
  const dir = tempDir();
  fs.cpSync(compiled, dir, { recursive: true });
  return dir;
}

/** 1-based (line, column) of the first occurrence of `needle` in `text`. */
function positionOf(text: string, needle: string): { line: number; column: number } {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, `"${needle}" not in the generated code`);
  const before = text.slice(0, at).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

interface Fn {
  name: string;
  file: string;
  /** Text at V8's start of the function (its parameter list). */
  start: string;
  /** Text where a frame of it executes. */
  at?: string;
}

/** A profile of one sample per function, each frame at its `at` position in the generated code. */
function profileOf(fns: Fn[], cwd: string, scripts: { file: string; sourceMapUrl: string }[] = []): Profile {
  const b = new ProfileBuilder();
  b.meta({ cwd });
  const t = b.addThread({ process: b.addProcess({ pid: 1 }), tid: 1 });
  let time = 0;
  for (const f of fns) {
    const local = f.file.startsWith("file:") ? new URL(f.file) : f.file;
    const text = fs.readFileSync(local, "utf8");
    const s = positionOf(text, f.start);
    const id = b.addFunction({ kind: FunctionKind.JS, name: f.name, file: f.file, line: s.line, column: s.column });
    const pos = f.at ? positionOf(text, f.at) : { line: 0, column: 0 };
    b.sample(t, (time += 1000), 1000, 1000, 0, b.child(0, b.frame(id, Tier.OPTIMIZED, pos.line, pos.column)));
  }
  const p = b.finish();
  p.scripts.push(...scripts);
  return p;
}

const byName = (p: Profile) => new Map(applySources(p).functions.map((f) => [f.name, f]));

test("tsc output with .map files: functions and frames map to the .ts sources", () => {
  const dir = project();
  const math = path.join(dir, "dist/math.js");
  const p = profileOf(
    [
      { name: "fibonacci", file: math, start: "(n) {", at: "fibonacci(n - 1)" },
      { name: "sumSquares", file: math, start: "(limit) =>", at: "Math.sqrt(i)" },
      { name: "hotLoop", file: path.join(dir, "dist/main.js"), start: "(rounds) {", at: "(0, math_js_1.fibonacci)(20)" },
    ],
    dir,
  );
  const r = resolveSources(p);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.functions, 3);
  assert.equal(r.frames, 3);
  const fns = byName(r.profile);
  assert.equal(fns.get("fibonacci")!.file, path.join(dir, "src/math.ts"));
  assert.equal(fns.get("fibonacci")!.line, 1);
  assert.equal(fns.get("sumSquares")!.line, 6);
  assert.equal(fns.get("hotLoop")!.file, path.join(dir, "src/main.ts"));
  const shown = applySources(r.profile);
  const lineOf = (name: string) => shown.frames.find((fr) => shown.functions[fr.function - 1].name === name)!.line;
  assert.equal(lineOf("fibonacci"), 3, "the recursive call is line 3 of math.ts");
  assert.equal(lineOf("sumSquares"), 8);
  assert.equal(lineOf("hotLoop"), 5);
  // Generated positions are kept beside the sources.
  assert.equal(shown.functions.find((f) => f.name === "fibonacci")!.generated!.file, math);
});

test("an esbuild bundle, minified: original names from the map's names, many sources in one map", () => {
  const dir = project();
  buildSync({ entryPoints: [path.join(dir, "src/main.ts")], bundle: true, minify: true, sourcemap: true, platform: "node", outfile: path.join(dir, "bundle/app.js"), logLevel: "silent" });
  const file = path.join(dir, "bundle/app.js");
  const text = fs.readFileSync(file, "utf8");
  // The minified names: the function declared with the recursion, the arrow with Math.sqrt.
  const fib = /function (\w+)\((\w+)\)\{return \2<2/.exec(text)!;
  const sq = /(\w+)=(\w+)=>\{let \w+=0;for/.exec(text)!;
  assert.ok(fib && sq, text);
  const p = profileOf(
    [
      { name: fib[1], file, start: `(${fib[2]}){return`, at: `${fib[1]}(${fib[2]}-1)` },
      { name: sq[1], file, start: `${sq[2]}=>{let`, at: "Math.sqrt(" },
    ],
    dir,
  );
  const r = resolveSources(p);
  assert.deepEqual(r.warnings, []);
  const fns = byName(r.profile);
  assert.ok(fns.has("fibonacci"), [...fns.keys()].join());
  assert.ok(fns.has("sumSquares"), [...fns.keys()].join());
  assert.equal(fns.get("fibonacci")!.file, path.join(dir, "src/math.ts"));
  const shown = applySources(r.profile);
  assert.equal(shown.frames[0].line, 3);
  assert.equal(shown.frames[1].line, 8);
});

test("inline maps: esbuild --sourcemap=inline (base64) and a URL-encoded data: URL", () => {
  const dir = project();
  const file = path.join(dir, "inline/app.js");
  buildSync({ entryPoints: [path.join(dir, "src/math.ts")], bundle: true, minify: true, sourcemap: "inline", platform: "node", format: "cjs", outfile: file, logLevel: "silent" });
  const text = fs.readFileSync(file, "utf8");
  assert.match(text, /sourceMappingURL=data:application\/json;base64,/);
  const fib = /function (\w+)\((\w+)\)\{return \2<2/.exec(text)!;
  const p = profileOf([{ name: fib[1], file, start: `(${fib[2]}){return`, at: `${fib[1]}(${fib[2]}-1)` }], dir);
  const r = resolveSources(p);
  assert.deepEqual(r.warnings, []);
  assert.equal(byName(r.profile).get("fibonacci")!.file, path.join(dir, "src/math.ts"));

  // The same map URL-encoded, declared by a SCRIPT record (as V8 saw the comment), for a file: URL script.
  const map = Buffer.from(text.slice(text.lastIndexOf("base64,") + 7).trim(), "base64").toString("utf8");
  const esm = path.join(dir, "inline/app.mjs");
  fs.writeFileSync(esm, text.slice(0, text.lastIndexOf("//# sourceMappingURL")));
  const url = pathToFileURL(esm).href;
  const q = profileOf([{ name: fib[1], file: url, start: `(${fib[2]}){return`, at: `${fib[1]}(${fib[2]}-1)` }], dir, [
    { file: url, sourceMapUrl: `data:application/json,${encodeURIComponent(map)}` },
  ]);
  const s = resolveSources(q);
  assert.deepEqual(s.warnings, []);
  assert.equal(byName(s.profile).get("fibonacci")!.line, 1);
  assert.equal(applySources(s.profile).frames[0].line, 3);
});

test("indexed (sectioned) maps, sourceRoot, and a //# sourceURL script found by --source-maps dirs", () => {
  const dir = project();
  const tscMap = JSON.parse(fs.readFileSync(path.join(dir, "dist/math.js.map"), "utf8"));
  const gen = fs.readFileSync(path.join(dir, "dist/math.js"), "utf8");
  // Two sections: 10 lines of other code, then math.js; sources rooted at sourceRoot.
  const sectioned = {
    version: 3,
    sections: [
      { offset: { line: 0, column: 0 }, map: { version: 3, sources: ["other.ts"], names: [], mappings: "AAAA" } },
      { offset: { line: 10, column: 0 }, map: { ...tscMap, sourceRoot: "../src", sources: ["math.ts"] } },
    ],
  };
  const file = path.join(dir, "dist/sectioned.js");
  fs.writeFileSync(file, "\n".repeat(10) + gen.replace(/\/\/# sourceMappingURL=.*/, "//# sourceMappingURL=sectioned.js.map"));
  fs.writeFileSync(`${file}.map`, JSON.stringify(sectioned));
  const r = resolveSources(profileOf([{ name: "fibonacci", file, start: "(n) {", at: "fibonacci(n - 1)" }], dir));
  assert.deepEqual(r.warnings, []);
  const shown = applySources(r.profile);
  assert.equal(shown.functions[0].file, path.join(dir, "src/math.ts"));
  assert.equal(shown.frames[0].line, 3);

  // A script named by //# sourceURL (not on disk here): its map is found in --source-maps DIR by name.
  const elsewhere = tempDir();
  fs.mkdirSync(path.join(elsewhere, "dist"));
  fs.cpSync(path.join(dir, "src"), path.join(elsewhere, "src"), { recursive: true });
  fs.copyFileSync(path.join(dir, "dist/math.js.map"), path.join(elsewhere, "dist/math.js.map"));
  const b = new ProfileBuilder();
  b.meta({ cwd: "/machine/that/recorded" });
  const t = b.addThread({ process: b.addProcess({ pid: 1 }), tid: 1 });
  const s = positionOf(gen, "(n) {");
  const id = b.addFunction({ kind: FunctionKind.JS, name: "fibonacci", file: "webpack://app/dist/math.js", line: s.line, column: s.column });
  b.sample(t, 1, 1, 1, 0, b.child(0, b.frame(id)));
  const q = resolveSources(b.finish(), { dirs: [elsewhere] });
  assert.deepEqual(q.warnings, []);
  assert.equal(q.profile.functions[0].source!.line, 1);
  assert.equal(q.profile.functions[0].source!.file, path.join(elsewhere, "src/math.ts"), "sources resolve against the map's location");
});

/** A project with one broken map; returns its warnings and the profile. */
function broken(mapText: string | undefined, scriptTail = "//# sourceMappingURL=math.js.map", o: { maxMapBytes?: number } = {}) {
  const dir = project();
  const file = path.join(dir, "dist/math.js");
  const gen = fs.readFileSync(file, "utf8").replace(/\/\/# sourceMappingURL=.*/, scriptTail);
  fs.writeFileSync(file, gen);
  if (mapText === undefined) fs.rmSync(`${file}.map`);
  else fs.writeFileSync(`${file}.map`, mapText);
  const p = profileOf([{ name: "fibonacci", file, start: "(n) {", at: "fibonacci(n - 1)" }], dir);
  const r = resolveSources(p, o);
  return { dir, file, r };
}

test("bad input: a missing map, bad JSON, bad mappings, a huge map: one warning each, generated positions kept", () => {
  const cases: [string, ReturnType<typeof broken>, RegExp][] = [
    ["missing", broken(undefined), /math\.js\.map \(the source map of .*math\.js\): not found; generated positions kept/],
    ["bad JSON", broken("{ this is not json"), /math\.js\.map .*: not valid JSON/],
    ["bad mappings (characters)", broken('{"version":3,"sources":["../src/math.ts"],"names":[],"mappings":"!!!;@@"}'), /bad mappings/],
    ["bad mappings (source index)", broken('{"version":3,"sources":["../src/math.ts"],"names":[],"mappings":"AAAA;AEAA"}'), /bad mappings \(generated line 2/],
    ["not a map", broken('{"version":2,"mappings":""}'), /not a version 3 source map/],
    ["huge", broken(JSON.stringify({ version: 3, sources: ["x.ts"], names: [], mappings: "AAAA;".repeat(1000) }), undefined, { maxMapBytes: 1000 }), /over the limit/],
  ];
  for (const [what, c, re] of cases) {
    assert.equal(c.r.warnings.length, 1, `${what}: ${c.r.warnings.join(" | ")}`);
    assert.match(c.r.warnings[0], re, what);
    const f = c.r.profile.functions[0];
    assert.equal(f.source, undefined, what);
    assert.equal(f.file, c.file, what);
    assert.equal(applySources(c.r.profile).functions[0].name, "fibonacci", what);
  }
});

test("bad input: a map pointing outside the project (used, warned), a map whose sources do not exist (warned)", () => {
  const outside = JSON.stringify({ version: 3, sources: ["../../../../../../../etc/elsewhere/math.ts"], names: [], mappings: "AAAA;AACA;AACA;AACA;AACA;AACA" });
  const a = broken(outside);
  assert.equal(a.r.warnings.length, 2, a.r.warnings.join(" | "));
  assert.match(a.r.warnings[0], /math\.js\.map: 1 source outside .*\/etc\/elsewhere\/math\.ts\); used as they are/);
  assert.match(a.r.warnings[1], /1 source not found and not in its sourcesContent/);
  assert.equal(a.r.profile.functions[0].source!.file, "/etc/elsewhere/math.ts");

  const gone = JSON.stringify({ version: 3, sources: ["../src/gone.ts"], names: [], mappings: "AAAA;AACA;AACA;AACA;AACA;AACA" });
  const b = broken(gone);
  assert.equal(b.r.warnings.length, 1, b.r.warnings.join(" | "));
  assert.match(b.r.warnings[0], /1 source not found and not in its sourcesContent \(.*src\/gone\.ts\)/);
  // With sourcesContent the source is there to show: no warning.
  const c = broken(JSON.stringify({ ...JSON.parse(gone), sourcesContent: [MATH] }));
  assert.deepEqual(c.r.warnings, []);
});

test("a script without a map, node: modules and native functions are left alone, silently; maps are parsed once per cache", () => {
  const dir = project();
  fs.rmSync(path.join(dir, "dist/math.js.map"));
  fs.writeFileSync(path.join(dir, "dist/math.js"), fs.readFileSync(path.join(dir, "dist/math.js"), "utf8").replace(/\/\/# sourceMappingURL=.*/, ""));
  const p = profileOf([{ name: "fibonacci", file: path.join(dir, "dist/math.js"), start: "(n) {" }, { name: "hotLoop", file: path.join(dir, "dist/main.js"), start: "(rounds) {" }], dir);
  const cache = new SourceMapCache();
  const r = resolveSources(p, { cache });
  assert.deepEqual(r.warnings, []);
  assert.equal(r.functions, 1);
  assert.equal(cache.maps.size, 1);
  resolveSources(p, { cache });
  assert.equal(cache.maps.size, 1);
});
