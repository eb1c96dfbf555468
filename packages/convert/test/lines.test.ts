/**
 * Exports carry lines (issue 14): a profile whose frames say which line they were executing, written
 * by ProfileWriter, converted by the real vmprof-convert and read by the real consumers (go tool
 * pprof -list, speedscope's viewer in Chromium), and read back by our importers.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { before, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { Profile as PProfile } from "pprof-format";
import { ProfileWriter, Tier, VmState, fileSink, functionInfo, readProfileSync, type Profile } from "@vmprof/format";
import { viewerDir } from "../src/index.js";
import { chromiumAsync, convert, tempDir, tool } from "./helpers.js";

const dir = tempDir();
const at = (name: string) => path.join(dir, name);
const PROF = at("lines.prof");
/** The program the profile says ran: real source, so `go tool pprof -list` prints it. */
const WORK = at("work.js");
const SOURCE = `// work.js
function helper(x) {
  return x * 2;
}
function work(n) {
  let s = 0;
  for (let i = 0; i < n; i++) {
    s += Math.sqrt(i);
    s += helper(i);
  }
  return s;
}
function main() {
  work(1e6);
  work(10);
}
`;
/** Samples per (main's call site, work's line, helper's line or 0, tier of work, state). The hot line is work.js:8. */
const SAMPLES: [number, number, number, Tier, VmState, number][] = [
  [14, 8, 0, Tier.INTERPRETED, VmState.JS, 40],
  [14, 8, 0, Tier.OPTIMIZED, VmState.JS, 30],
  [14, 7, 0, Tier.OPTIMIZED, VmState.JS, 20],
  [14, 9, 3, Tier.OPTIMIZED, VmState.JS, 10],
  [15, 8, 0, Tier.INTERPRETED, VmState.JS, 5],
  [14, 7, 0, Tier.OPTIMIZED, VmState.GC, 3],
];

before(() => {
  fs.writeFileSync(WORK, SOURCE);
  const w = new ProfileWriter(fileSink(PROF));
  w.meta({ mode: "cpu", period_us: 1000, start_time: 1_700_000_000_000_000 });
  const thread = w.addThread({ process: w.addProcess({ pid: 7 }), tid: 7, name: "main" });
  const main = w.addFunction({ name: "main", file: WORK, line: 13, column: 1 });
  const work = w.addFunction({ name: "work", file: WORK, line: 5, column: 1 });
  const helper = w.addFunction({ name: "helper", file: WORK, line: 2, column: 1 });
  let t = 0;
  for (const [call, line, inner, tier, state, n] of SAMPLES) {
    const frames = [w.frame(main, Tier.INTERPRETED, call, 3), w.frame(work, tier, line, line === 8 ? 10 : 5)];
    if (inner !== 0) frames.push(w.frame(helper, Tier.OPTIMIZED, inner, 3));
    const stack = w.stack(frames);
    for (let k = 0; k < n; k++) w.sample(thread, (t += 1000), 1000, 1000, state, stack);
  }
  w.end();
});

