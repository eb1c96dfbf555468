/**
 * `vmprof-convert --to svg --diff BASE PROFILE`, the differential flame graph, run as a user runs it:
 * a profile against itself (a real recording: nothing changed, and vmprof-report --diff agrees), two
 * synthetic profiles where one function grew and one shrank (base and new in different formats), the
 * SVG parsed and rendered by headless Chromium, and the bad inputs.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, test } from "node:test";
import { APP, REPORT, chromium, convert, node, tempDir } from "./helpers.js";

const dir = tempDir();
const at = (name: string) => path.join(dir, name);
/** 100 samples each: `grow` goes from 10% to 50%, `shrink` from 50% to 10%, `same` stays at 40%. */
const BASE_COLLAPSED = "main;grow 10\nmain;shrink 50\nmain;same 40\n";
const NEW_COLLAPSED = "main;grow 50\nmain;shrink 10\nmain;same 40\n";
const BASE_PPROF = at("base.pb.gz");
const NEW = at("new.collapsed");

before(() => {
  fs.writeFileSync(at("base.collapsed"), BASE_COLLAPSED);
  fs.writeFileSync(NEW, NEW_COLLAPSED);
  // The base goes in as pprof: BASE and PROFILE may be any format the read path accepts.
  const r = convert(["-o", BASE_PPROF, at("base.collapsed")]);
  assert.equal(r.status, 0, r.stderr);
});

/** The frames of an SVG: class, label, share change and hover title. */
function frames(svg: string): { cls: string; label: string; delta: number; base: number; width: number; title: string }[] {
  const out = [];
  for (const m of svg.matchAll(/<g class="f (\w+)" data-x="[^"]*" data-w="([^"]*)" data-d="[^"]*" data-base="([^"]*)" data-delta="([^"]*)"><title>([^<]*)<\/title>.*?<desc>([^<]*)<\/desc><\/g>/g)) {
    out.push({ cls: m[1], width: Number(m[2]), base: Number(m[3]), delta: Number(m[4]), title: m[5], label: m[6] });
  }
  return out;
}

/** Loads `svg` in Chromium inside a page that reports, per frame label, the fill it was drawn with, and whether the XML parsed. */
function rendered(svg: string): { parsed: boolean; fills: Record<string, string>; legend: string } {
  const name = path.basename(svg);
  const page = at(`${name}.html`);
  fs.writeFileSync(
    page,
    `<!doctype html><body><object id="o" data="${name}" type="image/svg+xml"></object><pre id="out"></pre><script>
document.getElementById("o").addEventListener("load", () => {
  const d = document.getElementById("o").contentDocument;
  const fills = {};
  for (const g of d.querySelectorAll(".f")) fills[g.querySelector("desc").textContent] = getComputedStyle(g.querySelector("rect")).fill;
  const legend = [...d.querySelectorAll(".legend text")].map((t) => t.textContent).join(" | ");
  document.getElementById("out").textContent = JSON.stringify({ parsed: !d.querySelector("parsererror") && d.documentElement.localName === "svg", fills, legend });
});
</script></body>`,
  );
  const r = chromium(["--allow-file-access-from-files", "--dump-dom", `file://${page}`]);
  const m = /<pre id="out">(.*?)<\/pre>/s.exec(r.stdout);
  assert.ok(m && m[1] !== "", r.stdout.slice(0, 2000));
  return JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">"));
}

test("--diff of a real recording with itself: every frame neutral grey, and vmprof-report --diff's table all zero", () => {
  const svg = at("self.svg");
  const r = convert(["--to", "svg", "-o", svg, "--diff", APP, APP]);
  assert.equal(r.status, 0, r.stderr);
  const text = fs.readFileSync(svg, "utf8");
  const fs_ = frames(text);
  assert.ok(fs_.length > 20, `only ${fs_.length} frames`);
  for (const f of fs_) {
    assert.equal(f.cls, "same", `${f.label}: ${f.title}`);
    assert.equal(f.delta, 0, f.title);
    assert.ok(Math.abs(f.base - f.width) < 1e-12, f.title);
  }
  assert.ok(!text.includes('class="f grew"') && !text.includes('class="f shrank"'));
  const table = node(REPORT, ["--diff", APP, "--json", APP]);
  assert.equal(table.status, 0, table.stderr);
  const v = JSON.parse(table.stdout) as { functions: { deltaTotal: number; deltaSelf: number; totalPercent: number }[] };
  assert.ok(v.functions.length > 10);
  assert.ok(v.functions.some((f) => f.totalPercent > 10));
  for (const f of v.functions) {
    assert.equal(f.deltaTotal, 0);
    assert.equal(f.deltaSelf, 0);
  }
  const seen = rendered(svg);
  assert.ok(seen.parsed);
  assert.ok(Object.keys(seen.fills).length > 10);
  for (const [label, fill] of Object.entries(seen.fills)) assert.equal(fill, "rgb(221, 221, 221)", label);
});

