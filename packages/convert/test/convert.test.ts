/**
 * vmprof-convert run as a user runs it, its output fed to the real consumers: `go tool pprof`, the
 * speedscope viewer and the SVG in headless Chromium, speedscope's JSON schema, and vmprof-report.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { before, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { Readable } from "node:stream";
import { aggregate, dumpProfile, forEachPath, functionInfo, readProfileSync, type Profile } from "@vmprof/format";
import { IMPORTERS, INPUT_FORMATS, foldedFrame, readAnyProfile } from "../src/index.js";
import { APP, CONVERT, RECORD, REPORT, WORKLOAD, chromium, convert, node, tempDir, tool } from "./helpers.js";

const dir = tempDir();
const LIVE = path.join(dir, "live.prof");
const at = (name: string) => path.join(dir, name);
const APP_PPROF = at("app.pb.gz");

before(() => {
  const r = node(RECORD, ["-o", LIVE, "--", process.execPath, WORKLOAD, "30"]);
  assert.equal(r.status, 0, r.stderr);
  const c = convert(["-o", APP_PPROF, APP]);
  assert.equal(c.status, 0, c.stderr);
});

/** Every (thread name, function path, state) of a profile with its sample count and CPU µs: what a round trip must keep. */
function stacksOf(p: Profile): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const t of p.threads) {
    const sel = { tids: [t.tid], pids: [p.processes[t.process - 1].pid] };
    const counts = aggregate(p, { weight: "samples", selection: sel });
    const cpu = aggregate(p, { weight: "cpu", selection: sel });
    const add = (agg: typeof counts, k: 0 | 1) =>
      forEachPath(agg, (path, w) => {
        if (w === 0) return;
        const names: string[] = [];
        for (let i = 0; i < path.length; i++) {
          const f = functionInfo(p, path[i]);
          names.push(`${f.name}@${f.file}:${f.line}`);
        }
        const key = `${t.name}|${names.join(";")}`;
        const v = out.get(key) ?? [0, 0];
        v[k] += w;
        out.set(key, v);
      });
    add(counts, 0);
    add(cpu, 1);
  }
  return out;
}

