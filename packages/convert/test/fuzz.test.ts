/**
 * A structure-aware fuzzer for every importer (ours, pprof, .cpuprofile, speedscope, collapsed, and
 * the gzip of each): valid files of each format, mutated where their structure is (JSON values and
 * keys, protobuf fields and varints, collapsed lines and counts, bytes), read through the one read
 * path and exported to every format. Each input must give a profile or a ConvertError with one line
 * naming the input (what the commands print, exit 2): never another exception, a hang or a blow-up.
 * It runs FUZZ_SECONDS (default 15) in the suite; longer on demand:
 *
 *   FUZZ_SECONDS=600 node --test packages/convert/dist/test/fuzz.test.js
 *
 * An input that fails is written to test/fixtures/fuzz/ (keep it: it becomes a regression input,
 * read by the first test below on every run).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { ConvertError, OUTPUT_FORMATS, exportProfile, readAnyProfile } from "../src/index.js";
import { spawnSync } from "node:child_process";
import { APP, CONVERT, REPORT, convert, tempDir } from "./helpers.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const REGRESSIONS = path.resolve(here, "../../test/fixtures/fuzz");
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 15);
const LIMITS = { maxSamples: 2_000_000, maxInflated: 64 << 20 };

/** A small deterministic PRNG (mulberry32), seeded per run and printed, so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reads `input` and exports it to every format: "ok", or "error" for a ConvertError; throws for anything else. */
async function check(input: Uint8Array): Promise<"ok" | "error"> {
  try {
    const { profile } = await readAnyProfile(input, { source: "fuzz.in", limits: LIMITS });
    for (const to of OUTPUT_FORMATS) {
      if (to === "cpuprofile" && profile.threads.length !== 1) continue;
      for (const chunk of exportProfile(profile, to)) void chunk;
    }
    return "ok";
  } catch (e) {
    if (!(e instanceof ConvertError)) throw e;
    assert.match(e.message, /fuzz\.in|--|thread/, `the message does not name the input: ${e.message}`);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    return "error";
  }
}

/** Valid inputs of every format, made by the real command from the report's fixture. */
function seeds(): { format: string; bytes: Uint8Array }[] {
  const dir = tempDir();
  const out: { format: string; bytes: Uint8Array }[] = [{ format: "vmprof", bytes: fs.readFileSync(APP) }];
  for (const [format, name] of [["pprof", "a.pb.gz"], ["cpuprofile", "a.cpuprofile"], ["speedscope", "a.speedscope.json"], ["collapsed", "a.collapsed"]]) {
    const file = path.join(dir, name);
    const r = convert(["--to", format, ...(format === "cpuprofile" ? ["--tid", "100"] : []), "-o", file, APP]);
    assert.equal(r.status, 0, r.stderr);
    // pprof is gzipped protobuf: its fields are mutated inflated (and gzipped again now and then).
    out.push({ format, bytes: format === "pprof" ? gunzipSync(fs.readFileSync(file)) : fs.readFileSync(file) });
  }
  return out;
}

const INTERESTING = [0, -1, 1, 2 ** 31, 2 ** 32, 2 ** 53, 1e16, 1e300, -1e16, 0.5, NaN, Infinity, "", "x", null, true, [], {}];

/** A JSON value with one of its leaves, keys or arrays changed. */
function mutateJson(v: unknown, r: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const walk = (x: unknown, depth: number): unknown => {
    if (Array.isArray(x)) {
      if (x.length === 0 || r() < 0.1) return r() < 0.5 ? [] : [...x, ...x];
      const i = Math.floor(r() * x.length);
      const copy = [...x];
      if (r() < 0.15) copy.splice(i, 1);
      else copy[i] = r() < 0.3 || depth > 8 ? pick(INTERESTING) : walk(x[i], depth + 1);
      return copy;
    }
    if (x && typeof x === "object") {
      const keys = Object.keys(x);
      if (keys.length === 0) return x;
      const k = pick(keys);
      const copy: Record<string, unknown> = { ...(x as Record<string, unknown>) };
      if (r() < 0.1) delete copy[k];
      else copy[k] = r() < 0.3 || depth > 8 ? pick(INTERESTING) : walk(copy[k], depth + 1);
      return copy;
    }
    return typeof x === "number" && r() < 0.5 ? x * pick([-1, 1000, 1e9, 0.001]) : pick(INTERESTING);
  };
  return walk(v, 0);
}

