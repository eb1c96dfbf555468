/**
 * Comparing two stored profiles, as a user does: profiles uploaded through the real HTTP API of a
 * real server process, /api/compare's JSON, and the /compare page and /api/compare.svg loaded in
 * headless Chromium under the server's Content-Security-Policy (no console errors, the table has
 * rows, the differential flame graph is there), a profile against itself, and bad ids.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { APP, chromium, startServer, tempDir, type Running } from "./helpers.js";

const dir = tempDir();
let srv: Running;
/** 100 samples each: `grow` goes from 10% to 50%, `shrink` from 50% to 10%, `same` stays at 40%. */
const BASE = "main;grow 10\nmain;shrink 50\nmain;same 40\n";
const NEW = "main;grow 50\nmain;shrink 10\nmain;same 40\n";
const ids: Record<"base" | "new" | "app", string> = { base: "", new: "", app: "" };

async function upload(name: string, body: Uint8Array | string): Promise<string> {
  const r = await fetch(new URL(`/api/profiles?name=${name}`, srv.url), { method: "POST", body, headers: { "content-type": "application/octet-stream" } });
  const text = await r.text();
  assert.equal(r.status, 201, text);
  return JSON.parse(text).id as string;
}
async function get(pathname: string) {
  const r = await fetch(new URL(pathname, srv.url));
  const text = await r.text();
  return { status: r.status, text, type: r.headers.get("content-type") ?? "", csp: r.headers.get("content-security-policy") ?? "", json: () => JSON.parse(text) };
}

/** Chromium's DOM of `url` and the console messages the page logged (CSP violations among them). */
function load(url: string): { dom: string; console: string[] } {
  const r = chromium(["--enable-logging=stderr", "--v=0", "--dump-dom", url]);
  assert.equal(r.status, 0, r.stderr);
  return { dom: r.stdout, console: r.stderr.split("\n").filter((l) => l.includes(":CONSOLE")) };
}

interface Change {
  name: string;
  baseTotalPercent: number;
  totalPercent: number;
  deltaTotal: number;
  deltaSelf: number;
}

before(async () => {
  srv = await startServer(["--db", path.join(dir, "compare.db")]);
  ids.base = await upload("base", BASE);
  ids.new = await upload("new", NEW);
  ids.app = await upload("app", fs.readFileSync(APP));
});
after(async () => {
  await srv?.stop();
});

test("GET /api/compare: the change per function between two uploads, as vmprof-report --diff computes it", async () => {
  const r = await get(`/api/compare?base=${ids.base}&other=${ids.new}`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.type, /^application\/json/);
  const c = r.json() as { base: { id: string; name: string; samples: number }; other: { id: string }; weight: string; functions: Change[] };
  assert.deepEqual(c.base, { id: ids.base, name: "base", samples: 100 });
  assert.equal(c.other.id, ids.new);
  assert.equal(c.weight, "samples");
  assert.deepEqual(
    c.functions.map((f) => [f.name, f.baseTotalPercent, f.totalPercent, f.deltaTotal]),
    [
      ["grow", 10, 50, 40],
      ["shrink", 50, 10, -40],
      ["main", 100, 100, 0],
      ["same", 40, 40, 0],
    ],
  );
});

test("GET /compare renders in Chromium under the page CSP: no console errors, the table's rows, the differential flame graph red and blue", async () => {
  const raw = await get(`/compare?base=${ids.base}&other=${ids.new}`);
  assert.equal(raw.status, 200, raw.text);
  assert.match(raw.csp, /script-src 'self'/);
  assert.ok(!/<script/i.test(raw.text), "the page holds no script (the CSP forbids inline ones)");
  const { dom, console } = load(`${srv.url}compare?base=${ids.base}&other=${ids.new}`);
  assert.deepEqual(console, []);
  const rows = [...dom.matchAll(/<tr class="(\w+)"><td>([^<]*)<\/td><td[^>]*>[^<]*<\/td><td class="num">([^<]*)<\/td><td class="num">([^<]*)<\/td><td class="num change">([^<]*)<\/td>/g)].map((m) => m.slice(1));
  assert.deepEqual(rows, [
    ["grew", "grow", "10.0%", "50.0%", "+40.0"],
    ["shrank", "shrink", "50.0%", "10.0%", "−40.0"],
    ["same", "main", "100.0%", "100.0%", "0.0"],
    ["same", "same", "40.0%", "40.0%", "0.0"],
  ]);
  const flame = dom.slice(dom.indexOf('<div id="flame">'));
  assert.match(flame, /^<div id="flame"><svg /);
  const frame = (label: string) => new RegExp(`<g class="f (\\w+)"[^>]*><title>([^<]*)</title><rect [^>]*fill="([^"]+)"[^>]*>(?:</rect>)?(?:<text[^>]*>[^<]*</text>)?<desc>${label}</desc>`).exec(flame)?.slice(1);
  assert.equal(frame("grow")?.[0], "grew");
  assert.equal(frame("grow")?.[2], "rgb(214,39,40)");
  assert.match(frame("grow")![1], /^grow: 50\.00% \(base 10\.00%, \+40\.00 points\)/);
  assert.equal(frame("shrink")?.[0], "shrank");
  assert.equal(frame("shrink")?.[2], "rgb(31,100,200)");
  assert.equal(frame("same")?.[0], "same");
  assert.ok(flame.includes("red: share grew") && flame.includes("blue: share shrank"));
  const shot = path.join(dir, "compare.png");
  chromium([`--screenshot=${shot}`, `${srv.url}compare?base=${ids.base}&other=${ids.new}`]);
  assert.ok(fs.statSync(shot).size > 10_000);
});

