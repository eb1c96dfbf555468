/**
 * The native encoder against the format's own definitions: its constants are the ones of
 * @vmprof/format (constants.ts), its bytes are pinned by a golden file, and the format's reader reads
 * them back to the recording they encode.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { FunctionKind, readProfileSync, RecordType, Tier, VmState } from "@vmprof/format";
import { loadAddon } from "../src/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const native = (file: string) => fs.readFileSync(path.join(root, "src/native", file), "utf8");
const GOLDEN = path.join(root, "test/golden/encoder.hex");

/** `enum Name : type { kA = 1, kB = 2 }` in a C++ source, as { kA: 1, kB: 2 }. */
function cppEnum(source: string, name: string): Record<string, number> {
  const body = new RegExp(`enum ${name}\\s*:\\s*\\w+\\s*\\{([^}]*)\\}`).exec(source)?.[1];
  assert.ok(body, `enum ${name}`);
  const out: Record<string, number> = {};
  for (const m of body.matchAll(/(k\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

test("the C++ constants are the format's: record types, tiers, function kinds, VM states", () => {
  const records = cppEnum(native("encoder.h"), "RecordType");
  assert.deepEqual(records, {
    kMeta: RecordType.META,
    kProcess: RecordType.PROCESS,
    kThread: RecordType.THREAD,
    kFunction: RecordType.FUNCTION,
    kFrame: RecordType.FRAME,
    kStacks: RecordType.STACKS,
    kSamples: RecordType.SAMPLES,
    kScript: RecordType.SCRIPT,
    kLabels: RecordType.LABELS,
    kEnd: RecordType.END,
  });
  const tiers = cppEnum(native("codemap.h"), "Tier");
  assert.deepEqual(tiers, { kTierUnknown: Tier.UNKNOWN, kTierInterpreted: Tier.INTERPRETED, kTierBaseline: Tier.BASELINE, kTierMaglev: Tier.MAGLEV, kTierOptimized: Tier.OPTIMIZED });
  const kinds = cppEnum(native("codemap.h"), "FunctionKind");
  assert.deepEqual(kinds, { kKindJS: FunctionKind.JS, kKindNative: FunctionKind.NATIVE, kKindBuiltin: FunctionKind.BUILTIN, kKindOther: FunctionKind.OTHER });
  // V8's StateTag -> the format's VM state, as the signal handler maps it.
  const mapping = /uint8_t FormatState\(v8::StateTag s\) \{([\s\S]*?)\n\}/.exec(native("signal.cc"))?.[1];
  assert.ok(mapping);
  const returns = new Map<string, number>();
  let pending: string[] = [];
  for (const m of mapping.matchAll(/case v8::(\w+):(?:\s*return (\d+);)?|default: return (\d+);/g)) {
    if (m[3] !== undefined) returns.set("default", Number(m[3]));
    else {
      pending.push(m[1]);
      if (m[2] !== undefined) {
        for (const tag of pending) returns.set(tag, Number(m[2]));
        pending = [];
      }
    }
  }
  assert.deepEqual(Object.fromEntries(returns), {
    JS: VmState.JS,
    GC: VmState.GC,
    BYTECODE_COMPILER: VmState.COMPILER,
    COMPILER: VmState.COMPILER,
    PARSER: VmState.PARSER,
    EXTERNAL: VmState.NATIVE,
    ATOMICS_WAIT: VmState.IDLE,
    IDLE: VmState.IDLE,
    default: VmState.OTHER,
  });
});

test("the native encoder's bytes match the golden (UPDATE_GOLDEN=1 rewrites it) and read back as encoded", () => {
  const bytes = loadAddon().encoderSample();
  const hex = (bytes.toString("hex").match(/.{1,64}/g) ?? []).join("\n") + "\n";
  if (process.env.UPDATE_GOLDEN === "1") fs.writeFileSync(GOLDEN, hex);
  assert.equal(hex, fs.readFileSync(GOLDEN, "utf8"), "the encoder's output changed: if the format changed too, update SPEC.md, the goldens and the version");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-encoder-"));
  const file = path.join(dir, "sample.prof");
  fs.writeFileSync(file, bytes);
  const p = readProfileSync(file);
  fs.rmSync(dir, { recursive: true });
  assert.equal(p.truncation, undefined);
  assert.equal(p.meta.get("mode"), "cpu");
  assert.deepEqual(p.meta.get("argv"), ["node", "app.js"]);
  assert.equal(p.meta.get("samples"), 40);
  assert.deepEqual(p.processes.map((x) => [x.pid, x.ppid, x.name]), [[4242, 1, "app.js"]]);
  assert.deepEqual(p.threads.map((t) => [t.tid, t.name, t.kind]), [[4242, "main", 0]]);
  assert.deepEqual(p.functions.map((f) => [f.name, f.file, f.line, f.column, f.kind]), [
    ["main", "/app.js", 1, 1, FunctionKind.JS],
    ["work", "/app.js", 5, 10, FunctionKind.JS],
    ["wasm-function[0]", "", 0, 0, FunctionKind.OTHER],
  ]);
  assert.deepEqual(p.version, [1, 2]);
  assert.deepEqual(p.labelSets, [[["route", "/a"]], [["route", "/b"], ["tenant", "x"]]]);
  assert.deepEqual(p.scripts, [{ file: "/app.js", sourceMapUrl: "app.js.map" }]);
  assert.deepEqual(p.frames.map((f) => [f.function, f.tier, f.line, f.column]), [[1, Tier.INTERPRETED, 2, 3], [2, Tier.OPTIMIZED, 6, 12], [3, Tier.BASELINE, 0, 0]]);
  assert.deepEqual([...p.stacks.parent.slice(1, 4)], [0, 1, 2]);
  assert.equal(p.samples.count, 40);
  for (let i = 0; i < 40; i++) {
    const time = 1000 + 990 * i + (i % 7 === 3 ? 150 : 0);
    const prev = i === 0 ? time - 990 : 1000 + 990 * (i - 1) + ((i - 1) % 7 === 3 ? 150 : 0);
    assert.equal(p.samples.time[i], time, `time ${i}`);
    assert.equal(p.samples.wall[i], time - prev, `wall ${i}`);
    assert.equal(p.samples.cpu[i], i % 5 === 0 ? 400 : 980, `cpu ${i}`);
    assert.equal(p.samples.state[i], i % 9 === 8 ? VmState.GC : VmState.JS, `state ${i}`);
    assert.equal(p.samples.stack[i], i % 9 === 8 ? 0 : 1 + (i % 3), `stack ${i}`);
    assert.equal(p.samples.labels[i], i < 20 || i % 4 === 0 ? 0 : 1 + (i % 2), `labels ${i}`);
  }
});