/** Samples per path of "name:line:column" frames (tiers dropped) and state: what a format with lines must keep. */
function lineStacks(p: Profile): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < p.samples.count; i++) {
    const parts: string[] = [];
    for (let s = p.samples.stack[i]; s !== 0; s = p.stacks.parent[s]) {
      const fr = p.frames[p.stacks.frame[s] - 1];
      parts.unshift(`${functionInfo(p, fr.function).name}:${fr.line}:${fr.column}`);
    }
    const key = `${parts.join(";")}|${p.samples.state[i]}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/** Samples per (function name, leaf line): the self samples of each line. */
function leafLines(p: Profile): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < p.samples.count; i++) {
    if (p.samples.state[i] !== VmState.JS || p.samples.stack[i] === 0) continue;
    const fr = p.frames[p.stacks.frame[p.samples.stack[i]] - 1];
    const key = `${functionInfo(p, fr.function).name}:${fr.line}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

test("pprof: go tool pprof -list shows the hot line with the largest count; Function.startLine is the function's start", () => {
  const pb = at("lines.pb.gz");
  const r = convert(["-o", pb, PROF]);
  assert.equal(r.status, 0, r.stderr);
  const g = tool("go", ["tool", "pprof", "-list", "^work$", "-sample_index=samples", pb]);
  assert.equal(g.status, 0, g.stderr);
  // Rows: flat cum LINE: source (flat and cum are "." when zero).
  const rows = new Map<number, { flat: number; cum: number; text: string }>();
  for (const line of g.stdout.split("\n")) {
    const m = /^\s+(\S+)\s+(\S+)\s+(\d+):(.*)$/.exec(line);
    if (m) rows.set(Number(m[3]), { flat: m[1] === "." ? 0 : Number(m[1]), cum: m[2] === "." ? 0 : Number(m[2]), text: m[4] });
  }
  assert.deepEqual(rows.get(8), { flat: 75, cum: 75, text: "    s += Math.sqrt(i);" }, g.stdout);
  assert.deepEqual(rows.get(7), { flat: 20, cum: 23, text: "  for (let i = 0; i < n; i++) {" }, g.stdout);
  assert.deepEqual(rows.get(9), { flat: 0, cum: 10, text: "    s += helper(i);" }, g.stdout);
  const hottest = [...rows].sort((a, b) => b[1].flat - a[1].flat)[0];
  assert.equal(hottest[0], 8);
  // The call sites of main, as go tool pprof -lines names them.
  const lines = tool("go", ["tool", "pprof", "-top", "-lines", "-cum", "-sample_index=samples", pb]).stdout;
  assert.match(lines, /\s103\s+95\.37%\s+main \S*work\.js:14\n/);
  assert.match(lines, /\s5\s+[\d.]+%\s+main \S*work\.js:15\n/);
  // One Location per (function, line, column) sampled, each with one Line; functions start where they start.
  const pp = PProfile.decode(gunzipSync(fs.readFileSync(pb)));
  const strings = pp.stringTable.strings;
  const starts = Object.fromEntries(pp.function.map((f) => [strings[Number(f.name)], Number(f.startLine)]));
  assert.equal(starts.work, 5);
  assert.equal(starts.main, 13);
  const locs = pp.location.map((l) => {
    assert.equal(l.line.length, 1);
    const f = pp.function.find((x) => x.id === l.line[0].functionId)!;
    return `${strings[Number(f.name)]}:${l.line[0].line}:${l.line[0].column}`;
  });
  assert.deepEqual(locs.sort(), ["(garbage collector):0:0", "helper:3:3", "main:14:3", "main:15:3", "work:7:5", "work:8:10", "work:9:5"]);
});

test("ours -> pprof -> ours keeps each frame's line and column", () => {
  const back = at("lines-pprof.prof");
  assert.equal(convert(["-o", at("rt.pb.gz"), PROF]).status, 0);
  const r = convert(["-o", back, at("rt.pb.gz")]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(lineStacks(readProfileSync(back)), lineStacks(readProfileSync(PROF)));
});

test(".cpuprofile: positionTicks per node as node --cpu-prof writes them; the importer gives the leaf frames those lines", () => {
  const cpu = at("lines.cpuprofile");
  const r = convert(["-o", cpu, PROF]);
  assert.equal(r.status, 0, r.stderr);
  const cp = JSON.parse(fs.readFileSync(cpu, "utf8"));
  const node = (name: string) => cp.nodes.filter((n: { callFrame: { functionName: string } }) => n.callFrame.functionName === name);
  const [work] = node("work");
  assert.deepEqual(work.callFrame, { functionName: "work", scriptId: "1", url: `file://${WORK}`, lineNumber: 4, columnNumber: 0 });
  assert.equal(work.hitCount, 95);
  assert.deepEqual(work.positionTicks, [
    { line: 7, ticks: 20 },
    { line: 8, ticks: 75 },
  ]);
  assert.deepEqual(node("helper")[0].positionTicks, [{ line: 3, ticks: 10 }]);
  // No self samples, or only a VM state's: no positionTicks, as node --cpu-prof writes it.
  assert.equal(node("main")[0].positionTicks, undefined);
  assert.equal(node("(garbage collector)")[0].positionTicks, undefined);
  // Every node's ticks are its own samples.
  for (const n of cp.nodes) assert.ok((n.positionTicks ?? []).reduce((a: number, t: { ticks: number }) => a + t.ticks, 0) <= n.hitCount);

  // Back to ours: the same samples per function and leaf line; the callers' lines are not in a .cpuprofile.
  const back = at("lines-cpuprofile.prof");
  const b = convert(["-o", back, cpu]);
  assert.equal(b.status, 0, b.stderr);
  assert.deepEqual(leafLines(readProfileSync(back)), leafLines(readProfileSync(PROF)));
  // And out again: the same positionTicks.
  const again = JSON.parse(convert(["--to", "cpuprofile", back]).stdout);
  const ticks = (c: typeof cp) => c.nodes.map((n: { callFrame: { functionName: string }; positionTicks?: unknown }) => [n.callFrame.functionName, n.positionTicks]);
  assert.deepEqual(ticks(again), ticks(cp));
});

test("node --cpu-prof's positionTicks read exactly: each node's samples at each line", () => {
  const prog = at("hot.js");
  fs.writeFileSync(
    prog,
    `function work(n) {\n  let s = 0;\n  for (let i = 0; i < n; i++) {\n    s += Math.sqrt(i) * Math.sin(i);\n  }\n  return s;\n}\nconst t = Date.now();\nlet x = 0;\nwhile (Date.now() - t < 400) x += work(1e5);\nconsole.log(x > 0);\n`,
  );
  const r = tool(process.execPath, ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-name", "hot.cpuprofile", prog]);
  assert.equal(r.status, 0, r.stderr);
  const cp = JSON.parse(fs.readFileSync(at("hot.cpuprofile"), "utf8")) as {
    nodes: { callFrame: { functionName: string; url: string }; positionTicks?: { line: number; ticks: number }[] }[];
  };
  const want = new Map<string, number>();
  for (const n of cp.nodes)
    for (const t of n.positionTicks ?? []) {
      const key = `${n.callFrame.functionName}:${t.line}`;
      want.set(key, (want.get(key) ?? 0) + t.ticks);
    }
  assert.ok((want.get("work:4") ?? 0) > 100, `the hot line has ${want.get("work:4")} ticks`);
  const back = at("hot.prof");
  const c = convert(["--to", "vmprof", "-o", back, at("hot.cpuprofile")]);
  assert.equal(c.status, 0, c.stderr);
  // Samples of nodes without positionTicks (the VM states' parents, (program)) have line 0.
  const got = new Map([...leafLines(readProfileSync(back))].filter(([k]) => !k.endsWith(":0")));
  assert.deepEqual(got, want);
});

test("collapsed --lines: NAME FILE:LINE per frame, read back as lines; the default output is unchanged", () => {
  const r = convert(["--to", "collapsed", "--lines", "--weight", "samples", PROF]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trimEnd().split("\n"), [
    `main ${WORK}:14;work ${WORK}:7 20`,
    `main ${WORK}:14;work ${WORK}:7;(garbage collector) 3`,
    `main ${WORK}:14;work ${WORK}:8 70`,
    `main ${WORK}:14;work ${WORK}:9;helper ${WORK}:3 10`,
    `main ${WORK}:15;work ${WORK}:8 5`,
  ]);
  const plain = convert(["--to", "collapsed", "--weight", "samples", PROF]);
  assert.match(plain.stdout, new RegExp(`^main \\(${WORK}:13:1\\);work \\(${WORK}:5:1\\) 95\\n`, "m"));
  // Round trip: collapsed --lines -> ours -> collapsed --lines is unchanged, and the lines are frame lines.
  fs.writeFileSync(at("l.collapsed"), r.stdout);
  assert.equal(convert(["-o", at("l.prof"), at("l.collapsed")]).status, 0);
  assert.equal(convert(["--to", "collapsed", "--lines", at("l.prof")]).stdout, r.stdout);
  assert.deepEqual(leafLines(readProfileSync(at("l.prof"))), leafLines(readProfileSync(PROF)));
  // Files with spaces, ";" or "%" stay one token and come back as they were.
  const odd = "f /a%20b%3Bc%25d.js:3 2\n";
  fs.writeFileSync(at("odd.collapsed"), odd);
  assert.equal(convert(["-o", at("odd.prof"), at("odd.collapsed")]).status, 0);
  const p = readProfileSync(at("odd.prof"));
  assert.equal(p.functions[0].file, "/a b;c%d.js");
  assert.equal(p.frames[0].line, 3);
  assert.equal(convert(["--to", "collapsed", "--lines", at("odd.prof")]).stdout, odd);
  // --lines is for collapsed stacks only.
  const bad = convert(["--to", "pprof", "--lines", "-o", at("x.pb.gz"), PROF]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--lines is for --to collapsed/);
});

test("speedscope: frames are functions with their file, line and col; the viewer in Chromium shows them", async () => {
  const r = convert(["--to", "speedscope", PROF]);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(doc.shared.frames, [
    { name: "main", file: WORK, line: 13, col: 1 },
    { name: "work", file: WORK, line: 5, col: 1 },
    { name: "helper", file: WORK, line: 2, col: 1 },
    { name: "(garbage collector)" },
  ]);
  // speedscope's viewer loads it, and its .cpuprofile importer loads our .cpuprofile with positionTicks.
  fs.writeFileSync(at("lines.speedscope.json"), r.stdout);
  const viewer = viewerDir();
  const server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).slice(1);
    const file = name.startsWith("p/") ? at(name.slice(2)) : path.join(viewer, name);
    fs.readFile(file, (err, data) => {
      res.writeHead(err ? 404 : 200, { "content-type": name.endsWith(".html") ? "text/html" : name.endsWith(".js") ? "text/javascript" : "application/octet-stream" });
      res.end(err ? "" : data);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  try {
    for (const file of ["lines.speedscope.json", "lines.cpuprofile"]) {
      const dom = await chromiumAsync(["--dump-dom", `http://127.0.0.1:${port}/index.html#profileURL=${encodeURIComponent(`http://127.0.0.1:${port}/p/${file}`)}&view=sandwich`]);
      for (const name of ["main", "work", "helper"]) assert.ok(dom.includes(`>${name}<`), `${file}: ${name} not shown:\n${dom.slice(0, 2000)}`);
    }
  } finally {
    server.close();
  }
});
