/**
 * Labels in vmprof-convert: --label KEY=VALUE selects samples for every exporter (the selection flags
 * vmprof-report shares). On the report package's labels.prof (made by its fixtures/make.ts: profile
 * label env=prod; process 200 with route=/a (85 samples, 20 also tenant=t1), route=/b (30) and 10
 * without a route; process 201 with the process label route=/batch, 25).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { APP, convert } from "./helpers.js";

const LABELS = path.resolve(path.dirname(APP), "labels.prof");

/** The collapsed stacks of a conversion: "a;b;c" (names only) -> weight. */
function collapsed(args: string[]): Map<string, number> {
  const r = convert(["--to", "collapsed", ...args]);
  assert.equal(r.status, 0, r.stderr);
  const out = new Map<string, number>();
  for (const line of r.stdout.split("\n")) {
    if (line === "") continue;
    const at = line.lastIndexOf(" ");
    const names = line.slice(0, at).split(";").map((f) => f.replace(/ \(.*\)$/, ""));
    out.set(names.join(";"), Number(line.slice(at + 1)));
  }
  return out;
}

test("--label selects what every exporter writes: own, process and profile labels; all given must match", () => {
  assert.deepEqual(collapsed(["--label", "route=/b", LABELS]), new Map([["serve;getB;page", 45_000]]));
  assert.deepEqual(collapsed(["--label", "route=/a", "--label", "tenant=t1", LABELS]), new Map([["serve;getA;cache", 20_000]]));
  assert.deepEqual(collapsed(["--label", "route=/batch", LABELS]), new Map([["batch;compress", 25_000]]));
  assert.equal([...collapsed(["--label", "env=prod", LABELS]).values()].reduce((a, b) => a + b), 165_000);
  // speedscope too: one profile per thread with selected samples.
  const doc = JSON.parse(convert(["--to", "speedscope", "--label", "route=/batch", LABELS]).stdout) as { profiles: { name: string }[] };
  assert.deepEqual(doc.profiles.map((p) => p.name), ["main (pid 201, tid 201)"]);
});

test("--label that no sample has: an empty selection, exit 0, as an empty time range", () => {
  for (const to of ["collapsed", "speedscope"]) {
    const none = convert(["--to", to, "--label", "route=/nowhere", LABELS]);
    const late = convert(["--to", to, "--start", "100", LABELS]);
    assert.equal(none.status, 0, none.stderr);
    assert.equal(none.stderr, "");
    assert.equal(none.stdout, late.stdout, to);
  }
});

test("a malformed --label: one line, exit 2, the same message as vmprof-report's", () => {
  for (const bad of ["route", "=x", ""]) {
    const r = convert(["--to", "collapsed", "--label", bad, APP]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `vmprof-convert: --label: expected key=value, got "${bad}"\n`);
  }
  const whole = convert(["--to", "vmprof", "--label", "route=/a", APP]);
  assert.equal(whole.status, 2);
  assert.match(whole.stderr, /--to vmprof writes the whole profile/);
});
