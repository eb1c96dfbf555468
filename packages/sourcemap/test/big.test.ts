/**
 * Bundles with many sources: an esbuild bundle of 150 generated TypeScript modules, minified, whose
 * every function and frame maps to its module's .ts file and original name. (How long a 10 MB map
 * takes is measured by the bench: npm run bench:sourcemap.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveSources } from "../src/index.js";
import { bigBundle } from "./bundle.js";

test("a bundle of 150 modules: every function and frame mapped to its module, original names from the map", () => {
  const { profile: p } = bigBundle(150);
  const r = resolveSources(p);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.functions, p.functions.length);
  assert.equal(r.frames, p.frames.length);
  for (const f of r.profile.functions) {
    const m = /^work_(\d+)_\d+$/.exec(f.source!.name);
    assert.ok(m, f.source!.name);
    assert.ok(f.source!.file.endsWith(`/src/m${m[1]}.ts`), f.source!.file);
  }
});