/** Bytes with a few flips, inserted varints, cut or repeated runs. */
function mutateBytes(b: Uint8Array, r: () => number): Uint8Array {
  const out = [...b];
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(r() * out.length);
    const x = r();
    if (x < 0.4) out[at] = Math.floor(r() * 256);
    else if (x < 0.6) out.splice(at, 0, ...[0xff, 0xff, 0xff, 0xff, 0x0f].slice(Math.floor(r() * 4)));
    else if (x < 0.75) out.splice(at, Math.floor(r() * 16));
    else if (x < 0.9) out.splice(at, 0, ...out.slice(at, at + Math.floor(r() * 64)));
    else out.length = at;
  }
  return Uint8Array.from(out);
}

/** Collapsed stacks with lines changed: huge or odd counts, empty frames, odd characters. */
function mutateCollapsed(text: string, r: () => number): string {
  const lines = text.split("\n");
  const i = Math.floor(r() * lines.length);
  const odd = ["main;;x 5", "main 99999999999999999999", "a;b -3", "a;b 1.5", ";;; 1", "\u0000;\uffff 2", "x".repeat(5000) + " 1", "a;b 1e3", " 7", "a b c 4"];
  lines.splice(i, r() < 0.3 ? 1 : 0, odd[Math.floor(r() * odd.length)]);
  return lines.join("\n");
}

function mutate(seed: { format: string; bytes: Uint8Array }, r: () => number): Uint8Array {
  let bytes: Uint8Array;
  const text = Buffer.from(seed.bytes).toString("utf8");
  if ((seed.format === "cpuprofile" || seed.format === "speedscope") && r() < 0.8) bytes = Buffer.from(JSON.stringify(mutateJson(JSON.parse(text), r)));
  else if (seed.format === "collapsed" && r() < 0.8) bytes = Buffer.from(mutateCollapsed(text, r));
  else bytes = mutateBytes(seed.bytes, r);
  return r() < 0.15 ? gzipSync(bytes) : bytes;
}

test("regression inputs the fuzzer once found: a profile or one line, never a crash", async () => {
  if (!fs.existsSync(REGRESSIONS)) return;
  for (const name of fs.readdirSync(REGRESSIONS)) {
    try {
      await check(fs.readFileSync(path.join(REGRESSIONS, name)));
    } catch (e) {
      assert.fail(`${name}: ${(e as Error).stack}`);
    }
  }
});

/** Inputs the fuzzer tries at the least (past SECONDS if need be). */
const MIN_INPUTS = 150;

test(`every importer, fuzzed for ${SECONDS} s: a profile or one line naming the input, never a crash, a hang or a blow-up`, async (t) => {
  const all = seeds();
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);
  const r = rng(seed);
  const counts: Record<string, { ok: number; error: number }> = {};
  const end = Date.now() + SECONDS * 1000;
  let n = 0;
  // At least MIN_INPUTS, however slow a loaded machine makes them; each one is still bounded below.
  while (Date.now() < end || n < MIN_INPUTS) {
    const s = all[n % all.length];
    const input = mutate(s, r);
    const t0 = performance.now();
    const before = process.memoryUsage().rss;
    let out: "ok" | "error";
    try {
      out = await check(input);
    } catch (e) {
      fs.mkdirSync(REGRESSIONS, { recursive: true });
      const file = path.join(REGRESSIONS, `${s.format}-${seed}-${n}.bin`);
      fs.writeFileSync(file, input);
      assert.fail(`seed ${seed}, input ${n} (${s.format}, kept in ${file}): ${(e as Error).stack}`);
    }
    const ms = performance.now() - t0;
    const grew = process.memoryUsage().rss - before;
    assert.ok(ms < 5000, `seed ${seed}, input ${n} (${s.format}): took ${ms.toFixed(0)} ms`);
    assert.ok(grew < 1 << 30, `seed ${seed}, input ${n} (${s.format}): memory grew by ${(grew / 2 ** 20).toFixed(0)} MiB`);
    const c = (counts[s.format] ??= { ok: 0, error: 0 });
    c[out]++;
    n++;
  }
  t.diagnostic(`seed ${seed}: ${n} inputs; ${Object.entries(counts).map(([f, c]) => `${f} ${c.ok} read, ${c.error} refused`).join("; ")}`);
});