function flat(file: string, extra: string[] = []) {
  const r = node(REPORT, ["--flat", "--json", ...extra, file]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { functions: { name: string; file: string; selfPercent: number; totalPercent: number; selfWeight: number; totalWeight: number }[] };
}

test("go tool pprof reads our pprof, and its top functions agree with vmprof-report --flat", () => {
  for (const input of [LIVE, APP]) {
    const out = at(`${path.basename(input)}.pb.gz`);
    const r = convert(["-o", out, input]);
    assert.equal(r.status, 0, r.stderr);
    const g = tool("go", ["tool", "pprof", "-top", "-nodecount=15", out]);
    assert.equal(g.status, 0, g.stderr);
    // Rows: flat flat% sum% cum cum% name
    const rows = new Map<string, { flat: number; cum: number }>();
    for (const line of g.stdout.split("\n")) {
      const m = /^\s*\S+\s+([\d.]+)%\s+[\d.]+%\s+\S+\s+([\d.]+)%\s+(.+)$/.exec(line);
      if (m) rows.set(m[3].trim(), { flat: Number(m[1]), cum: Number(m[2]) });
    }
    // pprof -top merges functions of the same name; compare the names that are unique.
    const all = flat(input, ["--limit", "1000"]).functions;
    const ours = all.filter((f) => f.selfPercent > 1 && all.filter((g) => g.name === f.name).length === 1).slice(0, 6);
    assert.ok(ours.length >= 3, `few functions in ${input}`);
    for (const f of ours) {
      const row = rows.get(f.name);
      assert.ok(row, `${f.name} missing from go tool pprof -top of ${input}:\n${g.stdout}`);
      assert.ok(Math.abs(row.flat - f.selfPercent) < 0.06, `${f.name}: pprof flat ${row.flat}% vs report self ${f.selfPercent}%`);
      assert.ok(Math.abs(row.cum - f.totalPercent) < 0.06, `${f.name}: pprof cum ${row.cum}% vs report total ${f.totalPercent}%`);
    }
    // Labels carry pid, thread id and thread name.
    const tags = tool("go", ["tool", "pprof", "-tags", out]);
    assert.match(tags.stdout, /thread name:/);
    assert.match(tags.stdout, /pid:/);
  }
  const t = tool("go", ["tool", "pprof", "-raw", APP_PPROF]).stdout;
  assert.match(t, /PeriodType: cpu nanoseconds/);
  assert.match(t, /Period: 1000000/);
  assert.match(t, /samples\/count cpu\/nanoseconds\[dflt\] wall\/nanoseconds/);
});

test("ours -> pprof -> ours keeps every thread's stacks, counts and CPU time", () => {
  for (const input of [LIVE, APP]) {
    const pb = at(`rt-${path.basename(input)}.pb.gz`);
    const back = at(`rt-${path.basename(input)}.prof`);
    assert.equal(convert(["-o", pb, input]).status, 0);
    const r = convert(["-o", back, pb]);
    assert.equal(r.status, 0, r.stderr);
    const a = readProfileSync(input);
    const b = readProfileSync(back);
    assert.deepEqual(stacksOf(b), stacksOf(a));
    assert.equal(b.samples.count, a.samples.count);
    assert.deepEqual(
      b.processes.map((p) => p.pid),
      a.processes.map((p) => p.pid),
    );
  }
});

test("speedscope output validates against the schema in the speedscope package", async () => {
  const require = createRequire(import.meta.url);
  const schema = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve("speedscope/package.json")), "dist/release/file-format-schema.json"), "utf8"));
  const { default: Ajv } = (await import("ajv")) as unknown as { default: new (o: object) => { compile(s: object): ((d: unknown) => boolean) & { errors?: unknown } } };
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  for (const input of [LIVE, APP]) {
    const r = convert(["--to", "speedscope", input]);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.ok(validate(doc), JSON.stringify(validate.errors));
    const p = readProfileSync(input);
    assert.equal(doc.profiles.length, p.threads.length);
    const names = doc.shared.frames.map((f: { name: string }) => f.name);
    assert.equal(new Set(doc.shared.frames.map((f: object) => JSON.stringify(f))).size, names.length, "frames are deduplicated");
    for (const prof of doc.profiles) assert.equal(prof.samples.length, prof.weights.length);
    // Weights are CPU µs for a cpu-mode recording, summing to the profile's CPU time.
    const cpu = p.samples.cpu.reduce((x, y) => x + y, 0);
    const sum = doc.profiles.reduce((n: number, pr: { weights: number[] }) => n + pr.weights.reduce((x, y) => x + y, 0), 0);
    assert.equal(sum, cpu);
    assert.equal(doc.profiles[0].unit, "microseconds");
  }
  const app = JSON.parse(convert(["--to", "speedscope", APP]).stdout);
  const tokenize = app.shared.frames.find((f: { name: string }) => f.name === "tokenize");
  assert.deepEqual(tokenize, { name: "tokenize", file: "/srv/app/lib/parse.js", line: 40, col: 1 });
  assert.ok(app.profiles.some((p: { name: string }) => p.name === "worker 1 (pid 100, tid 102)"), app.profiles.map((p: { name: string }) => p.name).join());
});

test("--open serves speedscope's bundled viewer on loopback, and it shows our frame names in headless Chromium", async () => {
  const child = spawn(process.execPath, [CONVERT, "--open", APP], { env: { ...process.env, VMPROF_NO_BROWSER: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(out.split("\n")[0]);
    });
    child.once("exit", (code) => reject(new Error(`--open exited ${code}: ${stderr}`)));
  });
  try {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/index\.html#profileURL=/);
    const dom = chromium(["--dump-dom", `${url}&view=sandwich`]);
    assert.equal(dom.status, 0, dom.stderr);
    for (const name of ["tokenize", "handle", "escape", "render"]) assert.ok(dom.stdout.includes(`>${name}<`), `${name} not shown:\n${dom.stdout.slice(0, 3000)}`);
    // The hostile name is text in the viewer's table, never an element.
    assert.ok(dom.stdout.includes("&lt;img src=x onerror=alert(1)&gt;"));
    assert.ok(!/<img src="?x/.test(dom.stdout));
    const shot = at("viewer.png");
    chromium([`--screenshot=${shot}`, `${url}&view=sandwich`]);
    assert.ok(fs.statSync(shot).size > 20_000);
  } finally {
    child.kill("SIGTERM");
    const code = await new Promise((r) => child.once("exit", r));
    assert.equal(code, 0, stderr);
  }
  assert.match(stderr, /serving on 127\.0\.0\.1/);
});

