import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { decodeProfile, dumpProfile, readProfileSync } from "../src/index.js";
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
