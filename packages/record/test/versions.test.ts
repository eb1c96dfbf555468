/**
 * Other Node versions: the addon is built for Node 22, 24 and 26 too (scripts/build-abi.cjs, whose
 * Node binaries live in the user's cache); a Node it is not built for is refused with a message, or
 * runs unprofiled when asked.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { BUILD_ABI as buildAbi, fixture, nodeBinary, read, record, share, shares, tempDir } from "./helpers.js";

const dir = tempDir();

for (const major of ["22", "24", "26"]) {
  test(`Node ${major}: calibration shares within 3 points at >= 950 samples per CPU second`, () => {
    const node = nodeBinary(major);
    assert.ok(fs.existsSync(node), `${node} is missing: the native build fetches it (npm run build -w @vmprof/native)`);
    const file = path.join(dir, `cal-${major}.prof`);
    const r = record(["-o", file, "--", node, fixture("calibration.cjs"), "1500"]);
    assert.equal(r.status, 0, r.stderr.toString());
    const p = read(file);
    assert.equal(p.meta.get("node_version"), execFileSync(node, ["-p", "process.version"], { encoding: "utf8" }).trim());
    const s = shares(p);
    const top = share(s, "alpha") + share(s, "beta") + share(s, "gamma");
    for (const [name, want] of [["alpha", 50], ["beta", 30], ["gamma", 20]] as const) {
      const got = (100 * share(s, name)) / top;
      assert.ok(Math.abs(got - want) <= 3, `${name} ${got.toFixed(1)}%`);
    }
    assert.ok(share(s, "spin", "self") > 90, `spin self ${share(s, "spin", "self").toFixed(1)}%`);
    let cpuUs = 0;
    for (let i = 0; i < p.samples.count; i++) cpuUs += p.samples.cpu[i];
    assert.ok(p.samples.count / (cpuUs / 1e6) >= 950);
  });
}

test("a Node the sampler is not built for: exit 2 with the supported versions; --allow-unprofiled runs it", () => {
  execFileSync(process.execPath, [buildAbi, "--fetch-only", "21"], { stdio: "inherit" });
  const node21 = nodeBinary("21");
  const file = path.join(dir, "n21.prof");
  const r = record(["-o", file, "--", node21, "-e", "console.log('ran')"]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout.toString(), "");
  const msg = r.stderr.toString();
  assert.match(msg, /not built for Node v21\.\d+\.\d+ \(ABI 120\)/);
  assert.match(msg, /it is built for .*v20\..*v22\..*v24\..*v26\./s);
  assert.match(msg, /build-abi\.cjs 21/);
  assert.equal(fs.existsSync(file), false);

  const u = record(["--allow-unprofiled", "-o", file, "--", node21, "-e", "console.log('ran')"]);
  assert.equal(u.status, 0, u.stderr.toString());
  assert.equal(u.stdout.toString(), "ran\n");
});

test("a Node the sampler is not built for: withLabels still runs the work, with one warning, and currentLabels still answers", () => {
  execFileSync(process.execPath, [buildAbi, "--fetch-only", "21"], { stdio: "inherit" });
  const api = path.resolve(path.dirname(buildAbi), "../dist/src/index.js");
  const program = `
    import { withLabels, currentLabels } from ${JSON.stringify(api)};
    const a = withLabels({ route: "/a" }, () => currentLabels().route);
    const b = await withLabels({ route: "/b" }, async () => { await new Promise((r) => setTimeout(r, 1)); return currentLabels().route; });
    console.log(a, b, JSON.stringify(currentLabels()));
  `;
  const r = spawnSync(nodeBinary("21"), ["--input-type=module", "-e", program], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "/a /b {}\n");
  const warnings = r.stderr.split("\n").filter((l) => /VmprofWarning/.test(l));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /vmprof: labels are not recorded: the vmprof sampler is not built for Node v21/);
});
