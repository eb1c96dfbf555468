import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { VmState, decodeProfile, stackFrames } from "../src/index.js";
import { GOLDEN_DIR } from "./golden-fixtures.js";

test("the worked example in SPEC.md decodes to what the spec says", () => {
  const spec = readFileSync(join(GOLDEN_DIR, "..", "..", "SPEC.md"), "utf8");
  const section = spec.slice(spec.indexOf("## 7. A complete example"));
  const bytes: number[] = [];
  for (const line of section.split("\n").filter((l) => l.startsWith("    "))) {
    for (const tok of line.trim().split(/\s+/)) {
      if (!/^[0-9a-f]{2}$/.test(tok)) break;
      bytes.push(parseInt(tok, 16));
    }
  }
  const declared = Number(/A complete example \((\d+) bytes\)/.exec(spec)![1]);
  assert.equal(bytes.length, declared);
  const p = decodeProfile(Uint8Array.from(bytes), "SPEC.md");
  assert.equal(p.truncation, undefined);
  assert.equal(p.meta.get("mode"), "cpu");
  assert.equal(p.processes[0].pid, 300);
  assert.equal(p.functions[0].name, "main");
  assert.deepEqual(Array.from(p.samples.time), [1000, 2003]);
  assert.deepEqual(Array.from(p.samples.wall), [1000, 1003]);
  assert.deepEqual(Array.from(p.samples.cpu), [990, 1003]);
  assert.deepEqual(Array.from(p.samples.state), [VmState.JS, VmState.GC]);
  assert.deepEqual(stackFrames(p, p.samples.stack[0]), [1]);
  assert.equal(p.samples.stack[1], 0);
});