const CLI_SECONDS = Number(process.env.FUZZ_CLI_SECONDS ?? 10);
const MAXRSS = path.resolve(here, "../../test/fixtures/maxrss.cjs");

/**
 * Runs a command as a user does, on `input` in a file: exit 0 or 2; on 2, one line on stderr, no
 * stack trace; within `seconds` and `rssMiB` of peak memory (measured in the command's own process).
 */
function checkCommand(script: string, args: string[], input: Uint8Array, what: string, seconds: number, rssMiB: number): number {
  const dir = tempDir();
  const file = path.join(dir, "fuzz.in");
  fs.writeFileSync(file, input);
  const rssFile = path.join(dir, "rss");
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [script, ...args, file], {
    env: { ...process.env, NO_COLOR: "1", NODE_OPTIONS: `--require ${MAXRSS}`, MAXRSS_FILE: rssFile },
    encoding: "utf8",
    timeout: 60_000,
    maxBuffer: 1 << 28,
  });
  const s = (performance.now() - t0) / 1000;
  assert.ok(r.status === 0 || r.status === 2, `${what}: exit ${r.status} (signal ${r.signal}): ${r.stderr}`);
  const lines = r.stderr.split("\n").filter((l) => l && !/: warning: /.test(l));
  if (r.status === 2) assert.equal(lines.length, 1, `${what}: not one line: ${r.stderr}`);
  assert.ok(!/\n\s+at /.test(r.stderr), `${what}: a stack trace: ${r.stderr}`);
  assert.ok(s < seconds, `${what}: took ${s.toFixed(1)} s`);
  const rss = Number(fs.readFileSync(rssFile, "utf8")) / 1024;
  assert.ok(rss < rssMiB, `${what}: peak RSS ${rss.toFixed(0)} MiB`);
  return r.status;
}

test("inputs that expand (a gzip of zeros, collapsed stacks with huge counts, one count of 49 M in a few bytes): the commands refuse them in bounded time and memory", () => {
  const zeros = gzipSync(Buffer.alloc(100 << 20)); // 100 MiB of zero bytes: 100 KB gzipped
  const counts = gzipSync(Buffer.from("a;b;c 1000000000\n".repeat(1 << 16))); // 65,536 lines of 10^9 samples
  const hugeCount = gzipSync(Buffer.from("a;b;c 49000000\n"));
  for (const [name, input] of [["gzip of zeros", zeros], ["collapsed, huge counts", counts], ["collapsed, one count of 49 M", hugeCount]] as const) {
    for (const [script, args] of [[REPORT, ["--top"]], [CONVERT, ["--to", "pprof", "-o", path.join(tempDir(), "out.pb.gz")]]] as const) {
      const status = checkCommand(script, [...args], input, `${path.basename(path.dirname(path.dirname(script)))} on ${name}`, 5, 768);
      assert.equal(status, 2, `${name} was not refused`);
    }
  }
});

test(`the commands, fuzzed for ${CLI_SECONDS} s: exit 0 or 2, one line, no stack trace, bounded time and memory`, (t) => {
  const all = seeds();
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);
  const r = rng(seed);
  const end = Date.now() + CLI_SECONDS * 1000;
  let n = 0;
  const statuses = { ok: 0, refused: 0 };
  while (Date.now() < end) {
    const s = all[n % all.length];
    const input = mutate(s, r);
    const [script, args] = n % 2 === 0 ? [REPORT, ["--flat"]] : [CONVERT, ["--to", "speedscope", "-o", path.join(tempDir(), "out.json")]];
    const status = checkCommand(script, args, input, `seed ${seed}, input ${n} (${s.format}) through ${path.basename(path.dirname(path.dirname(script)))}`, 10, 1024);
    statuses[status === 0 ? "ok" : "refused"]++;
    n++;
  }
  t.diagnostic(`seed ${seed}: ${n} inputs through the commands: ${statuses.ok} read, ${statuses.refused} refused`);
  assert.ok(n >= 10, `${n} inputs in ${CLI_SECONDS} s`);
});