/** Self time per function (name, url, line) as Chrome DevTools counts a .cpuprofile: each sample owns the time to the next. */
function devtoolsSelf(cp: { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }) {
  const byId = new Map(cp.nodes.map((n) => [n.id, n]));
  const stamps: number[] = [];
  let t = cp.startTime;
  for (const d of cp.timeDeltas) stamps.push((t += Math.max(0, d)));
  const self = new Map<string, number>();
  for (let i = 0; i < cp.samples.length; i++) {
    const next = i + 1 < stamps.length ? stamps[i + 1] : Math.max(cp.endTime, stamps[i]);
    const f = byId.get(cp.samples[i])!.callFrame;
    const key = f.functionName || "(anonymous)";
    self.set(key, (self.get(key) ?? 0) + next - stamps[i]);
  }
  return self;
}

test("a node --cpu-prof profile, imported and reported, agrees with its own totals; cpuprofile -> ours -> cpuprofile keeps it", () => {
  const r = tool(process.execPath, ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-name", "w.cpuprofile", WORKLOAD, "25"]);
  assert.equal(r.status, 0, r.stderr);
  const file = at("w.cpuprofile");
  const cp = JSON.parse(fs.readFileSync(file, "utf8"));
  const want = devtoolsSelf(cp);
  const total = [...want.values()].reduce((a, b) => a + b, 0);
  // vmprof-report reads the .cpuprofile through the convert package (content detection, no conversion step).
  const view = flat(file, ["--weight", "wall", "--limit", "1000"]);
  const got = new Map<string, number>();
  for (const f of view.functions) {
    const name = f.name === "(other)" ? "(program)" : f.name;
    got.set(name, (got.get(name) ?? 0) + f.selfWeight);
  }
  const top = [...want].sort((a, b) => b[1] - a[1]).slice(0, 6);
  for (const [name, us] of top) assert.ok(Math.abs((got.get(name) ?? 0) - us) <= 1 + total * 1e-6, `${name}: report ${got.get(name)} µs, .cpuprofile ${us} µs`);
  const sum = view.functions.reduce((a, f) => a + f.selfWeight, 0);
  assert.ok(Math.abs(sum - total) <= 1 + cp.samples.length, `report total ${sum} µs vs .cpuprofile ${total} µs`);

  // Round trip: the same stacks at the same times.
  assert.equal(convert(["-o", at("w.prof"), file]).status, 0);
  const back = convert(["--to", "cpuprofile", at("w.prof")]);
  assert.equal(back.status, 0, back.stderr);
  const cp2 = JSON.parse(back.stdout);
  // The importer clamps V8's occasional negative deltas (its samples are dated by two clocks).
  assert.deepEqual(
    cp2.timeDeltas,
    cp.timeDeltas.map((d: number) => Math.max(0, d)),
  );
  assert.equal(cp2.endTime - cp2.startTime, cp.endTime - cp.startTime);
  const pathOf = (p: typeof cp, id: number) => {
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const byId = new Map(p.nodes.map((n: { id: number }) => [n.id, n]));
    const out: string[] = [];
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const f = (byId.get(x) as { callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }).callFrame;
      out.push(`${f.functionName}@${f.url}:${f.lineNumber}:${f.columnNumber}`);
    }
    return out.reverse().join(";");
  };
  assert.deepEqual(
    cp2.samples.map((id: number) => pathOf(cp2, id)),
    cp.samples.map((id: number) => pathOf(cp, id)),
  );
  const hits = (p: typeof cp) => p.nodes.reduce((a: number, n: { hitCount: number }) => a + n.hitCount, 0);
  assert.equal(hits(cp2), cp2.samples.length);
});

