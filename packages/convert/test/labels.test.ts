/**
 * Labels in vmprof-convert: --label KEY=VALUE selects samples for every exporter (the selection flags
 * vmprof-report shares); pprof carries each sample's labels, judged by `go tool pprof`, and reads
 * them back. On the report package's labels.prof (made by its fixtures/make.ts: profile
 * label env=prod; process 200 with route=/a (85 samples, 20 also tenant=t1), route=/b (30) and 10
 * without a route; process 201 with the process label route=/batch, 25).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { Function as PFunction, Label, Line, Location, Profile as PProfile, Sample, StringTable, ValueType } from "pprof-format";
import { ProfileWriter, SampleLabels, SamplePaths, VmState, functionInfo, memorySink, readProfileSync, type Profile } from "@vmprof/format";
import { APP, REPORT, convert, node, tempDir, tool } from "./helpers.js";

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

const dir = tempDir();

/**
 * One thread running `work` (one stack) under route=/a 3 times, route=/b twice (one of them with
 * 2000 µs of CPU) and with no labels once; the profile label env=prod is every sample's too.
 */
function sameStackProfile(): string {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  w.meta({ mode: "cpu", period_us: 1000, start_time: 1_700_000_000_000_000, "label.env": "prod" });
  const T = w.addThread({ process: w.addProcess({ pid: 7, name: "w.js" }), tid: 7, name: "main" });
  const st = w.stack([w.frame(w.addFunction({ name: "main", file: "/w.js", line: 1 })), w.frame(w.addFunction({ name: "work", file: "/w.js", line: 5 }))]);
  const a = w.labelSet([["route", "/a"]]);
  const b = w.labelSet([["route", "/b"]]);
  [a, b, 0, a, b, a].forEach((l, i) => w.sample(T, 1000 * (i + 1), 1000, i === 4 ? 2000 : 1000, VmState.JS, st, l));
  w.end();
  const file = path.join(dir, "same-stack.prof");
  fs.writeFileSync(file, sink.bytes());
  return file;
}

/**
 * pprof's samples as "labels|locations -> [count, cpu ns]", labels "k=v" sorted (the thread's left
 * out); no two samples may have the same labels, thread and locations (pprof would sum them anyway).
 */
function pprofSamples(pb: string): Map<string, number[]> {
  const pp = PProfile.decode(gunzipSync(fs.readFileSync(pb)));
  const s = pp.stringTable.strings;
  const out = new Map<string, number[]>();
  const seen = new Set<string>();
  for (const x of pp.sample) {
    const all = x.label.map((l) => `${s[Number(l.key)]}=${Number(l.str) !== 0 ? s[Number(l.str)] : Number(l.num)}`).sort();
    const key = `${all.filter((t) => !/^(pid|thread id|thread name)=/.test(t)).join(",")}|${x.locationId.join(",")}`;
    const full = `${all.join(",")}|${x.locationId.join(",")}`;
    assert.ok(!seen.has(full), `two pprof samples with ${full}`);
    seen.add(full);
    out.set(key, [Number(x.value[0]) + (out.get(key)?.[0] ?? 0), Number(x.value[1]) + (out.get(key)?.[1] ?? 0)]);
  }
  return out;
}

test("pprof: a sample's labels are pprof string labels; samples with other labels stay other pprof samples", () => {
  const pb = path.join(dir, "same-stack.pb.gz");
  const r = convert(["-o", pb, sameStackProfile()]);
  assert.equal(r.status, 0, r.stderr);
  // One stack (main;work), three pprof samples.
  const samples = pprofSamples(pb);
  assert.equal(new Set([...samples.keys()].map((k) => k.split("|")[1])).size, 1);
  assert.deepEqual(
    new Map([...samples].map(([k, v]) => [k.split("|")[0], v])),
    new Map([
      ["env=prod,route=/a", [3, 3_000_000]],
      ["env=prod,route=/b", [2, 3_000_000]],
      ["env=prod", [1, 1_000_000]],
    ]),
  );
  // app.prof has no label sets: its samples carry the thread labels and the profile label build=42.
  const app = path.join(dir, "app.pb.gz");
  assert.equal(convert(["-o", app, APP]).status, 0);
  const appSamples = [...pprofSamples(app).keys()];
  assert.ok(appSamples.length > 10 && appSamples.every((k) => k.startsWith("build=42|")), appSamples.join(" "));
});

