/**
 * vmprof-report --live run as a user runs it: following a real profiler's output (the native sampler
 * in test/fixtures/live-producer.mjs) through a pipe and in a growing file, on a real terminal (tmux),
 * and refusing what it cannot follow.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { ProfileWriter, VmState, memorySink, readProfileSync } from "@vmprof/format";
import type { FlatView, TopView } from "../src/views.js";
import { BIN, expectUsageErrors, fixture, root, run } from "./helpers.js";

const PRODUCER = fixture("live-producer.mjs");
const APP = fixture("app.prof");
const CONVERT = path.resolve(root, "../convert/bin/run.js");
const node = process.execPath;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-live-test-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** One printed view: its "#" header's fields and the text under it. */
interface Printed {
  time: Date;
  source: string;
  samples: number;
  seconds: number;
  rest: string;
  body: string;
}

/** Splits non-terminal --live output at its "# <ISO time> · <source> · N samples · T s ..." lines. */
function views(stdout: string): Printed[] {
  const out: Printed[] = [];
  for (const part of stdout.split(/^(?=# \d{4}-\d\d-\d\dT)/m)) {
    if (part === "") continue;
    const m = /^# (\S+) · (.+?) · (\d+) samples · ([\d.]+) s(.*)\n([\s\S]*)$/.exec(part);
    assert.ok(m, `not a view: ${JSON.stringify(part.slice(0, 200))}`);
    out.push({ time: new Date(m[1]), source: m[2], samples: Number(m[3]), seconds: Number(m[4]), rest: m[5], body: m[6] });
  }
  return out;
}

/** The rows of a --flat text view: name, self samples. */
function flatRows(body: string): { name: string; selfSamples: number }[] {
  return body
    .split("\n")
    .map((l) => /^\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+(\S+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[2], selfSamples: Number(m[1]) }));
}

/** The whole profile read by the ordinary report, for comparison. */
function whole(file: string): FlatView {
  const r = run(["--flat", "--json", file]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as FlatView;
}

function checkGrowingViews(printed: Printed[], file: string): void {
  assert.ok(printed.length >= 3, `expected a view per second and the final one, got ${printed.length}`);
  for (let i = 1; i < printed.length; i++) {
    assert.ok(printed[i].samples >= printed[i - 1].samples, "samples never go back");
    assert.ok(printed[i].time.getTime() > printed[i - 1].time.getTime(), "views are printed over time");
  }
  assert.ok(printed[0].samples < printed[printed.length - 1].samples, "the profile grew between views");
  for (const v of printed.slice(0, -1)) assert.doesNotMatch(v.rest, /end/);
  const last = printed[printed.length - 1];
  assert.match(last.rest, / · end$/);
  // The last view has every sample, as the ordinary report counts them from the whole file.
  const all = whole(file);
  assert.equal(last.samples, all.summary.profileSamples);
  assert.match(last.body, new RegExp(`, ${all.summary.samples} samples,`));
  // The hot function is on top of every view that has samples, its self share as in the whole profile.
  for (const v of printed.filter((x) => x.samples > 200)) assert.equal(flatRows(v.body)[0]?.name, "hotLoop", v.body);
  assert.equal(all.functions[0].name, "hotLoop");
  assert.equal(flatRows(last.body)[0].selfSamples, all.functions[0].selfSamples);
  assert.ok(flatRows(last.body).some((r) => r.name === "coldLoop"));
  assert.doesNotMatch(printed.map((v) => v.body).join(""), /\x1b\[/, "no escape codes without a terminal");
}

test("a pipe from a live profiler: a view per second while it runs, the final one with every sample, exit 0", () => {
  const copy = path.join(dir, "piped.prof");
  const r = spawnSync("bash", ["-c", `set -o pipefail; ${q(node)} ${q(PRODUCER)} 4 | tee ${q(copy)} | ${q(node)} ${q(BIN)} --flat --live`], {
    encoding: "utf8",
    cwd: root,
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "", "no truncation warnings while the profile grows");
  const printed = views(r.stdout);
  assert.ok(printed.every((v) => v.source === "<stdin>"));
  checkGrowingViews(printed, copy);
});

test("a growing file followed from its last offset, as tail -f does, until its end record", async () => {
  const file = path.join(dir, "growing.prof");
  fs.writeFileSync(file, "");
  // The report starts first, on an empty file, and waits for the profiler to write.
  const report = spawn(node, [BIN, "--flat", "--live", "--interval", "0.5", file], { cwd: root, env: { ...process.env, NO_COLOR: "" } });
  let stdout = "";
  let stderr = "";
  report.stdout.on("data", (c) => (stdout += c));
  report.stderr.on("data", (c) => (stderr += c));
  const closed = new Promise<number | null>((resolve) => report.on("close", resolve));
  const producer = spawnSync(node, [PRODUCER, "3", file], { encoding: "utf8" });
  assert.equal(producer.status, 0, producer.stderr);
  const status = await closed;
  assert.equal(status, 0, stderr);
  assert.equal(stderr, "");
  const printed = views(stdout);
  assert.ok(printed.every((v) => v.source === file));
  checkGrowingViews(printed, file);
});

test("--window: only the last seconds of profile time count, by the samples' own timestamps", () => {
  const copy = path.join(dir, "window.prof");
  const r = spawnSync("bash", ["-c", `${q(node)} ${q(PRODUCER)} 3 | tee ${q(copy)} | ${q(node)} ${q(BIN)} --top --live --window 1`], { encoding: "utf8", cwd: root, timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const printed = views(r.stdout);
  const last = printed[printed.length - 1];
  assert.match(last.rest, /^ · window 1 s · end$/);
  // The view's summary: samples of the last second (about a third of 3 s at 1 kHz) "of" all of them.
  const m = /, (\d+) samples \(of (\d+)\),/.exec(last.body);
  assert.ok(m, last.body);
  const [inWindow, all] = [Number(m[1]), Number(m[2])];
  assert.equal(all, last.samples);
  // The same selection by the ordinary report: samples from (newest - 1 s) on, in seconds since the origin.
  const p = readProfileSync(copy);
  const newest = p.samples.time.reduce((x, t) => Math.max(x, t), 0);
  const ordinary = run(["--top", "--json", "--start", String((newest - 1e6) / 1e6), copy]);
  assert.equal(ordinary.status, 0, ordinary.stderr);
  assert.equal(inWindow, (JSON.parse(ordinary.stdout) as TopView).summary.samples);
  assert.ok(inWindow < all / 2, `${inWindow} of ${all}`);
});

test("a file that stops growing without an end record: after 5 s, what it holds and one note, exit 0", () => {
  const cut = path.join(dir, "cut.prof");
  fs.writeFileSync(cut, fs.readFileSync(APP).subarray(0, 1500));
  const started = Date.now();
  const r = run(["--live", cut]);
  const took = Date.now() - started;
  assert.equal(r.status, 0, r.stderr);
  assert.ok(took >= 5000, `waited ${took} ms for the file to grow`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /cut\.prof: stopped growing for 5 s without an end record; showing what it holds/);
  const printed = views(r.stdout);
  const last = printed[printed.length - 1];
  assert.match(last.rest, /stopped growing/);
  assert.match(last.body, /^vmprof output:/);
  assert.ok(last.samples > 0);
});

test("a complete file: its view at once, exit 0 (no waiting, no note)", () => {
  const r = run(["--live", "--top", APP]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  const printed = views(r.stdout);
  assert.equal(printed.length, 1);
  assert.match(printed[0].rest, / · end$/);
  // The same table as the ordinary report (the live header aside).
  assert.equal(printed[0].body, run(["--top", APP]).stdout);
});

test("bad input and bad usage: one line naming what is wrong, exit 2", () => {
  const gz = path.join(dir, "app.prof.gz");
  fs.writeFileSync(gz, gzipSync(fs.readFileSync(APP)));
  const pprof = path.join(dir, "app.pb");
  const conv = spawnSync(node, [CONVERT, "--to", "pprof", "-o", pprof + ".gz", APP], { encoding: "utf8" });
  assert.equal(conv.status, 0, conv.stderr);
  fs.writeFileSync(pprof, spawnSync("gunzip", ["-c", pprof + ".gz"]).stdout);
  const json = path.join(dir, "app.speedscope.json");
  assert.equal(spawnSync(node, [CONVERT, "--to", "speedscope", "-o", json, APP]).status, 0);
  const corrupt = Buffer.from(fs.readFileSync(APP));
  const at = Math.floor(corrupt.length / 2);
  corrupt.fill(0xff, at, at + 8); // a record's type and length past the limit, mid-file
  const corruptFile = path.join(dir, "corrupt.prof");
  fs.writeFileSync(corruptFile, corrupt);
  const cases: [string[], RegExp, (string | Buffer)?][] = [
    [["--live", path.join(dir, "missing.prof")], /missing\.prof: no such file/],
    [["--live", dir], /is a directory/],
    [["--live", gz], /app\.prof\.gz: gzip-compressed; --live reads vmprof's own uncompressed format/],
    [["--live", pprof], /app\.pb: not a vmprof profile; --live reads vmprof's own uncompressed format/],
    [["--live", json], /app\.speedscope\.json: not a vmprof profile/],
    [["--live", "-"], /<stdin>: not a vmprof profile/, "hello\n"],
    [["--live", "-"], /<stdin>: empty input, no profile/, ""],
    [["--live", corruptFile], /corrupt\.prof: .*byte \d+/],
    [["--live"], /<stdin>: .*byte \d+/, corrupt],
    [["--live", "--tree", APP], /--live shows --top or --flat, not --tree/],
    [["--live", "--threads", APP], /--live shows --top or --flat, not --threads/],
    [["--live", "--json", APP], /--live prints text views/],
    [["--window", "2", APP], /--window applies to --live only/],
    [["--interval", "2", APP], /--interval applies to --live only/],
    [["--live", "--window", "0", APP], /--window: expected a number of seconds > 0, got "0"/],
    [["--live", "--interval", "soon", APP], /--interval: expected a number of seconds/],
  ];
  expectUsageErrors(cases);
});

/** A profile of `n` samples in one function, without its END record (a writer still at work). */
function unfinished(n: number): Uint8Array {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  w.meta({ mode: "cpu", period_us: 1000 });
  const T = w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
  const s = w.stack([w.frame(w.addFunction({ name: "work", file: "/w.js", line: 1 }))]);
  for (let i = 0; i < n; i++) w.sample(T, 1000 * i, 1000, 1000, VmState.JS, s);
  w.flush();
  return sink.bytes();
}

test("a followed file cut shorter, or replaced, while read: one line, exit 2", async () => {
  const bytes = unfinished(20_000);
  const follow = async (name: string, change: (file: string) => void): Promise<{ status: number | null; stderr: string }> => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    const report = spawn(node, [BIN, "--live", file], { cwd: root });
    let stderr = "";
    report.stderr.on("data", (c) => (stderr += c));
    const closed = new Promise<number | null>((resolve) => report.on("close", resolve));
    await new Promise((r) => setTimeout(r, 1500));
    change(file);
    return { status: await closed, stderr };
  };
  const cut = await follow("shrinks.prof", (f) => fs.truncateSync(f, 100));
  assert.equal(cut.status, 2, cut.stderr);
  assert.match(cut.stderr, new RegExp(`^vmprof-report: .*shrinks\\.prof: shrank from ${bytes.length} to 100 bytes while being read \\(truncated or rewritten\\)\n$`));
  const replaced = await follow("replaced.prof", (f) => {
    fs.writeFileSync(f + ".new", bytes);
    fs.renameSync(f + ".new", f);
  });
  assert.equal(replaced.status, 2, replaced.stderr);
  assert.match(replaced.stderr, /^vmprof-report: .*replaced\.prof: replaced by another file while being read\n$/);
});

test("oclif and the fast path agree on --live, --window and --interval", () => {
  const viaOclif = (args: string[]) =>
    spawnSync(node, ["--input-type=module", "-e", `import { execute } from "@oclif/core"; await execute({ dir: ${JSON.stringify(BIN)}, args: ${JSON.stringify(args)} });`], {
      cwd: root,
      encoding: "utf8",
      input: "",
    });
  const strip = (s: string) => s.replace(/^# \S+/gm, "# TIME");
  const ok = ["--live", "--flat", "--window", "0.2", "--interval", "0.5", "--limit", "5", APP];
  const a = run(ok);
  const b = viaOclif(ok);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(strip(b.stdout), strip(a.stdout));
  assert.match(a.stdout, / · window 0\.2 s · end\n/);
  for (const bad of [["--live", "--tree", APP], ["--window", "1", APP]]) {
    const x = run(bad);
    const y = viaOclif(bad);
    assert.equal(x.status, 2);
    assert.equal(y.status, 2, bad.join(" "));
    assert.equal(y.stderr, x.stderr, bad.join(" "));
  }
});

/** A tmux server of its own (its own socket), so the test touches no other session. */
class Tmux {
  readonly socket = `vmprof-live-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  tmux(...args: string[]): string {
    const r = spawnSync("tmux", ["-L", this.socket, ...args], { encoding: "utf8" });
    assert.equal(r.status, 0, `tmux ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }
  start(columns: number, rows: number, command: string): void {
    this.tmux("new-session", "-d", "-s", "live", "-x", String(columns), "-y", String(rows), command);
  }
  /** The screen as shown (the alternate screen while it is on), with `history` lines above it; wrapped lines joined. */
  screen(history = 0): string {
    return this.tmux("capture-pane", "-p", "-J", "-t", "live", ...(history > 0 ? ["-S", String(-history)] : []));
  }
  /** A pane variable: alternate_on is 1 while the alternate screen is shown, cursor_flag 1 while the cursor is visible. */
  flag(name: string): string {
    return this.tmux("display-message", "-p", "-t", "live", `#{${name}}`).trim();
  }
  kill(): void {
    spawnSync("tmux", ["-L", this.socket, "kill-server"]);
  }
}

async function until<T>(what: string, get: () => T | undefined, seconds = 20): Promise<T> {
  const stop = Date.now() + seconds * 1000;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > stop) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("on a terminal: redrawn in place on the alternate screen, cut to its height; at the end the terminal is restored and the final view stays", async () => {
  const t = new Tmux();
  const status = path.join(dir, "tty-status");
  try {
    t.start(90, 10, `bash -c ${q(`${q(node)} ${q(PRODUCER)} 4 | ${q(node)} ${q(BIN)} --flat --live; echo $? > ${q(status)}; sleep 600`)}`);
    const live = await until("a live view", () => {
      const s = t.screen();
      return /^vmprof-report --live · <stdin> · [1-9]\d* samples/.test(s) && /hotLoop/.test(s) ? s : undefined;
    });
    assert.equal(t.flag("alternate_on"), "1", "the view is drawn on the alternate screen");
    assert.equal(t.flag("cursor_flag"), "0", "the cursor is hidden while drawing");
    const rows = live.split("\n").filter((l) => l.trim() !== "");
    assert.match(rows[1], /^\s+self\s+total\s+samples\s+function/);
    assert.match(rows[2], /^\s+[\d.]+%.*hotLoop/, "the hot function is on top");
    // Cut to the terminal's height: rows left out are counted, and the summary stays at the bottom.
    assert.match(live, /\.\.\. \d+ more functions/);
    assert.match(rows[rows.length - 1], /\d+ samples, .*dropped/);
    assert.doesNotMatch(live, /^# /m, "no non-terminal headers on a terminal");
    // The view is redrawn: the sample count in the status line grows.
    const count = (s: string) => Number(/ · (\d+) samples/.exec(s)?.[1] ?? -1);
    await until("a redraw", () => (count(t.screen()) > count(live) ? true : undefined));
    const code = await until("the report's exit", () => (fs.existsSync(status) && fs.readFileSync(status, "utf8").trim()) || undefined);
    assert.equal(code, "0");
    assert.equal(t.flag("alternate_on"), "0", "the normal screen is back");
    assert.equal(t.flag("cursor_flag"), "1", "the cursor is visible again");
    const after = t.screen(60);
    assert.match(after, /^# \S+ · <stdin> · \d+ samples · [\d.]+ s · end$/m, "the final view stays on the normal screen");
    assert.match(after, /^\s+[\d.]+%.*hotLoop/m);
    assert.doesNotMatch(after, /vmprof-report --live ·/, "nothing of the live screen is left on the normal one");
  } finally {
    t.kill();
  }
});

test("on a terminal, Ctrl-C: the terminal restored, the last view printed, exit 0", async () => {
  const t = new Tmux();
  const status = path.join(dir, "ctrl-c-status");
  const file = path.join(dir, "ctrl-c.prof");
  fs.writeFileSync(file, "");
  const producer = spawn(node, [PRODUCER, "30", file], { stdio: "ignore" });
  try {
    t.start(90, 20, `bash -c ${q(`${q(node)} ${q(BIN)} --top --live ${q(file)}; echo $? > ${q(status)}; sleep 600`)}`);
    await until("a live view", () => (/hotLoop/.test(t.screen()) ? true : undefined));
    assert.equal(t.flag("alternate_on"), "1");
    t.tmux("send-keys", "-t", "live", "C-c");
    const code = await until("the report's exit", () => (fs.existsSync(status) && fs.readFileSync(status, "utf8").trim()) || undefined);
    assert.equal(code, "0");
    assert.equal(t.flag("alternate_on"), "0");
    assert.equal(t.flag("cursor_flag"), "1");
    const after = t.screen(60);
    assert.match(after, new RegExp(`^# \\S+ · ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} · \\d+ samples · [\\d.]+ s · interrupted$`, "m"));
    assert.match(after, /hotLoop/);
  } finally {
    producer.kill();
    t.kill();
  }
});

test("on a terminal, SIGTERM: the terminal restored, exit 143", async () => {
  const t = new Tmux();
  const status = path.join(dir, "term-status");
  const pid = path.join(dir, "term-pid");
  const file = path.join(dir, "term.prof");
  fs.writeFileSync(file, "");
  const producer = spawn(node, [PRODUCER, "30", file], { stdio: "ignore" });
  try {
    t.start(90, 20, `bash -c ${q(`${q(node)} ${q(BIN)} --live ${q(file)} & echo $! > ${q(pid)}; wait $!; echo $? > ${q(status)}; sleep 600`)}`);
    await until("a live view", () => (/hotLoop/.test(t.screen()) ? true : undefined));
    assert.equal(t.flag("alternate_on"), "1");
    process.kill(Number(fs.readFileSync(pid, "utf8")), "SIGTERM");
    const code = await until("the report's exit", () => (fs.existsSync(status) && fs.readFileSync(status, "utf8").trim()) || undefined);
    assert.equal(code, "143");
    assert.equal(t.flag("alternate_on"), "0");
    assert.equal(t.flag("cursor_flag"), "1");
  } finally {
    producer.kill();
    t.kill();
  }
});