test("the SVG flame graph renders in Chromium, zooms and searches, and a hostile name is text", () => {
  const svg = at("flame.svg");
  const r = convert(["-o", svg, APP]);
  assert.equal(r.status, 0, r.stderr);
  const text = fs.readFileSync(svg, "utf8");
  assert.ok(!/https?:\/\/(?!www\.w3\.org)/.test(text), "no external resources");
  const dom = chromium(["--dump-dom", `file://${svg}`]);
  assert.equal(dom.status, 0, dom.stderr);
  assert.ok(dom.stdout.includes("&lt;img src=x onerror=alert(1)&gt;"));
  assert.ok(!/<img[\s>]/.test(dom.stdout), "no img element");
  // The script laid out and labelled the frames: the widest show their names.
  for (const name of ["main", "handle", "tokenize"]) assert.ok(new RegExp(`<text [^>]*>${name}</text>`).test(dom.stdout), `${name} not drawn`);
  for (const label of ["JS interpreted", "JS compiled", "Node internals", "native / builtin", "GC / idle / VM state"]) assert.ok(dom.stdout.includes(label));
  const shot = at("flame.png");
  chromium([`--screenshot=${shot}`, `file://${svg}`]);
  assert.ok(fs.statSync(shot).size > 10_000);
  // Click to zoom and search, in a page that embeds the SVG and reports what it sees.
  const page = at("zoom.html");
  fs.writeFileSync(
    page,
    `<!doctype html><body><object id="o" data="flame.svg" type="image/svg+xml"></object><pre id="out"></pre><script>
document.getElementById("o").addEventListener("load", () => {
  const d = document.getElementById("o").contentDocument;
  const frame = [...d.querySelectorAll(".f")].find((g) => g.querySelector("desc").textContent === "render");
  frame.dispatchEvent(new MouseEvent("click"));
  const width = frame.querySelector("rect").getAttribute("width");
  const hidden = [...d.querySelectorAll(".f")].filter((g) => g.style.display === "none").length;
  const input = d.getElementById("search");
  input.value = "^escape$";
  input.dispatchEvent(new Event("input"));
  document.getElementById("out").textContent = JSON.stringify({ width, hidden, matched: d.getElementById("matched").textContent, marks: d.querySelectorAll(".match").length });
});
</script></body>`,
  );
  const z = chromium(["--allow-file-access-from-files", "--dump-dom", `file://${page}`]);
  const m = /<pre id="out">(.*?)<\/pre>/.exec(z.stdout);
  assert.ok(m && m[1] !== "", z.stdout.slice(0, 2000));
  const seen = JSON.parse(m[1].replace(/&quot;/g, '"'));
  assert.ok(Number(seen.width) > 1100, `zoomed frame is ${seen.width} px wide`);
  assert.ok(seen.hidden > 0);
  assert.equal(seen.marks, 1);
  assert.match(seen.matched, /^Matched: 12\.26%$/);
});

test("ours -> speedscope -> ours keeps every thread's stacks in order (runs of one path merged), with the chosen weight as wall time", () => {
  for (const weight of ["cpu", "wall"]) {
    const json = at(`rt-${weight}.speedscope.json`);
    assert.equal(convert(["-o", json, "--weight", weight, APP]).status, 0);
    const back = at(`rt-${weight}.prof`);
    const r = convert(["-o", back, json]);
    assert.equal(r.status, 0, r.stderr);
    const a = readProfileSync(APP);
    const b = readProfileSync(back);
    assert.deepEqual(
      b.threads.map((t) => [t.name, t.tid, b.processes[t.process - 1].pid]),
      a.threads.map((t) => [t.name, t.tid, a.processes[t.process - 1].pid]),
    );
    // Per thread, the sequence of (path, weight) of the samples that weigh something.
    const seq = (p: Profile, col: (p: Profile) => Uint32Array) => {
      const out: Record<string, string[]> = {};
      for (let i = 0; i < p.samples.count; i++) {
        const w = col(p)[i];
        if (w === 0) continue;
        const names: string[] = [];
        for (let s = p.samples.stack[i]; s !== 0; s = p.stacks.parent[s]) names.unshift(functionInfo(p, p.frames[p.stacks.frame[s] - 1].function).name);
        const t = p.threads[p.samples.thread[i] - 1];
        (out[`${t.name} ${t.tid}`] ??= []).push(`${names.join(";")}|${p.samples.state[i]}|${w}`);
      }
      return out;
    };
    // The export merges consecutive samples of one path into one sample of their summed weight.
    const merged = (byThread: Record<string, string[]>) => {
      const out: Record<string, string[]> = {};
      for (const [t, xs] of Object.entries(byThread)) {
        const runs: [string, number][] = [];
        for (const x of xs) {
          const cut = x.lastIndexOf("|");
          const [path, w] = [x.slice(0, cut), Number(x.slice(cut + 1))];
          if (runs.length > 0 && runs[runs.length - 1][0] === path) runs[runs.length - 1][1] += w;
          else runs.push([path, w]);
        }
        out[t] = runs.map(([path, w]) => `${path}|${w}`);
      }
      return out;
    };
    const exported = seq(b, (p) => p.samples.wall);
    assert.deepEqual(exported, merged(seq(a, (p) => (weight === "cpu" ? p.samples.cpu : p.samples.wall))));
    assert.deepEqual(merged(exported), exported, "no two neighbouring samples of the export share a path");
  }
});

