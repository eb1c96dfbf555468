/**
 * V8's code names, as captured on each supported Node (test/fixtures/code-names, made by
 * scripts/capture-code-names.cjs), read by the sampler's table-driven parser without sampling.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { FunctionKind, Tier } from "@vmprof/format";
import { loadAddon } from "../src/index.js";

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/code-names");
const parse = loadAddon().parseCodeName;
const PROGRAM = "/PROGRAM/program.cjs";

function rows(major: string) {
  return fs
    .readFileSync(path.join(fixtures, `node-${major}.tsv`), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [bytecode, wasm, script, name] = line.split("\t");
      return { v8: name, parsed: parse(name, script, bytecode === "1", wasm === "1") };
    });
}

for (const major of ["20", "22", "24", "26"]) {
  test(`Node ${major}: no V8 marker survives in any name, and each function has one identity across tiers`, () => {
    const all = rows(major);
    assert.ok(all.length > 80, `${all.length} names captured`);
    const identity = new Map<string, Set<string>>();
    for (const { v8, parsed } of all) {
      assert.doesNotMatch(parsed.name, /^o?[~^+*]'?/, `${v8} -> ${parsed.name}`);
      assert.doesNotMatch(parsed.name, /-(liftoff|turbofan)$/, `${v8} -> ${parsed.name}`);
      if (parsed.kind === FunctionKind.JS && / [^ :]\S*:\d+:\d+$/.test(v8)) {
        assert.ok(parsed.line > 0 && parsed.column > 0, `${v8}: line ${parsed.line}, column ${parsed.column}`);
        assert.ok(parsed.file.length > 0, `${v8}: no file`);
      }
      if (parsed.file === PROGRAM && parsed.name) {
        const key = `${parsed.name}`;
        const id = `${parsed.kind} ${parsed.file}:${parsed.line}:${parsed.column}`;
        if (!identity.has(key)) identity.set(key, new Set());
        identity.get(key)!.add(id);
      }
    }
    for (const name of ["mix", "north", "main", "osrLoop", "get twice", "method", "asyncWork", "gen", "arrow", "#hidden"]) {
      assert.equal(identity.get(name)?.size, 1, `${name}: ${[...(identity.get(name) ?? [])].join(", ")}`);
    }
    // Every tier the program reaches is named as such, the same function each time.
    const tiers = new Set(all.filter((r) => r.parsed.name === "mix" && r.parsed.file === PROGRAM).map((r) => r.parsed.tier));
    for (const t of [Tier.INTERPRETED, Tier.BASELINE, Tier.OPTIMIZED]) assert.ok(tiers.has(t), `mix in tier ${t}: ${[...tiers]}`);
    // WebAssembly: one function per index, its compiler as the tier.
    const wasm = all.filter((r) => /wasm-function/.test(r.v8));
    assert.deepEqual(new Set(wasm.map((r) => r.parsed.name)), new Set(["wasm-function[0]", "wasm-function[1]"]));
    assert.deepEqual(new Set(wasm.map((r) => r.parsed.tier)), new Set([Tier.BASELINE, Tier.OPTIMIZED]));
    assert.ok(wasm.every((r) => r.parsed.kind === FunctionKind.OTHER));
  });
}

test("the grammar of each marker, read from the tables", () => {
  const cases: [string, string, boolean, boolean, { name: string; tier: number; kind?: number; line?: number; file?: string }][] = [
    ["JS:~mix /a/x.js:1:13", "", true, false, { name: "mix", tier: Tier.INTERPRETED, line: 1, file: "/a/x.js" }],
    ["JS:^mix /a/x.js:1:13", "", false, false, { name: "mix", tier: Tier.BASELINE }],
    ["JS:+'mix /a/x.js:1:13", "", false, false, { name: "mix", tier: Tier.MAGLEV }],
    ["JS:*'mix /a/x.js:1:13", "", false, false, { name: "mix", tier: Tier.OPTIMIZED }],
    ["JS:o*north /a/x.js:2:15", "", false, false, { name: "north", tier: Tier.OPTIMIZED, line: 2 }],
    ["JS:o+ /a/x.js:1:1", "", false, false, { name: "", tier: Tier.MAGLEV, line: 1 }],
    ["JS:*get twice /a/my file.js:5:53", "/a/my file.js", false, false, { name: "get twice", tier: Tier.OPTIMIZED, file: "/a/my file.js" }],
    ["JS:ostrich /a/x.js:3:1", "", false, false, { name: "ostrich", tier: Tier.UNKNOWN }],
    ["JS:wasm-function[3]-3-turbofan", "", false, true, { name: "wasm-function[3]", tier: Tier.OPTIMIZED, kind: FunctionKind.OTHER }],
    ["JS:add-7-liftoff", "", false, true, { name: "add", tier: Tier.BASELINE, kind: FunctionKind.OTHER }],
    ["Builtin:ArrayForEach", "", false, false, { name: "ArrayForEach", tier: Tier.UNKNOWN, kind: FunctionKind.BUILTIN }],
    ["RegExp:[aeiou]", "", false, false, { name: "RegExp: [aeiou]", tier: Tier.UNKNOWN, kind: FunctionKind.BUILTIN }],
    ["Stub:js-to-wasm:i:i", "", false, false, { name: "js-to-wasm:i:i", tier: Tier.UNKNOWN, kind: FunctionKind.BUILTIN }],
  ];
  for (const [v8, script, bytecode, wasm, want] of cases) {
    const got = parse(v8, script, bytecode, wasm);
    assert.equal(got.name, want.name, v8);
    assert.equal(got.tier, want.tier, v8);
    assert.equal(got.kind, want.kind ?? FunctionKind.JS, v8);
    if (want.line !== undefined) assert.equal(got.line, want.line, v8);
    if (want.file !== undefined) assert.equal(got.file, want.file, v8);
  }
});
