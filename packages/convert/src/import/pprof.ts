/**
 * pprof (profile.proto, gzipped or not) into the model. pprof sums samples by stack; the model keeps
 * one entry per sample, so a pprof sample of count N becomes N samples sharing its CPU and wall time,
 * laid end to end per thread from the profile's time_nanos (pprof keeps no per-sample times).
 * Threads and processes come from the labels "pid", "thread id" and "thread name" (and their
 * snake_case spellings), as vmprof-convert and @datadog/pprof write them; a sample's other labels
 * with a string value become its label set (the first value of a key given twice; numeric labels
 * are dropped). A Function's start_line is
 * its function's line; each Line's line and column (1-based) are where its frame was executing.
 */
import { Profile as PprofProfile } from "pprof-format";
import { VmState, type Profile } from "@vmprof/format";
import { ModelBuilder, stateOfLabel } from "../build.js";
import { ConvertError, LimitError } from "../errors.js";
import { DEFAULT_LIMITS, sampleBudget, sampleBudgetMessage, type ImportLimits } from "../limits.js";
import type { Input } from "../read.js";

/** µs per unit of a pprof time unit. */
const US_PER_UNIT: Record<string, number> = { nanoseconds: 1e-3, microseconds: 1, milliseconds: 1e3, seconds: 1e6 };

/**
 * The top level of a protobuf message, walked without decoding it: every field has a number (not
 * 0), a wire type protobuf still has (varint, 64-bit, length-delimited, 32-bit) and a length inside
 * the input. Returns what is wrong, or undefined. The decoder takes a long time over some inputs
 * that are not protobuf at all (300 MB of zero bytes: 20 s, one empty field per byte); this pass
 * refuses them at their first byte.
 */
function protobufProblem(raw: Uint8Array): string | undefined {
  let i = 0;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (i >= raw.length) return undefined;
      const b = raw[i++];
      if (shift < 49) v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    return undefined;
  };
  while (i < raw.length) {
    const at = i;
    const tag = varint();
    if (tag === undefined) return `a field tag runs past the end at byte ${at}`;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) return `field number 0 at byte ${at}`;
    if (wire === 0) {
      if (varint() === undefined) return `a varint runs past the end at byte ${at}`;
    } else if (wire === 1 || wire === 5) {
      i += wire === 1 ? 8 : 4;
    } else if (wire === 2) {
      const length = varint();
      if (length === undefined) return `a length runs past the end at byte ${at}`;
      i += length;
    } else return `wire type ${wire} at byte ${at}`;
    if (i > raw.length) return `field ${field} at byte ${at} runs past the end`;
  }
  return undefined;
}

/** Decodes (inflated) pprof bytes; throws ConvertError naming `source` when they are not pprof. */
function decodePprof(raw: Uint8Array, source: string): PprofProfile {
  const problem = protobufProblem(raw);
  if (problem) throw new ConvertError(`${source}: corrupt pprof: ${problem}`);
  let p: PprofProfile;
  try {
    p = PprofProfile.decode(raw);
  } catch (e) {
    throw new ConvertError(`${source}: corrupt pprof: ${(e as Error).message}`);
  }
  if (p.stringTable.strings[0] !== "" || p.sampleType.length === 0) throw new ConvertError(`${source}: corrupt pprof: no sample types or string table`);
  return p;
}

const num = (v: number | bigint | undefined): number => (typeof v === "bigint" ? Number(BigInt.asIntN(64, v)) : (v ?? 0));