test("collapsed stacks: safe names, and collapsed -> ours -> collapsed is unchanged", () => {
  const r = convert(["--to", "collapsed", "--weight", "samples", APP]);
  assert.equal(r.status, 0, r.stderr);
  for (const line of r.stdout.trimEnd().split("\n")) assert.match(line, /^[^\n]+ \d+$/);
  assert.match(r.stdout, /^main \(\/srv\/app\/server\.js:1:1\);processTicksAndRejections \(node:internal\/process\/task_queues:95:1\);handle \(\/srv\/app\/server\.js:20:1\);render \(\/srv\/app\/lib\/render\.js:7:1\);escape \(\/srv\/app\/node_modules\/he\/he\.js:120:1\) 140$/m);
  const total = r.stdout.trimEnd().split("\n").reduce((a, l) => a + Number(l.split(" ").pop()), 0);
  assert.equal(total, readProfileSync(APP).samples.count);
  fs.writeFileSync(at("a.collapsed"), r.stdout);
  assert.equal(convert(["-o", at("a.prof"), at("a.collapsed")]).status, 0);
  const again = convert(["--to", "collapsed", at("a.prof")]);
  assert.equal(again.stdout, r.stdout);
  // Names with ";", a line break or a trailing number stay one frame each.
  assert.equal(foldedFrame({ id: 1, kind: 0, name: "a;b\nc 12", file: "", line: 0, column: 0 }), "a:b c_12");
  assert.equal(foldedFrame({ id: 1, kind: 0, name: "f", file: "/x (y).js", line: 3, column: 4 }), "f (/x _y_.js:3:4)");
});

test("formats come from the content, not the name; stdin to stdout works", () => {
  fs.copyFileSync(APP_PPROF, at("looks-like.json"));
  const r = node(REPORT, ["--top", "--limit", "3", at("looks-like.json")]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /main/);
  // Plain (not gzipped) pprof, our format gzipped, speedscope, all from stdin.
  const plain = Buffer.from(gunzipSync(fs.readFileSync(APP_PPROF)));
  for (const input of [plain, gzipSync(fs.readFileSync(APP)), Buffer.from(convert(["--to", "speedscope", APP]).stdout)]) {
    const c = convert(["--to", "collapsed", "--weight", "samples"], { input });
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /tokenize/);
  }
  // The output format from -o's name.
  for (const [name, check] of [
    ["x.speedscope.json", (b: Buffer) => b.toString().startsWith('{"$schema"')],
    ["x.cpuprofile", (b: Buffer) => b.toString().startsWith('{"nodes"')],
    ["x.pb.gz", (b: Buffer) => b[0] === 0x1f && b[1] === 0x8b],
    ["x.folded", (b: Buffer) => / \d+\n$/.test(b.toString())],
    ["x.svg", (b: Buffer) => b.toString().startsWith("<?xml")],
    ["x.prof", (b: Buffer) => b.subarray(1, 7).toString() === "VMPROF"],
  ] as const) {
    const c = convert(["-o", at(name), ...(name.endsWith(".cpuprofile") ? ["--tid", "100"] : []), APP]);
    assert.equal(c.status, 0, `${name}: ${c.stderr}`);
    assert.ok(check(fs.readFileSync(at(name))), name);
  }
});

