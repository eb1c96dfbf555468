import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { applySources, decodeProfile, dumpProfile, frameLocation, memorySink, readProfileSync, writeProfiles, type Profile } from "../src/index.js";

function encodeProfile(p: Profile): Uint8Array {
  const sink = memorySink();
  writeProfiles([p], sink, { compress: false });
  return sink.bytes();
}
import { FIXTURES, GOLDEN_DIR, fixtureBytes } from "./golden-fixtures.js";

const UPDATE = "run `npm run golden:update -w @vmprof/format` if the change is intended (and bump the version if the format changed)";

for (const f of FIXTURES) {
  const file = join(GOLDEN_DIR, `${f.name}.prof`);

  test(`golden ${f.name}: reading the checked-in file gives the checked-in dump`, () => {
    const expected = readFileSync(join(GOLDEN_DIR, `${f.name}.dump.txt`), "utf8");
    const p = readProfileSync(file, `${f.name}.prof`);
    assert.equal(p.truncation, undefined);
    assert.equal(dumpProfile(p), expected, UPDATE);
  });

  test(`golden ${f.name}: the writer still produces ${f.exactBytes ? "the same bytes" : "the same profile"}`, () => {
    const now = fixtureBytes(f);
    if (f.exactBytes) assert.deepEqual(Buffer.from(now), readFileSync(file), UPDATE);
    assert.equal(dumpProfile(decodeProfile(now, `${f.name}.prof`)), readFileSync(join(GOLDEN_DIR, `${f.name}.dump.txt`), "utf8"), UPDATE);
  });
}

test("plain and deflate encodings of the same profile hold the same data", () => {
  const plain = dumpProfile(readProfileSync(join(GOLDEN_DIR, "multi.prof"), "x"));
  const deflate = dumpProfile(readProfileSync(join(GOLDEN_DIR, "multi-deflate.prof"), "x"));
  assert.equal(deflate, plain);
});

for (const name of ["basic", "multi-deflate"]) {
  test(`format 1.0 file ${name} still reads, frames without positions`, () => {
    const p = readProfileSync(join(GOLDEN_DIR, "v1.0", `${name}.prof`), `${name}.prof`);
    assert.deepEqual(p.version, [1, 0]);
    assert.ok(p.frames.every((fr) => fr.line === 0 && fr.column === 0));
    assert.equal(dumpProfile(p), readFileSync(join(GOLDEN_DIR, "v1.0", `${name}.dump.txt`), "utf8"));
  });
}

for (const name of ["basic", "multi-deflate", "sources"]) {
  test(`format 1.1 file ${name} still reads, samples without label sets`, () => {
    const p = readProfileSync(join(GOLDEN_DIR, "v1.1", `${name}.prof`), `${name}.prof`);
    assert.deepEqual(p.version, [1, 1]);
    assert.equal(p.labelSets.length, 0);
    assert.ok(p.samples.labels.every((l) => l === 0));
    assert.equal(dumpProfile(p), readFileSync(join(GOLDEN_DIR, "v1.1", `${name}.dump.txt`), "utf8"));
  });
}

test("labels: a 1.1 reader's view of a 1.2 file is the file without its label sets (the column and the record are skipped)", () => {
  const bytes = readFileSync(join(GOLDEN_DIR, "labels.prof"));
  const p = readProfileSync(join(GOLDEN_DIR, "labels.prof"), "labels.prof");
  assert.deepEqual(p.version, [1, 2]);
  assert.deepEqual(p.labelSets, [[["route", "/a"]], [["route", "/b"], ["tenant", "x"]]]);
  const labelled = p.samples.labels.reduce((n, l) => n + (l !== 0 ? 1 : 0), 0);
  assert.equal(labelled, 70 - 5 + 10);
  // The same bytes marked 1.1: the reader takes no label column and ignores the unknown record.
  const old = Buffer.from(bytes);
  old[9] = 1;
  const q = decodeProfile(old, "as-1.1.prof");
  assert.equal(q.samples.count, p.samples.count);
  assert.ok(q.samples.labels.every((l) => l === 0));
  assert.deepEqual([...q.samples.stack], [...p.samples.stack]);
});

test("sources: applySources shows the source names, files and lines and keeps the generated ones", () => {
  const raw = readProfileSync(join(GOLDEN_DIR, "sources.prof"), "sources.prof");
  const p = applySources(raw);
  assert.notEqual(p, raw);
  assert.deepEqual(p.functions.map((f) => `${f.name} ${f.file}:${f.line}`), ["main /app/src/x.ts:4", "a /app/src/x.ts:12", "lib /app/node_modules/lib.js:1"]);
  assert.deepEqual(p.functions[1].generated, { name: "a", file: "/app/dist/x.js", line: 9, column: 11 });
  assert.deepEqual(p.frames.map((fr) => frameLocation(p, fr.id)), ["/app/src/x.ts:6", "/app/src/x.ts:13", "/app/src/util.ts:2", "/app/node_modules/lib.js:2"]);
  // Written back, both the generated and the source sides survive.
  const again = decodeProfile(encodeProfile(p));
  assert.equal(dumpProfile(again).replace(/format 1\.\d/, ""), dumpProfile(raw).replace(/format 1\.\d/, ""));
});