/** Imports a decoded pprof profile. Throws ConvertError for dangling ids and profiles without time or counts. */
function importPprof(pp: PprofProfile, source: string, limits: ImportLimits = DEFAULT_LIMITS, bytes = Infinity): Profile {
  const budget = sampleBudget(limits, bytes);
  const strings = pp.stringTable.strings;
  const bad = (what: string) => new ConvertError(`${source}: corrupt pprof: ${what}`);
  const str = (i: number | bigint | undefined, what: string): string => {
    const s = strings[num(i)];
    if (s === undefined) throw bad(`${what} refers to string ${num(i)} of ${strings.length}`);
    return s;
  };
  const types = pp.sampleType.map((t) => ({ type: str(t.type, "a sample type"), unit: str(t.unit, "a sample type") }));
  const find = (type: string[], unit: (u: string) => boolean) => types.findIndex((t) => type.includes(t.type) && unit(t.unit));
  const countIx = find(["samples", "sample"], (u) => u === "count");
  const cpuIx = find(["cpu"], (u) => u in US_PER_UNIT);
  const wallIx = find(["wall"], (u) => u in US_PER_UNIT);
  const periodUnit = pp.periodType ? str(pp.periodType.unit, "the period type") : "";
  const periodUs = num(pp.period) * (US_PER_UNIT[periodUnit] ?? 0);
  if (countIx < 0 && cpuIx < 0 && wallIx < 0)
    throw new ConvertError(`${source}: pprof profile has no sample count, CPU or wall time (it has ${types.map((t) => `${t.type}/${t.unit}`).join(", ")})`);

  const b = new ModelBuilder(source);
  const fnIds = new Map<number, number>();
  const fnState = new Map<number, number>();
  for (const f of pp.function) {
    const name = str(f.name, `function ${num(f.id)}`);
    const file = str(f.filename, `function ${num(f.id)}`);
    // "(anonymous)" with a location is how pprof writers (ours too) name an unnamed JS function.
    fnIds.set(num(f.id), b.fn({ name: name === "(anonymous)" && file !== "" ? "" : name, file, line: num(f.startLine) }));
    const state = stateOfLabel(name, file);
    if (state !== undefined) fnState.set(num(f.id), state);
  }
  // A location's functions, outermost first (the last Line of a location is the caller), and the
  // line and column each was executing.
  const locFns = new Map<number, { fns: number[]; lines: number[]; columns: number[] }>();
  const locState = new Map<number, number>();
  for (const loc of pp.location) {
    const id = num(loc.id);
    if (id === 0) throw bad("a location has id 0");
    const at = { fns: [] as number[], lines: [] as number[], columns: [] as number[] };
    for (let k = loc.line.length - 1; k >= 0; k--) {
      const fid = num(loc.line[k].functionId);
      const f = fnIds.get(fid);
      if (f === undefined) throw bad(`location ${id} refers to function ${fid}, which is not defined`);
      at.fns.push(f);
      at.lines.push(num(loc.line[k].line));
      at.columns.push(num(loc.line[k].column));
    }
    locFns.set(id, at);
    // A leaf location that is one of our VM-state labels becomes the sample's state.
    const state = loc.line.length === 1 ? fnState.get(num(loc.line[0].functionId)) : undefined;
    if (state !== undefined) locState.set(id, state);
  }

  const labelKeys = { pid: ["pid", "process_id"], tid: ["thread id", "thread_id", "tid"], name: ["thread name", "thread_name", "thread"] };
  const processes = new Map<number, number>();
  const threads = new Map<string, { id: number; time: number }>();
  const threadOf = (pid: number, tid: number, name: string) => {
    const key = `${pid}\0${tid}\0${name}`;
    let t = threads.get(key);
    if (!t) {
      let proc = processes.get(pid);
      if (proc === undefined) processes.set(pid, (proc = b.process({ pid, name: "" })));
      t = { id: b.thread({ process: proc, tid, name: name || (threads.size === 0 ? "main" : `thread ${tid}`) }), time: 0 };
      threads.set(key, t);
    }
    return t;
  };

  let total = 0;
  for (const [i, s] of pp.sample.entries()) {
    const values = s.value.map(num);
    const cpuUs = cpuIx >= 0 ? (values[cpuIx] ?? 0) * US_PER_UNIT[types[cpuIx].unit] : 0;
    const wallUs = wallIx >= 0 ? (values[wallIx] ?? 0) * US_PER_UNIT[types[wallIx].unit] : 0;
    let count = countIx >= 0 ? (values[countIx] ?? 0) : periodUs > 0 ? Math.max(1, Math.round(Math.max(cpuUs, wallUs) / periodUs)) : 1;
    if (!Number.isSafeInteger(count) || count < 0) throw bad(`sample ${i} has count ${count}`);
    if (count === 0 && cpuUs === 0 && wallUs === 0) continue;
    count = Math.max(count, 1);
    total += count;
    if (total > budget) throw new LimitError(sampleBudgetMessage(source, "pprof profile holds", limits, bytes));
    let pid = 0;
    let tid = 0;
    let tname = "";
    // Each of pid, tid and thread name comes from the first of its spellings the sample has (so a
    // label of ours named "thread" stays a label beside "thread name"); the rest are the sample's labels.
    const given = s.label.map((l) => {
      const key = str(l.key, `sample ${i}'s label`);
      const text = num(l.str) !== 0 ? str(l.str, `sample ${i}'s label`) : undefined;
      return { key, text, value: text !== undefined ? Number(text) : num(l.num) };
    });
    const taken = new Set<number>();
    const identity = (spellings: string[], ok: (g: (typeof given)[number]) => boolean) => {
      for (const k of spellings) {
        const at = given.findIndex((g) => g.key === k && ok(g));
        if (at >= 0) {
          taken.add(at);
          return given[at];
        }
      }
      return undefined;
    };
    pid = identity(labelKeys.pid, (g) => Number.isSafeInteger(g.value))?.value ?? 0;
    tid = identity(labelKeys.tid, (g) => Number.isSafeInteger(g.value))?.value ?? 0;
    tname = identity(labelKeys.name, () => true)?.text ?? "";
    const own = new Map<string, string>();
    given.forEach((g, k) => {
      if (!taken.has(k) && g.text !== undefined && g.key !== "" && !own.has(g.key)) own.set(g.key, g.text);
    });
    const labels = own.size > 0 ? b.labelSet(own) : 0;
    const fns: number[] = [];
    const lines: number[] = [];
    const columns: number[] = [];
    let state: number = VmState.JS;
    for (let k = s.locationId.length - 1; k >= 0; k--) {
      const lid = num(s.locationId[k]);
      const lf = locFns.get(lid);
      if (lf === undefined) throw bad(`sample ${i} refers to location ${lid}, which is not defined`);
      if (k === 0 && locState.has(lid)) state = locState.get(lid)!;
      else {
        fns.push(...lf.fns);
        lines.push(...lf.lines);
        columns.push(...lf.columns);
      }
    }
    const stack = b.stack(fns, lines, columns);
    const t = threadOf(pid, tid, tname);
    // Spread the sums over `count` samples in whole µs, keeping the totals exact.
    const cpuTotal = Math.round(cpuUs);
    const wallTotal = Math.round(wallUs);
    const cpuEach = Math.floor(cpuTotal / count);
    const wallEach = Math.floor(wallTotal / count);
    for (let k = 0; k < count; k++) {
      const last = k === count - 1;
      const wall = last ? wallTotal - wallEach * (count - 1) : wallEach;
      const cpu = last ? cpuTotal - cpuEach * (count - 1) : cpuEach;
      t.time += wallIx >= 0 ? wall : cpuIx >= 0 ? cpu : periodUs;
      b.sample(t.id, t.time, wall, cpu, state, stack, labels);
    }
  }
  const meta: Record<string, string | number> = { samples: total, source_format: "pprof" };
  const startUs = Number(BigInt.asIntN(64, BigInt(pp.timeNanos)) / 1000n);
  if (startUs > 0) meta.start_time = startUs;
  const durationUs = num(pp.durationNanos) / 1000;
  if (startUs > 0 && durationUs > 0) meta.end_time = Math.round(startUs + durationUs);
  const ptype = pp.periodType ? str(pp.periodType.type, "the period type") : "";
  if (ptype === "cpu" || ptype === "wall") meta.mode = ptype;
  else if (cpuIx >= 0) meta.mode = "cpu";
  else if (wallIx >= 0) meta.mode = "wall";
  if (periodUs > 0) meta.period_us = Math.round(periodUs);
  const comments = pp.comment.map((c) => strings[num(c)]).filter((c): c is string => typeof c === "string" && c !== "");
  if (comments.length > 0) meta.comment = comments.join("\n");
  b.meta(meta);
  return b.finish();
}