test("bad input and impossible outputs: one line naming the file, exit 2, and no output file touched", () => {
  const out = at("kept.speedscope.json");
  const keep = "an earlier, good output\n";
  const garbage = at("garbage.bin");
  fs.writeFileSync(garbage, Buffer.from([0x00, 0x13, 0x37, 0xff, 0x10, 0x20]));
  const corruptPprof = at("corrupt.pb.gz");
  const good = fs.readFileSync(APP_PPROF);
  fs.writeFileSync(corruptPprof, gzipSync(Buffer.concat([gunzipSync(good).subarray(0, 300), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f])])));
  const badRefs = at("bad.cpuprofile");
  fs.writeFileSync(badRefs, JSON.stringify({ nodes: [{ id: 1, callFrame: { functionName: "(root)", url: "", scriptId: "0", lineNumber: -1, columnNumber: -1 }, children: [7] }], startTime: 0, endTime: 10, samples: [1], timeDeltas: [1] }));
  const badSample = at("bad2.cpuprofile");
  fs.writeFileSync(badSample, JSON.stringify({ nodes: [{ id: 1, callFrame: { functionName: "(root)", url: "", scriptId: "0", lineNumber: -1, columnNumber: -1 } }], startTime: 0, endTime: 10, samples: [1, 9], timeDeltas: [1, 1] }));
  // Values the model cannot hold exactly are refused, never wrapped (issue 19: a 1e16 µs delta read as 4294.97 s).
  const root = { id: 1, callFrame: { functionName: "(root)", url: "", scriptId: "0", lineNumber: -1, columnNumber: -1 }, children: [2] };
  const f = { id: 2, callFrame: { functionName: "f", url: "a.js", scriptId: "1", lineNumber: 0, columnNumber: 0 } };
  const hugeTime = at("huge-time.cpuprofile");
  fs.writeFileSync(hugeTime, JSON.stringify({ nodes: [root, f], startTime: 0, endTime: 1, samples: [2, 2], timeDeltas: [0, 1e16] }));
  const hugeWeight = at("huge-weight.cpuprofile");
  fs.writeFileSync(hugeWeight, JSON.stringify({ nodes: [root, f], startTime: 0, endTime: 1, samples: [2, 2], timeDeltas: [0, 5e9] }));
  const cases: [string[], RegExp][] = [
    [["-o", out, hugeTime], /huge-time\.cpuprofile: cpuprofile: a sample's time of 10000000000000000 µs is past what a profile holds/],
    [["-o", out, hugeWeight], /huge-weight\.cpuprofile: cpuprofile: a sample's weight of 5000000000 µs is more than one sample can hold/],
    [["-o", out, garbage], /garbage\.bin: unknown format/],
    [["-o", out, "--source-maps", at("no-such-dir"), APP], /--source-maps: .*no-such-dir: no such directory/],
    [["-o", out, corruptPprof], /corrupt\.pb\.gz: corrupt pprof/],
    [["-o", out, badRefs], /bad\.cpuprofile: bad \.cpuprofile: node 1 has child 7, which is not defined/],
    [["-o", out, badSample], /bad2\.cpuprofile: bad \.cpuprofile: sample 1 refers to node 9, which is not defined/],
    [["-o", at("kept.cpuprofile"), "--pid", "100", APP], /a \.cpuprofile holds one thread, and the selection has 2: main \(pid 100, tid 100\), worker 1 \(pid 100, tid 102\); choose one with --tid/],
    [["-o", out, "--tid", "999", APP], /thread id 999 is not in .*app\.prof/],
    [["-o", out, at("missing.prof")], /missing\.prof: no such file/],
    [["-o", at("x.json"), APP], /cannot tell the output format from the name "x\.json"/],
    [[APP], /no output format: say --to/],
    [["-o", out, "--focus", "(", APP], /--focus: "\(" is not a valid regular expression/],
    [["-o", out, "--label", "route", APP], /--label: expected key=value, got "route"/],
    [["--to", "vmprof", "-o", at("kept.prof"), "--tid", "100", APP], /--to vmprof writes the whole profile/],
  ];
  for (const [args, message] of cases) {
    for (const f of [out, at("kept.cpuprofile"), at("kept.prof")]) fs.writeFileSync(f, keep);
    const r = convert(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^vmprof-convert: /);
    assert.match(lines[0], message);
    for (const f of [out, at("kept.cpuprofile"), at("kept.prof")]) assert.equal(fs.readFileSync(f, "utf8"), keep, `${f} changed by ${args.join(" ")}`);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")),
      [],
    );
  }
  const empty = convert(["--to", "pprof", "-o", out], { input: "" });
  assert.equal(empty.status, 2);
  assert.match(empty.stderr, /<stdin>: empty input/);
});

test("a reader that stops early (| head) ends the command quietly with status 0", () => {
  // Outputs of about 1 MB, far past a pipe's buffer, so the writes do meet the closed pipe.
  const wide = at("wide.collapsed");
  fs.writeFileSync(wide, Array.from({ length: 20_000 }, (_, i) => `main;handler${i % 50};function_number_${i} ${1 + (i % 7)}\n`).join(""));
  for (const cmd of [`"${process.execPath}" "${CONVERT}" --to collapsed "${wide}"`, `"${process.execPath}" "${REPORT}" --tree --min-percent 0 "${wide}"`]) {
    assert.ok(tool("bash", ["-c", `${cmd} | wc -c`]).stdout.trim().length >= 6, "the output is over 100 kB");
    const r = tool("bash", ["-c", `${cmd} 2>err.txt | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"; cat err.txt`], { cwd: dir });
    assert.equal(r.stdout, "0\n", cmd);
  }
});

