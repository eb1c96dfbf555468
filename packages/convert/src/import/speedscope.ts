/**
 * speedscope's file format into the model: each sampled profile becomes a thread (evented profiles
 * are not read). Time units give wall weights in µs and a profile of unit "none" counts samples (a
 * weight of N is N samples). Profiles named "NAME (pid P, tid T)", as vmprof-convert writes them, get
 * their process and thread back. Frame lines and columns are 1-based, as in the model.
 */
import { VmState, type Profile } from "@vmprof/format";
import { ModelBuilder, stateOfLabel } from "../build.js";
import { ConvertError, LimitError } from "../errors.js";
import { DEFAULT_LIMITS, sampleBudget, sampleBudgetMessage, type ImportLimits } from "../limits.js";
import type { Input } from "../read.js";

/** The $schema every speedscope file names. */
export const SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json";

/** µs per speedscope time unit. */
const US_PER_UNIT: Record<string, number> = { nanoseconds: 1e-3, microseconds: 1, milliseconds: 1e3, seconds: 1e6 };

interface SpeedscopeFile {
  shared?: { frames?: { name?: unknown; file?: unknown; line?: unknown; col?: unknown }[] };
  profiles?: { type?: unknown; name?: unknown; unit?: unknown; samples?: unknown; weights?: unknown }[];
}

/** True when a parsed JSON value is a speedscope file. */
function looksLikeSpeedscope(v: unknown): boolean {
  return v !== null && typeof v === "object" && (v as Record<string, unknown>).$schema === SPEEDSCOPE_SCHEMA;
}

const THREAD_NAME = /^(.*) \(pid (\d+), tid (\d+)\)$/;

/** Imports a parsed speedscope file; throws ConvertError for bad frame references or weights. */
function importSpeedscope(v: SpeedscopeFile, source: string, limits: ImportLimits = DEFAULT_LIMITS, bytes = Infinity): Profile {
  const budget = sampleBudget(limits, bytes);
  const bad = (what: string) => new ConvertError(`${source}: bad speedscope file: ${what}`);
  const frames = v.shared?.frames;
  if (!Array.isArray(frames)) throw bad("no shared.frames");
  const sampled = (Array.isArray(v.profiles) ? v.profiles : []).filter((p) => p?.type === "sampled");
  if (sampled.length === 0) throw bad("no sampled profiles (evented profiles are not imported)");
  const b = new ModelBuilder(source);
  const fnIds: number[] = [];
  const states: (number | undefined)[] = [];
  for (const [i, f] of frames.entries()) {
    if (f === null || typeof f !== "object" || typeof f.name !== "string") throw bad(`frame ${i} has no name`);
    const file = typeof f.file === "string" ? f.file : "";
    fnIds.push(b.fn({ name: f.name, file, line: Number(f.line ?? 0), column: Number(f.col ?? 0) }));
    states.push(stateOfLabel(f.name, file));
  }
  const processes = new Map<number, number>();
  const units = new Set<string>();
  let total = 0;
  for (const [pi, prof] of sampled.entries()) {
    const samples = prof.samples;
    const weights = prof.weights;
    if (!Array.isArray(samples) || !Array.isArray(weights) || samples.length !== weights.length) throw bad(`profile ${pi} has samples and weights of different lengths`);
    const unit = String(prof.unit ?? "none");
    const scale = US_PER_UNIT[unit];
    if (scale === undefined && unit !== "none") throw bad(`profile ${pi} has unit "${unit}", not a time or a count`);
    units.add(unit);
    const m = THREAD_NAME.exec(String(prof.name ?? ""));
    const pid = m ? Number(m[2]) : 0;
    let proc = processes.get(pid);
    if (proc === undefined) processes.set(pid, (proc = b.process({ pid })));
    const thread = b.thread({ process: proc, tid: m ? Number(m[3]) : pi, name: m ? m[1] : String(prof.name ?? "") || `profile ${pi + 1}` });
    let time = 0;
    for (let i = 0; i < samples.length; i++) {
      const stack = samples[i] as unknown;
      const w = Number(weights[i]);
      if (!Array.isArray(stack)) throw bad(`profile ${pi} sample ${i} is not a list of frames`);
      if (!(w >= 0)) throw bad(`profile ${pi} sample ${i} has weight ${weights[i]}`);
      const fns: number[] = [];
      let state: number = VmState.JS;
      for (const [k, ix] of stack.entries()) {
        const id = fnIds[ix as number];
        if (!Number.isInteger(ix) || id === undefined) throw bad(`profile ${pi} sample ${i} refers to frame ${ix}, which is not defined`);
        if (k === stack.length - 1 && states[ix as number] !== undefined) state = states[ix as number]!;
        else fns.push(id);
      }
      const st = b.stack(fns);
      if (scale === undefined) {
        if (!Number.isInteger(w)) throw bad(`profile ${pi} sample ${i} has a fractional count ${w}`);
        total += w;
        if (total > budget) throw new LimitError(sampleBudgetMessage(source, "speedscope file counts", limits, bytes));
        for (let k = 0; k < w; k++) b.sample(thread, time, 0, 0, state, st);
      } else {
        if (w === 0) continue;
        total++;
        time += w * scale;
        b.sample(thread, time, w * scale, 0, state, st);
      }
    }
  }
  const meta: Record<string, string | number> = { samples: total, source_format: "speedscope" };
  if (![...units].includes("none")) meta.mode = "wall";
  b.meta(meta);
  return b.finish();
}

/** The speedscope importer (see read.ts, Importer): a JSON object naming speedscope's schema. */
export function tryImportSpeedscope(input: Input, sure: boolean): Profile | null {
  const v = input.json();
  if (!sure && !looksLikeSpeedscope(v)) return null;
  input.whole("speedscope: ");
  if (v === undefined) throw new ConvertError(`${input.source}: not valid JSON`);
  return importSpeedscope(v as SpeedscopeFile, input.source, input.limits, input.raw.length);
}
