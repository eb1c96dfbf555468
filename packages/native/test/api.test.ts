/** The in-process API: a program profiles a section of itself. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { createRequire } from "node:module";
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

test("withLabels refuses bad labels with a clear error before running fn, labels nest, and a full registry runs work unlabelled with one warning", () => {
  const file = path.join(dir, "labels.prof");
  const program = `
    import fs from "node:fs";
    import { enable, disable, withLabels, currentLabels } from ${JSON.stringify(api)};
    const out = {};
    const attempt = (name, labels) => {
      let ran = false;
      try { withLabels(labels, () => { ran = true; }); out[name] = "accepted"; }
      catch (e) { out[name] = e.constructor.name + ": " + e.message + (ran ? " (fn ran)" : ""); }
    };
    attempt("empty key", { "": "x" });
    attempt("number value", { route: 7 });
    attempt("null", null);
    attempt("array", [["route", "/a"]]);
    attempt("huge value", { route: "x".repeat(2000) });
    attempt("huge key", { ["k".repeat(2000)]: "x" });
    attempt("too many", Object.fromEntries(Array.from({ length: 65 }, (_, i) => ["k" + i, "v"])));
    try { withLabels({ a: "1" }, 5); } catch (e) { out.notFunction = e.constructor.name + ": " + e.message; }
    out.nested = withLabels({ tenant: "t1", route: "/x" }, () => withLabels({ route: "/a" }, () => currentLabels()));
    out.outside = currentLabels();
    const fd = fs.openSync(${JSON.stringify(file)}, "w");
    enable(fd, { period: 0.001 });
    function burn(ms) { const e = Date.now() + ms; let x = 0; while (Date.now() < e) x += Math.sqrt(x + 1); return x; }
    withLabels({ tenant: "t1" }, () => withLabels({ route: "/a" }, () => burn(150)));
    // Fill the registry: distinct sets past the limit run their work unlabelled, with one warning.
    let warnings = 0;
    process.on("warning", (w) => { if (/distinct label sets/.test(w.message)) warnings++; });
    let ran = 0;
    for (let i = 0; i < 100010; i++) withLabels({ request: String(i) }, () => { ran++; });
    withLabels({ request: "late" }, () => burn(50));
    disable();
    fs.closeSync(fd);
    setImmediate(() => { out.warnings = warnings; out.ran = ran; console.log(JSON.stringify(out)); });
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", program], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out["empty key"], "RangeError: withLabels: a label key must not be empty");
  assert.equal(out["number value"], 'TypeError: withLabels: label "route" must be a string, got number');
  assert.equal(out.null, "TypeError: withLabels: labels must be an object of string values, got null");
  assert.equal(out.array, "TypeError: withLabels: labels must be an object of string values, got an array");
  assert.equal(out["huge value"], 'RangeError: withLabels: label "route" is longer than 1024 bytes');
  assert.match(out["huge key"], /^RangeError: withLabels: label "k{40}" is longer than 1024 bytes$/);
  assert.equal(out["too many"], "RangeError: withLabels: at most 64 labels, got 65");
  assert.equal(out.notFunction, "TypeError: withLabels: the second argument must be a function");
  assert.deepEqual(out.nested, { route: "/a", tenant: "t1" });
  assert.deepEqual(out.outside, {});
  assert.equal(out.ran, 100010);
  assert.equal(out.warnings, 1);
  const p = readProfileSync(file);
  assert.equal(p.truncation, undefined);
  // Only the sets that samples carried are in the profile: the burn's, not the 100,000 empty ones.
  const sets = p.labelSets.map((s) => s.map(([k, v]) => `${k}=${v}`).join(","));
  assert.ok(sets.includes("route=/a,tenant=t1"), sets.join("; "));
  const labelled = [...p.samples.labels].filter((l) => l !== 0 && sets[l - 1] === "route=/a,tenant=t1").length;
  assert.ok(labelled >= 100, `${labelled} samples labelled route=/a,tenant=t1`);
  assert.ok(!sets.includes("request=late"), "a set past the registry's limit is not recorded");
});

test("findExport (and resolveExport) find what require.resolve finds (a path or a conditions entry), and nothing where the walk cannot decide", async () => {
  const { findExport, resolveExport } = (await import("../src/addon.cjs")).default;
  const here = path.dirname(fileURLToPath(import.meta.url));
  const req = createRequire(import.meta.url);
  assert.equal(findExport(here, "@vmprof/format", "./meta"), req.resolve("@vmprof/format/meta")); // {types, default}
  assert.equal(findExport(here, "@vmprof/native", "./preload"), req.resolve("@vmprof/native/preload")); // a plain path
  assert.equal(findExport(here, "@vmprof/no-such-package", "./x"), undefined);
  assert.equal(findExport(here, "@vmprof/format", "./no-such-entry"), undefined);
  // resolveExport: the walk, else require.resolve, which says why when there is nothing.
  assert.equal(resolveExport(here, "@vmprof/format", "./meta"), req.resolve("@vmprof/format/meta"));
  assert.throws(() => resolveExport(here, "@vmprof/format", "./no-such-entry"), /ERR_PACKAGE_PATH_NOT_EXPORTED|not exported/);
  // A package nearer to the caller wins, as in Node's resolver; nested conditions are left to it.
  const pkg = path.join(dir, "app", "node_modules", "@vmprof", "format");
  fs.mkdirSync(path.join(pkg, "lib"), { recursive: true });
  fs.writeFileSync(path.join(pkg, "lib", "meta.cjs"), "");
  fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ exports: { "./meta": { import: "./lib/meta.mjs", require: "./lib/meta.cjs" }, "./deep": { node: { require: "./lib/meta.cjs" } } } }));
  const from = path.join(dir, "app", "src");
  fs.mkdirSync(from, { recursive: true });
  assert.equal(findExport(from, "@vmprof/format", "./meta"), fs.realpathSync(path.join(pkg, "lib", "meta.cjs")));
  assert.equal(createRequire(path.join(from, "x.js")).resolve("@vmprof/format/meta"), fs.realpathSync(path.join(pkg, "lib", "meta.cjs")));
  assert.equal(findExport(from, "@vmprof/format", "./deep"), undefined);
});