test("the one read path: a path, bytes and a stream, gzipped or not, read the same profile, and every importer is asked", async () => {
  const bytes = fs.readFileSync(APP);
  const want = dumpProfile(readProfileSync(APP));
  const gz = at("one.prof.gz");
  fs.writeFileSync(gz, gzipSync(bytes));
  const chunks = (b: Uint8Array) => Readable.from(Array.from({ length: Math.ceil(b.length / 97) }, (_, i) => Buffer.from(b.subarray(i * 97, i * 97 + 97))));
  for (const input of [APP, gz, bytes, gzipSync(bytes), chunks(bytes), chunks(gzipSync(bytes))]) {
    const r = await readAnyProfile(input, { source: APP });
    assert.equal(r.format, "vmprof");
    assert.equal(dumpProfile(r.profile), want);
  }
  // Each foreign format is claimed by its own importer, and only by it.
  assert.deepEqual(IMPORTERS.map((i) => i.format).sort(), [...INPUT_FORMATS].sort());
  const speedscope = Buffer.from(convert(["--to", "speedscope", APP]).stdout);
  const collapsed = Buffer.from(convert(["--to", "collapsed", APP]).stdout);
  const pprof = fs.readFileSync(APP_PPROF);
  for (const [b, format] of [[speedscope, "speedscope"], [collapsed, "collapsed"], [pprof, "pprof"], [gunzipSync(pprof), "pprof"]] as const) {
    assert.equal((await readAnyProfile(b)).format, format);
    assert.equal((await readAnyProfile(chunks(b))).format, format);
  }
  // A truncated gzip of our format keeps what it holds and says where it was cut.
  const cut = gzipSync(bytes).subarray(0, 2000);
  const partial = await readAnyProfile(cut, { source: "cut.prof.gz" });
  assert.ok(partial.profile.truncation, "truncation reported");
  assert.ok(partial.profile.samples.count > 0);
});

test("several inputs, in any formats, are merged into one profile: every thread kept apart, samples summed, functions shared", () => {
  const dir = tempDir();
  const pprof = path.join(dir, "a.pb.gz");
  const collapsed = path.join(dir, "a.collapsed");
  assert.equal(convert(["--to", "pprof", "-o", pprof, APP]).status, 0);
  assert.equal(convert(["--to", "collapsed", "--tid", "100", "-o", collapsed, APP]).status, 0);
  const merged = path.join(dir, "merged.prof");
  const r = convert(["-o", merged, APP, pprof, collapsed]);
  assert.equal(r.status, 0, r.stderr);
  const parts = [APP, pprof, collapsed].map((f) => readAnyProfile(f));
  return Promise.all(parts).then((read) => {
    const m = readProfileSync(merged);
    assert.equal(m.samples.count, read.reduce((n, x) => n + x.profile.samples.count, 0));
    assert.equal(m.threads.length, read.reduce((n, x) => n + x.profile.threads.length, 0));
    // The same function in several inputs of one format is one function of the merge.
    const twice = path.join(dir, "twice.prof");
    assert.equal(convert(["-o", twice, APP, APP]).status, 0);
    assert.equal(readProfileSync(twice).functions.length, read[0].profile.functions.length);
    assert.equal(readProfileSync(twice).samples.count, 2 * read[0].profile.samples.count);
    // The report of the merge counts each input's samples: the top function's total is the sum.
    const top = (p: Profile) => aggregate(p, { weight: "samples" }).total;
    assert.equal(top(m), read.reduce((n, x) => n + top(x.profile), 0));
    // One bad input: one line naming it, exit 2, nothing written.
    const bad = convert(["-o", path.join(dir, "bad.prof"), APP, path.join(dir, "missing.prof")]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /missing\.prof: no such file/);
    assert.equal(fs.existsSync(path.join(dir, "bad.prof")), false);
  });
});

