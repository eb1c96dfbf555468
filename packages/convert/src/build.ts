/**
 * How importers make the model: they describe processes, threads, functions and samples to a
 * ModelBuilder, which builds the model directly with the format's ProfileBuilder (the same checks a
 * decoded profile passes: ids defined before use, times non-decreasing per thread, whole µs).
 */
import { FunctionKind, ProfileBuilder, STATE_LABELS, Tier, VmState, functionKey, type MetaValue, type Profile, type ThreadKind } from "@vmprof/format";

/** A function as an importer sees it. `line` and `column` are 1-based, 0 when unknown. */
export interface FunctionSpec {
  name: string;
  file?: string;
  line?: number;
  column?: number;
  kind?: FunctionKind;
}

/**
 * Leaf names that stand for a VM state rather than a function: ours (STATE_LABELS) and Chrome's.
 * "(program)" is V8's time outside JS that it cannot attribute: our OTHER state.
 */
const STATE_BY_LABEL = new Map<string, number>([
  ...STATE_LABELS.map((label, state) => [label, state] as [string, number]).filter(([, s]) => s !== VmState.JS),
  ["(program)", VmState.OTHER],
]);

/** The VM state a frame name stands for when it is a leaf with no file, else undefined. */
export function stateOfLabel(name: string, file = ""): number | undefined {
  return file === "" ? STATE_BY_LABEL.get(name) : undefined;
}

/** Builds one Profile from importer calls. Functions are deduplicated by their whole description. */
export class ModelBuilder {
  private readonly w: ProfileBuilder;
  private readonly fnIds = new Map<string, number>();
  /** Frame id by function id (index), 0 until defined. */
  private readonly frameOf: number[] = [];
  private readonly lastTime = new Map<number, number>();

  /** `source` names the profile in messages (a path, "<stdin>"). */
  constructor(source: string) {
    this.w = new ProfileBuilder(source);
  }

  /** Whole-profile metadata (process 0) or one process's. */
  meta(entries: Record<string, MetaValue>, process = 0): void {
    this.w.meta(entries, process);
  }

  /** Defines a process; returns its id. `startTime` is µs since the Unix epoch. */
  process(p: { pid: number; ppid?: number; startTime?: number; name?: string }): number {
    return this.w.addProcess(p);
  }

  /** Defines a thread; returns its id. */
  thread(t: { process: number; tid: number; name?: string; kind?: ThreadKind }): number {
    return this.w.addThread(t);
  }

  /** The id of a function, defined on first use. */
  fn(f: FunctionSpec): number {
    const key = functionKey(f);
    let id = this.fnIds.get(key);
    if (id === undefined) {
      id = this.w.addFunction({ ...f, line: clampLine(f.line), column: clampLine(f.column) });
      this.fnIds.set(key, id);
    }
    return id;
  }

  /**
   * The stack id of a root-first list of function ids (tier unknown). `lines` and `columns`, when
   * given, are parallel to `functionIds`: the position each frame was executing (1-based, 0 unknown).
   */
  stack(functionIds: readonly number[], lines?: readonly number[], columns?: readonly number[]): number {
    let s = 0;
    for (const [k, id] of functionIds.entries()) {
      const line = clampLine(lines?.[k]);
      const column = clampLine(columns?.[k]);
      let fr = line === 0 && column === 0 ? this.frameOf[id] : this.w.frame(id, Tier.UNKNOWN, line, column);
      if (fr === undefined) fr = this.frameOf[id] = this.w.frame(id, Tier.UNKNOWN);
      s = this.w.child(s, fr);
    }
    return s;
  }

  /** The id of the label set of `pairs` (key=value, any order, keys distinct and not empty); 0 for none. */
  labelSet(pairs: Iterable<readonly [string, string]>): number {
    return this.w.labelSet(pairs);
  }

  /**
   * Adds a sample. `time` is µs since the origin; a time before the thread's previous sample is
   * moved up to it (sources such as .cpuprofile can step back). Weights are µs. `labels`: a label
   * set id from labelSet (0: none).
   */
  sample(thread: number, time: number, wall: number, cpu: number, state: number, stack: number, labels = 0): void {
    const last = this.lastTime.get(thread) ?? 0;
    const t = Math.max(Math.round(time), last);
    this.lastTime.set(thread, t);
    this.w.sample(thread, t, Math.max(0, wall), Math.max(0, cpu), state, stack, labels);
  }

  /** Ends the profile and returns the model. */
  finish(meta?: Record<string, MetaValue>): Profile {
    return this.w.finish(meta);
  }
}

function clampLine(v: number | undefined): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? Math.round(v) : 0;
}