test("GET /api/compare.svg: the interactive differential SVG renders in Chromium, its script laying out the frames", async () => {
  const r = await get(`/api/compare.svg?base=${ids.base}&other=${ids.new}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.type, "image/svg+xml");
  assert.ok(r.text.includes("<script>"), "the download keeps zoom and search");
  const { dom, console } = load(`${srv.url}api/compare.svg?base=${ids.base}&other=${ids.new}`);
  assert.deepEqual(console, []);
  assert.ok(!dom.includes("parsererror"));
  assert.match(dom, /<text id="title"[^>]*>Differential flame graph: new against base<\/text>/);
  for (const name of ["grow", "shrink", "same"]) assert.ok(new RegExp(`<text [^>]*>${name}</text>`).test(dom), `${name} not drawn`);
});

test("compare of a profile with itself (a real recording): no change in the JSON, the page or the flame graph", async () => {
  const r = await get(`/api/compare?base=${ids.app}&other=${ids.app}`);
  assert.equal(r.status, 200, r.text);
  const fns = (r.json() as { functions: Change[] }).functions;
  assert.ok(fns.length > 10 && fns.some((f) => f.totalPercent > 10));
  for (const f of fns) {
    assert.equal(f.deltaTotal, 0, f.name);
    assert.equal(f.deltaSelf, 0, f.name);
  }
  const { dom, console } = load(`${srv.url}compare?base=${ids.app}&other=${ids.app}`);
  assert.deepEqual(console, []);
  const rows = [...dom.matchAll(/<tr class="(\w+)">.*?<td class="num change">([^<]*)<\/td>/g)];
  assert.equal(rows.length, fns.length);
  for (const m of rows) assert.deepEqual([m[1], m[2]], ["same", "0.0"]);
  const classes = [...dom.matchAll(/<g class="f (\w+)"/g)].map((m) => m[1]);
  assert.ok(classes.length > 20);
  assert.deepEqual(new Set(classes), new Set(["same"]));
  // A hostile function name in the recording is text on the compare page too.
  assert.ok(dom.includes("&lt;img src=x onerror=alert(1)&gt;"));
  assert.ok(!/<img[\s>]/.test(dom));
});

test("the profile page links to the comparison: a compare-with form naming this profile as the new one", async () => {
  // (speedscope's viewer on that page logs to the console: not ours to judge here.)
  const { dom } = load(`${srv.url}profiles/${ids.new}`);
  const form = /<form id="compare" method="get" action="\/compare">(.*?)<\/form>/s.exec(dom)?.[1];
  assert.ok(form, dom.slice(0, 3000));
  assert.ok(form.includes(`<input type="hidden" name="other" value="${ids.new}">`));
  assert.match(form, /<input name="base" required="" pattern="\[0-9a-f\]\{16\}"/);
});

test("bad ids: malformed or missing is 400, unknown is 404, one JSON line each, on every compare route", async () => {
  for (const route of ["/compare", "/api/compare", "/api/compare.svg"]) {
    const cases: [string, number, string][] = [
      [`base=nothex&other=${ids.new}`, 400, 'base "nothex" is not a profile id (16 hex digits)'],
      [`base=${ids.base}&other=${ids.new.toUpperCase()}`, 400, `other "${ids.new.toUpperCase()}" is not a profile id (16 hex digits)`],
      [`other=${ids.new}`, 400, "base is required: a profile id, or a selection (base.name=, base.label=k=v, base.from=, base.to=)"],
      [`base=${ids.base}`, 400, "other is required: a profile id, or a selection (other.name=, other.label=k=v, other.from=, other.to=)"],
      [`base=0123456789abcdef&other=${ids.new}`, 404, 'no profile with id "0123456789abcdef"'],
      [`base=${ids.base}&other=fedcba9876543210`, 404, 'no profile with id "fedcba9876543210"'],
    ];
    for (const [q, status, message] of cases) {
      const r = await get(`${route}?${q}`);
      assert.equal(r.status, status, `${route}?${q}: ${r.text}`);
      assert.deepEqual(r.json(), { error: message });
      assert.ok(!r.text.includes("\n"));
    }
  }
});
