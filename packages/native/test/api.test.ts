/** The in-process API: a program profiles a section of itself. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { aggregate, functionIdLimit, functionInfo, functionTable, readProfileSync } from "@vmprof/format";

const api = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/index.js");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-api-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

test("enable/disable around a section: only that section is in the profile, complete and named", () => {
  const file = path.join(dir, "section.prof");
  const program = `
    import fs from "node:fs";
    import { enable, disable, isEnabled } from ${JSON.stringify(api)};
    function burn(ms) { const e = Date.now() + ms; let x = 0; while (Date.now() < e) x += Math.sqrt(x + 1); return x; }
    function before() { return burn(300); }
    function inside() { return burn(500); }
    before();
    const fd = fs.openSync(${JSON.stringify(file)}, "w");
    enable(fd, { period: 0.001, mode: "wall", meta: { "label.section": "inside" } });
    let again = "no error";
    try { enable(fd); } catch (e) { again = e.message; }
    const on = isEnabled();
    inside();
    const stats = disable();
    fs.closeSync(fd);
    console.log(JSON.stringify({ again, on, off: isEnabled(), stats }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", program], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.again, "the profiler is already enabled");
  assert.equal(out.on, true);
  assert.equal(out.off, false);
  const p = readProfileSync(file);
  assert.equal(p.truncation, undefined);
  assert.equal(p.meta.get("mode"), "wall");
  assert.equal(p.meta.get("period_us"), 1000);
  assert.equal(p.meta.get("label.section"), "inside");
  assert.equal(p.meta.get("samples"), out.stats.samples);
  assert.ok(p.samples.count >= 450 && p.samples.count <= 560, `${p.samples.count} samples in a 500 ms section`);
  const agg = aggregate(p, { weight: "wall" });
  const t = functionTable(p, agg);
  const names = new Map<string, number>();
  for (let id = 1; id < functionIdLimit(p); id++) names.set(functionInfo(p, id).name, (100 * t.total[id]) / agg.total);
  assert.ok((names.get("inside") ?? 0) > 90, `inside: ${names.get("inside")}`);
  assert.equal(names.get("before") ?? 0, 0);
});

test("a bad period or mode is refused before anything starts", () => {
  const program = `
    import { enable, isEnabled } from ${JSON.stringify(api)};
    const errors = [];
    for (const o of [{ period: -1 }, { period: 0.00001 }, { mode: "fast" }]) { try { enable(1, o); } catch (e) { errors.push(e.message); } }
    console.log(JSON.stringify({ errors, on: isEnabled() }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", program], { encoding: "utf8" });
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.errors, [
    "period must be a positive number of seconds, got -1",
    "period must be at least 50 µs",
    'mode must be "cpu" or "wall", got fast',
  ]);
  assert.equal(out.on, false);
});

test("the addon loaded twice in one thread (require, then process.dlopen, as vmprof-record --pid does in workers) works and the thread exits cleanly", () => {
  const addonCjs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/addon.cjs");
  const program = `
    const { Worker } = require("node:worker_threads");
    const code = \`
      const addon = require(\${JSON.stringify(${JSON.stringify(addonCjs)})});
      const first = addon.loadAddon();
      const m = { exports: {} };
      process.dlopen(m, addon.addonBinary());
      if (typeof m.exports.isEnabled !== "function" || first.isEnabled() !== m.exports.isEnabled()) throw new Error("second load differs");
    \`;
    const w = new Worker(code, { eval: true });
    w.on("exit", (c) => { console.log("worker exit " + c); });
  `;
  const r = spawnSync(process.execPath, ["-e", program], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "worker exit 0");
});