test("go tool pprof: -tags counts each label's samples, -tagfocus keeps only the samples with the label", () => {
  const pb = path.join(dir, "labels.pb.gz");
  const r = convert(["-o", pb, LABELS]);
  assert.equal(r.status, 0, r.stderr);
  const tags = tool("go", ["tool", "pprof", "-sample_index=samples", "-tags", pb]);
  assert.equal(tags.status, 0, tags.stderr);
  // " route: Total 140.0" then one line per value: "  85.0 (60.71%): /a".
  const tagCounts = (key: string) => {
    const block = new RegExp(`^ ${key}: Total ([\\d.]+)\\n((?:\\s+[\\d.]+ \\(.*\\): .*\\n)+)`, "m").exec(tags.stdout);
    assert.ok(block, `${key} missing from go tool pprof -tags:\n${tags.stdout}`);
    return { total: Number(block[1]), values: Object.fromEntries([...block[2].matchAll(/^\s+([\d.]+) \(.*\): (.*)$/gm)].map((m) => [m[2], Number(m[1])])) };
  };
  assert.deepEqual(tagCounts("route"), { total: 140, values: { "/a": 85, "/b": 30, "/batch": 25 } });
  assert.deepEqual(tagCounts("tenant"), { total: 20, values: { t1: 20 } });
  assert.deepEqual(tagCounts("env"), { total: 150, values: { prod: 150 } });
  // -tagfocus=route=^/a$ -top: /a's functions, with /a's counts, and nothing of /b, /batch or the unlabelled ticks.
  const top = (focus: string) => {
    const g = tool("go", ["tool", "pprof", "-sample_index=samples", `-tagfocus=${focus}`, "-top", pb]);
    assert.equal(g.status, 0, g.stderr);
    const rows = new Map<string, { flat: number; cum: number }>();
    for (const line of g.stdout.split("\n")) {
      const m = /^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(.+)$/.exec(line);
      if (m) rows.set(m[3].trim(), { flat: Number(m[1]), cum: Number(m[2]) });
    }
    return rows;
  };
  const a = top("route=^/a$");
  assert.deepEqual([...a.keys()].sort(), ["(garbage collector)", "cache", "getA", "query", "serve"]);
  assert.deepEqual(a.get("query"), { flat: 60, cum: 60 });
  assert.deepEqual(a.get("serve"), { flat: 0, cum: 85 });
  const b = top("route=^/b$");
  assert.deepEqual([...b.keys()].sort(), ["getB", "page", "serve"]);
  assert.deepEqual(b.get("page"), { flat: 30, cum: 30 });
  // The same numbers as vmprof-report --label gives.
  const report = node(REPORT, ["--json", "--weight", "samples", "--label", "route=/a", LABELS]);
  const v = JSON.parse(report.stdout) as { functions: { name: string; totalSamples: number; selfSamples: number }[] };
  for (const f of v.functions) assert.deepEqual(a.get(f.name), { flat: f.selfSamples, cum: f.totalSamples }, f.name);
});

/** Per (thread, path of names, labels) of a profile: sample count and CPU µs. */
function labelledStacks(p: Profile): Map<string, [number, number]> {
  const labels = new SampleLabels(p);
  const paths = new SamplePaths(p);
  const out = new Map<string, [number, number]>();
  for (let i = 0; i < p.samples.count; i++) {
    const t = p.threads[p.samples.thread[i] - 1];
    const names = [...paths.functions(p.samples.stack[i], p.samples.state[i])].map((f) => functionInfo(p, f).name);
    const key = `${p.processes[t.process - 1].pid}/${t.tid}|${names.join(";")}|${[...labels.of(i)].sort().join(",")}`;
    const v = out.get(key) ?? [0, 0];
    v[0]++;
    v[1] += p.samples.cpu[i];
    out.set(key, v);
  }
  return out;
}

test("ours -> pprof -> ours keeps each sample's labels (as label sets), with its stack and weights", () => {
  for (const input of [LABELS, sameStackProfile()]) {
    const pb = path.join(dir, `rt-${path.basename(input)}.pb.gz`);
    const back = path.join(dir, `rt-${path.basename(input)}`);
    assert.equal(convert(["-o", pb, input]).status, 0);
    const r = convert(["-o", back, pb]);
    assert.equal(r.status, 0, r.stderr);
    const a = readProfileSync(input);
    const b = readProfileSync(back);
    assert.deepEqual(labelledStacks(b), labelledStacks(a));
    assert.ok(labelledStacks(a).size > 1);
  }
  // Read back, the labels select as before.
  const back = path.join(dir, "rt-labels.prof");
  assert.deepEqual(collapsed(["--label", "route=/b", back]), collapsed(["--label", "route=/b", LABELS]));
});

test("pprof import: string labels other than the thread's become the label set; the first value of a repeated key wins", () => {
  const strings = new StringTable();
  const str = (x: string) => strings.dedup(x);
  const fn = new PFunction({ id: 1, name: str("f"), filename: str("/f.js") });
  const label = (key: string, value: string | number) => new Label(typeof value === "number" ? { key: str(key), num: value } : { key: str(key), str: str(value) });
  const sample = (labels: Label[]) => new Sample({ locationId: [1], value: [1], label: labels });
  const pp = new PProfile({
    sampleType: [new ValueType({ type: str("samples"), unit: str("count") })],
    sample: [
      // Ours: thread labels, then the sample's; "thread" is a label here, as "thread name" names the thread.
      sample([label("pid", 3), label("thread id", 4), label("thread name", "main"), label("thread", "pool-1"), label("route", "/a")]),
      // @datadog/pprof's spellings; a numeric label and a repeated key.
      sample([label("thread_id", 5), label("thread", "worker"), label("span id", 99), label("route", "/b"), label("route", "/c")]),
      sample([label("pid", 3), label("thread id", 4), label("thread name", "main")]),
    ],
    location: [new Location({ id: 1, line: [new Line({ functionId: 1, line: 2 })] })],
    function: [fn],
    stringTable: strings,
  });
  const file = path.join(dir, "hand.pb.gz");
  fs.writeFileSync(file, gzipSync(pp.encode()));
  const back = path.join(dir, "hand.prof");
  const r = convert(["-o", back, file]);
  assert.equal(r.status, 0, r.stderr);
  const p = readProfileSync(back);
  const who = Array.from({ length: p.samples.count }, (_, i) => {
    const t = p.threads[p.samples.thread[i] - 1];
    return [t.tid, t.name, p.samples.labels[i] === 0 ? [] : p.labelSets[p.samples.labels[i] - 1]];
  });
  assert.deepEqual(
    who.sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
    [
      [4, "main", [["route", "/a"], ["thread", "pool-1"]]],
      [4, "main", []],
      [5, "worker", [["route", "/b"]]],
    ],
  );
});
