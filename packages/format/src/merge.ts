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
  const w = new ProfileWriter(sink, options);
  const starts = inputs.map((p) => p.meta.get("start_time")).filter((v): v is number => typeof v === "number");
  const origin = starts.length > 0 ? Math.min(...starts) : undefined;
  const merged = new Map<string, MetaValue>(inputs[0]?.meta ?? []);
  if (origin !== undefined) merged.set("start_time", origin);
  if (inputs.length > 1) {
    for (const key of SUMMED) {
      const values = inputs.map((p) => p.meta.get(key)).filter((v): v is number => typeof v === "number");
      if (values.length > 0) merged.set(key, values.reduce((a, b) => a + b, 0));
    }
    const ends = inputs.map((p) => p.meta.get("end_time")).filter((v): v is number => typeof v === "number");
    if (ends.length > 0) merged.set("end_time", Math.max(...ends));
  }
  if (merged.size > 0) w.meta(Object.fromEntries(merged));
  // Processes that ran the same code share its functions (so views count them once).
  const functionIdsByKey = new Map<string, number>();
  const scriptsWritten = new Set<string>();

  for (const p of inputs) {
    const start = p.meta.get("start_time");
    const shift = origin !== undefined && typeof start === "number" ? start - origin : 0;
    const processIds = p.processes.map((pr) => {
      const id = w.addProcess(pr);
      const meta = new Map(inputs.length > 1 ? p.meta : []);
      for (const [k, v] of pr.meta) meta.set(k, v);
      if (meta.size > 0) w.meta(Object.fromEntries(meta), id);
      return id;
    });
    const threadIds = p.threads.map((t) => w.addThread({ ...t, process: processIds[t.process - 1] }));
    for (const sc of p.scripts) {
      if (scriptsWritten.has(sc.file)) continue;
      scriptsWritten.add(sc.file);
      w.addScript(sc.file, sc.sourceMapUrl);
    }
    const functionIds = p.functions.map((f) => {
      const key = functionKey({ kind: f.kind, ...generatedFunction(f) });
      let id = functionIdsByKey.get(key);
      if (id === undefined) functionIdsByKey.set(key, (id = w.addFunction(f)));
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
    const x = p.samples;
    for (let i = 0; i < x.count; i++) {
      w.sample(threadIds[x.thread[i] - 1], x.time[i] + shift, x.wall[i], x.cpu[i], x.state[i], stackIds[x.stack[i]]);
    }
  }
  w.end();
}