test("--diff where one function grew and one shrank: widths from the new profile, the grown one red, the shrunk one blue, both shares on hover", () => {
  const r = convert(["--to", "svg", "--diff", BASE_PPROF, NEW]);
  assert.equal(r.status, 0, r.stderr);
  const byLabel = new Map(frames(r.stdout).map((f) => [f.label, f]));
  assert.deepEqual([...byLabel.keys()].sort(), ["grow", "main", "same", "shrink"]);
  const grow = byLabel.get("grow")!;
  const shrink = byLabel.get("shrink")!;
  assert.equal(grow.cls, "grew");
  assert.equal(grow.width, 0.5);
  assert.ok(Math.abs(grow.delta - 40) < 1e-9);
  assert.match(grow.title, /^grow: 50\.00% \(base 10\.00%, \+40\.00 points\)/);
  assert.equal(shrink.cls, "shrank");
  assert.equal(shrink.width, 0.1);
  assert.match(shrink.title, /^shrink: 10\.00% \(base 50\.00%, -40\.00 points\)/);
  assert.equal(byLabel.get("same")!.cls, "same");
  assert.equal(byLabel.get("main")!.cls, "same");
  assert.match(r.stdout, /<text id="title"[^>]*>Differential flame graph: new\.collapsed against base\.pb\.gz<\/text>/);
  // The same function table as vmprof-report --diff.
  const table = node(REPORT, ["--diff", BASE_PPROF, "--json", NEW]);
  assert.equal(table.status, 0, table.stderr);
  const rows = (JSON.parse(table.stdout) as { functions: { name: string; deltaTotal: number }[] }).functions;
  assert.deepEqual(
    rows.map((f) => [f.name, Math.round(f.deltaTotal)]),
    [
      ["grow", 40],
      ["shrink", -40],
      ["main", 0],
      ["same", 0],
    ],
  );
  // Chromium parses and draws it: red, blue and grey, with the legend saying what they mean.
  const svg = at("grew.svg");
  fs.writeFileSync(svg, r.stdout);
  const seen = rendered(svg);
  assert.ok(seen.parsed);
  assert.equal(seen.fills.grow, "rgb(214, 39, 40)");
  assert.equal(seen.fills.shrink, "rgb(31, 100, 200)");
  assert.equal(seen.fills.same, "rgb(221, 221, 221)");
  assert.match(seen.legend, /red: share grew .* \| blue: share shrank .* \| grey: unchanged/);
  const shot = at("grew.png");
  chromium([`--screenshot=${shot}`, `file://${svg}`]);
  assert.ok(fs.statSync(shot).size > 5_000);
});

test("--diff: a smaller change is drawn paler than a larger one of the same sign", () => {
  const base = at("small-base.collapsed");
  const now = at("small-new.collapsed");
  fs.writeFileSync(base, "main;a 10\nmain;b 10\nmain;c 80\n");
  fs.writeFileSync(now, "main;a 12\nmain;b 40\nmain;c 48\n");
  const r = convert(["--to", "svg", "--diff", base, now]);
  assert.equal(r.status, 0, r.stderr);
  const fill = (label: string) => new RegExp(`<g class="f grew"[^>]*><title>${label}:[^<]*</title><rect [^>]*fill="rgb\\((\\d+),(\\d+),(\\d+)\\)"`).exec(r.stdout)!.slice(1).map(Number);
  const [, ga, ba] = fill("a");
  const [, gb, bb] = fill("b");
  // Both red; the 2-point growth of a is nearer the neutral grey (221) than the 30-point growth of b.
  assert.ok(ga > gb && ga < 221, `a: ${ga}, b: ${gb}`);
  assert.ok(ba > bb && ba < 221, `a: ${ba}, b: ${bb}`);
});

test("--diff bad input: a missing or unreadable BASE, or a format other than svg, is one line and exit 2, with nothing written", () => {
  const missing = at("missing.prof");
  const out = at("never.svg");
  const r = convert(["--to", "svg", "-o", out, "--diff", missing, NEW]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `vmprof-convert: --diff: ${missing}: no such file\n`);
  assert.ok(!fs.existsSync(out));
  const junk = at("junk.txt");
  fs.writeFileSync(junk, "\x00\x01 not a profile");
  const u = convert(["--to", "svg", "--diff", junk, NEW]);
  assert.equal(u.status, 2);
  assert.match(u.stderr, new RegExp(`^vmprof-convert: --diff: ${junk.replace(/[.]/g, "\\.")}: unknown format [^\\n]*\\n$`));
  assert.equal(u.stdout, "");
  for (const args of [["--to", "pprof"], ["-o", at("x.speedscope.json")]]) {
    const w = convert([...args, "--diff", BASE_PPROF, NEW]);
    assert.equal(w.status, 2, w.stderr);
    assert.match(w.stderr, /^vmprof-convert: --diff draws a differential flame graph: it needs --to svg, not (pprof|speedscope)\n$/);
    assert.equal(w.stdout, "");
  }
  assert.ok(!fs.existsSync(at("x.speedscope.json")));
});
