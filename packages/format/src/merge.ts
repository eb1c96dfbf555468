/**
 * Encoding models back into the format: one profile (re-encoding, e.g. after an import), or several
 * (the files of a parent and its child processes) merged into one file. Ids are renumbered, since each
 * input numbered its own; sample times move to the earliest input's origin.
 */
import { functionKey } from "./functions.js";
import { generatedFunction, generatedPosition, type MetaValue, type Profile } from "./model.js";
import { ProfileWriter, type Sink, type WriterOptions } from "./writer.js";

/** Counters summed over the inputs in the merged whole-profile metadata. */
const SUMMED = ["samples", "dropped_samples"];

/**
 * Writes `inputs` as one profile to `sink` and ends it. The whole-profile metadata is the first
 * input's, with `start_time` the earliest, `end_time` the latest and the SUMMED counters added up; each
 * input's own whole-profile metadata is also kept on each of its processes (so a child's argv and
 * versions survive). Inputs may be truncated: what they hold is written, and the output is complete.
 */
export function writeProfiles(inputs: readonly Profile[], sink: Sink, options?: WriterOptions): void {
  const starts = inputs.map((p) => p.meta.get("start_time")).filter((v): v is number => typeof v === "number");
  const m = new ProfileMerger(sink, { origin: starts.length > 0 ? Math.min(...starts) : undefined, several: inputs.length > 1 }, options);
  for (const p of inputs) m.add(p);
  m.end();
}

/**
 * A merge made one input at a time, so that a caller holds one decoded profile at once (the server
 * merging many stored uploads): the same output as writeProfiles of the same inputs in the same
 * order. The caller says up front the origin (the earliest input's `start_time`, µs since the epoch;
 * every input's samples are moved to it) and whether there will be several inputs.
 */
export class ProfileMerger {
  private readonly w: ProfileWriter;
  private readonly origin: number | undefined;
  private readonly several: boolean;
  private first = true;
  /** Functions that ran the same code share one id (so views count them once). */
  private readonly functionIdsByKey = new Map<string, number>();
  private readonly scriptsWritten = new Set<string>();
  private readonly summed = new Map<string, number>();
  private endTime: number | undefined;

  constructor(sink: Sink, head: { origin: number | undefined; several: boolean }, options?: WriterOptions) {
    this.w = new ProfileWriter(sink, options);
    this.origin = head.origin;
    this.several = head.several;
  }

  /** Writes one input; it may be truncated (what it holds is written). */
  add(p: Profile): void {
    const w = this.w;
    if (this.first) {
      const meta = new Map<string, MetaValue>(p.meta);
      if (this.origin !== undefined) meta.set("start_time", this.origin);
      if (meta.size > 0) w.meta(Object.fromEntries(meta));
      this.first = false;
    }
    for (const key of SUMMED) {
      const v = p.meta.get(key);
      if (typeof v === "number") this.summed.set(key, (this.summed.get(key) ?? 0) + v);
    }
    const end = p.meta.get("end_time");
    if (typeof end === "number") this.endTime = Math.max(this.endTime ?? end, end);
    const start = p.meta.get("start_time");
    const shift = this.origin !== undefined && typeof start === "number" ? start - this.origin : 0;
    const processIds = p.processes.map((pr) => {
      const id = w.addProcess(pr);
      const meta = new Map(this.several ? p.meta : []);
      for (const [k, v] of pr.meta) meta.set(k, v);
      if (meta.size > 0) w.meta(Object.fromEntries(meta), id);
      return id;
    });
    const threadIds = p.threads.map((t) => w.addThread({ ...t, process: processIds[t.process - 1] }));
    for (const sc of p.scripts) {
      if (this.scriptsWritten.has(sc.file)) continue;
      this.scriptsWritten.add(sc.file);
      w.addScript(sc.file, sc.sourceMapUrl);
    }
    const functionIds = p.functions.map((f) => {
      const key = functionKey({ kind: f.kind, ...generatedFunction(f) });
      let id = this.functionIdsByKey.get(key);
      if (id === undefined) this.functionIdsByKey.set(key, (id = w.addFunction(f)));
      return id;
    });
    const frameIds = p.frames.map((fr) => {
      const gen = generatedPosition(fr);
      return w.frame(functionIds[fr.function - 1], fr.tier, gen.line, gen.column, fr.source);
    });
    const stackIds = new Uint32Array(p.stacks.count);
    for (let s = 1; s < p.stacks.count; s++) {
      stackIds[s] = w.child(stackIds[p.stacks.parent[s]], frameIds[p.stacks.frame[s] - 1]);
    }
    const labelIds = [0, ...p.labelSets.map((set) => w.labelSet(set))];
    const x = p.samples;
    for (let i = 0; i < x.count; i++) {
      w.sample(threadIds[x.thread[i] - 1], x.time[i] + shift, x.wall[i], x.cpu[i], x.state[i], stackIds[x.stack[i]], labelIds[x.labels[i]]);
    }
  }

  /** Writes the summed counters and the latest end time (several inputs), then the END record. */
  end(): void {
    if (this.several) {
      const meta: Record<string, MetaValue> = Object.fromEntries(this.summed);
      if (this.endTime !== undefined) meta.end_time = this.endTime;
      if (Object.keys(meta).length > 0) this.w.meta(meta);
    }
    this.w.end();
  }
}