/** profile.proto's top-level fields: 1-6 and 11 are messages or strings, 13 is packed or not, the rest varints. */
const PPROF_LEN_FIELDS = new Set([1, 2, 3, 4, 5, 6, 11, 13]);
const PPROF_VARINT_FIELDS = new Set([7, 8, 9, 10, 12, 13, 14, 15]);

/**
 * True when `b` walks as profile.proto's top-level fields from start to end, with a string table:
 * a structural check, without decoding the messages (the importer does that once).
 */
function looksLikePprof(b: Uint8Array): boolean {
  let pos = 0;
  let strings = false;
  const varint = (): number => {
    let x = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (pos >= b.length) return -1;
      const c = b[pos++];
      x += (c & 0x7f) * mul;
      if (c < 0x80) return x;
      mul *= 128;
    }
    return -1;
  };
  while (pos < b.length) {
    const tag = varint();
    if (tag < 0) return false;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 2 && PPROF_LEN_FIELDS.has(field)) {
      const len = varint();
      if (len < 0 || pos + len > b.length) return false;
      pos += len;
      if (field === 6) strings = true;
    } else if (wire === 0 && PPROF_VARINT_FIELDS.has(field)) {
      if (varint() < 0) return false;
    } else {
      return false;
    }
  }
  return strings;
}

/**
 * The pprof importer (see read.ts, Importer): bytes that walk as profile.proto, or gzip that is
 * neither ours nor text (so the decoder says what is wrong with it).
 */
export function tryImportPprof(input: Input, sure: boolean): Profile | null {
  if (!sure && !looksLikePprof(input.raw) && !(input.gzipped && input.head === undefined)) return null;
  input.whole("corrupt pprof: ");
  return importPprof(decodePprof(input.raw, input.source), input.source, input.limits, input.raw.length);
}