test("-o naming a FIFO or a device writes into it: the node is never replaced by a file (as root, -o /dev/null once made /dev/null a plain file)", async () => {
  const dir = tempDir();
  const fifo = path.join(dir, "out.fifo");
  assert.equal(spawnSyncStatus("mkfifo", [fifo]), 0);
  const reader = new Promise<number>((resolve) => {
    let n = 0;
    const s = fs.createReadStream(fifo);
    s.on("data", (d) => (n += d.length));
    s.on("end", () => resolve(n));
  });
  // Asynchronously: the command's open of the FIFO waits for our reader.
  const c = spawn(process.execPath, [CONVERT, "--to", "collapsed", "-o", fifo, APP], { stdio: "ignore" });
  assert.equal(await new Promise((resolve) => c.once("exit", resolve)), 0);
  assert.ok((await reader) > 100);
  assert.ok(fs.statSync(fifo).isFIFO(), "the FIFO was replaced");
  assert.deepEqual(fs.readdirSync(dir), ["out.fifo"], "a temporary file was left");
});

function spawnSyncStatus(cmd: string, args: string[]): number | null {
  return spawnSync(cmd, args).status;
}

test("--order merged: one speedscope sample per distinct stack, the same totals; auto merges only past its limit and says so; --order is for speedscope only", async () => {
  const timeOrder = JSON.parse(convert(["--to", "speedscope", APP]).stdout);
  const r = convert(["--to", "speedscope", "--order", "merged", APP]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  const merged = JSON.parse(r.stdout);
  // The same frames and threads; per thread, each distinct path once, its weight the sum of its samples.
  assert.deepEqual(merged.shared, timeOrder.shared);
  assert.deepEqual(merged.profiles.map((p: { name: string }) => p.name), timeOrder.profiles.map((p: { name: string }) => p.name));
  const sums = (prof: { samples: number[][]; weights: number[] }) => {
    const m = new Map<string, number>();
    prof.samples.forEach((s, i) => m.set(s.join(","), (m.get(s.join(",")) ?? 0) + prof.weights[i]));
    return m;
  };
  for (let k = 0; k < merged.profiles.length; k++) {
    const a = sums(timeOrder.profiles[k]);
    const b = sums(merged.profiles[k]);
    assert.deepEqual([...b].sort(), [...a].sort());
    assert.equal(merged.profiles[k].samples.length, a.size, "one sample per distinct path");
    assert.equal(merged.profiles[k].endValue, timeOrder.profiles[k].endValue);
  }
  assert.ok(merged.profiles[0].samples.length < timeOrder.profiles[0].samples.length);
  // Through speedscope's own importer and ours, the function totals are unchanged.
  const back = (json: string) => {
    const f = at(`order-${json.length}.speedscope.json`);
    fs.writeFileSync(f, json);
    const out = at(`order-${json.length}.prof`);
    assert.equal(convert(["-o", out, f]).status, 0);
    return JSON.parse(node(REPORT, ["--flat", "--json", "--weight", "wall", out]).stdout).functions.map((x: { name: string; selfPercent: number }) => `${x.name} ${x.selfPercent.toFixed(6)}`).sort();
  };
  assert.deepEqual(back(r.stdout), back(JSON.stringify(timeOrder)));
  // auto: the same output as merged once time order would pass the limit, with one note.
  const { toSpeedscope } = await import("../src/export/speedscope.js");
  const p = readProfileSync(APP);
  const notes: string[] = [];
  const small = [...toSpeedscope(p, { timeOrderLimit: 1000, onNote: (m) => notes.push(m) })].map((c) => (typeof c === "string" ? c : Buffer.from(c).toString())).join("");
  assert.deepEqual(JSON.parse(small), merged);
  assert.equal(notes.length, 1);
  assert.match(notes[0], /^the samples in time order would take [\d.]+ MiB, more than speedscope's viewer opens: they are merged by stack instead \(every view but Time Order is the same; --order time keeps time order\)$/);
  const big = [...toSpeedscope(p, { onNote: (m) => notes.push(m) })].map((c) => (typeof c === "string" ? c : Buffer.from(c).toString())).join("");
  assert.deepEqual(JSON.parse(big), timeOrder);
  assert.equal(notes.length, 1);
  // Bad use: one line, exit 2, nothing written.
  const bad = convert(["--to", "pprof", "--order", "merged", "-o", at("order.pb.gz"), APP]);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, "vmprof-convert: --order is for --to speedscope; pprof has no sample order to choose\n");
  assert.ok(!fs.existsSync(at("order.pb.gz")));
  const unknown = convert(["--to", "speedscope", "--order", "random", APP]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /order/);
});
