/**
 * Building a Profile in memory, for importers of other formats: the same model the decoder produces,
 * with the same guarantees (ids defined before use, stacks shared as a trie, sample times
 * non-decreasing per thread, weights whole µs up to 2^32 - 1, times up to 2^53 - 1 µs: a value past
 * these is refused, never wrapped or clamped), without encoding to our format
 * and decoding it again.
 */
import { FunctionKind, ThreadKind, Tier, VERSION_MAJOR, VERSION_MINOR, VM_STATE_NAMES } from "./constants.js";
import type { MetaValue, Profile } from "./model.js";
import { emptyProfile } from "./model.js";
import { frameKey } from "./keys.js";
import { canonicalLabels } from "./labels.js";
import { PairMap } from "./pairmap.js";

const MAX_U32 = 0xffffffff;

/** Builds one Profile. Every method checks the ids it is given and throws RangeError for unknown ones. */
export class ProfileBuilder {
  private readonly p: Profile;
  private readonly frameIds = new Map<number | string, number>();
  private readonly stackIds = new PairMap();
  private readonly lastTime: number[] = [];
  private readonly labelSetIds = new Map<string, number>();
  private stackCap = 1;
  private sampleCap = 0;
  private done = false;

  constructor(source = "<memory>") {
    this.p = emptyProfile(source);
    this.p.version = [VERSION_MAJOR, VERSION_MINOR];
  }

  /** Sets metadata entries of the whole profile (`process` 0) or of a process. Later values win. */
  meta(entries: Record<string, MetaValue>, process = 0): void {
    if (process !== 0) this.check(process, this.p.processes.length, "process");
    const target = process === 0 ? this.p.meta : this.p.processes[process - 1].meta;
    for (const [k, v] of Object.entries(entries)) target.set(k, v);
  }

  /** Defines a process and returns its id. `startTime` is µs since the Unix epoch (0 unknown). */
  addProcess(pr: { pid: number; ppid?: number; startTime?: number; name?: string }): number {
    const id = this.p.processes.length + 1;
    this.p.processes.push({ id, pid: pr.pid, ppid: pr.ppid ?? 0, startTime: Math.round(pr.startTime ?? 0), name: pr.name ?? "", meta: new Map() });
    return id;
  }

  /** Defines a thread of a process and returns its id. */
  addThread(t: { process: number; tid: number; name?: string; kind?: ThreadKind }): number {
    this.check(t.process, this.p.processes.length, "process");
    const id = this.p.threads.length + 1;
    this.p.threads.push({ id, process: t.process, tid: t.tid, name: t.name ?? "", kind: t.kind ?? ThreadKind.MAIN });
    this.lastTime.push(0);
    return id;
  }

  /** Defines a function and returns its id. `line` and `column` are 1-based, 0 when unknown. */
  addFunction(f: { kind?: FunctionKind; name: string; file?: string; line?: number; column?: number }): number {
    const id = this.p.functions.length + 1;
    this.p.functions.push({ id, kind: f.kind ?? FunctionKind.JS, name: f.name, file: f.file ?? "", line: f.line ?? 0, column: f.column ?? 0 });
    return id;
  }

  /**
   * The id of the frame (function, tier, position), defined on first use. `line` and `column` are
   * 1-based, 0 unknown: where the frame was executing.
   */
  frame(functionId: number, tier: Tier = Tier.UNKNOWN, line = 0, column = 0): number {
    this.check(functionId, this.p.functions.length, "function");
    const key = line === 0 && column === 0 ? frameKey(functionId, tier) : `${frameKey(functionId, tier)}:${line}:${column}`;
    let id = this.frameIds.get(key);
    if (id === undefined) {
      id = this.p.frames.length + 1;
      this.p.frames.push({ id, function: functionId, tier, line, column });
      this.frameIds.set(key, id);
    }
    return id;
  }

  /** The id of stack `parent` + `frameId` (parent 0: a root frame), defined on first use. */
  child(parent: number, frameId: number): number {
    const st = this.p.stacks;
    if (parent !== 0) this.check(parent, st.count - 1, "stack");
    this.check(frameId, this.p.frames.length, "frame");
    let id = this.stackIds.get(parent, frameId);
    if (id === 0) {
      id = st.count;
      if (id >= this.stackCap) {
        this.stackCap *= 2;
        st.parent = grow(st.parent, this.stackCap);
        st.frame = grow(st.frame, this.stackCap);
      }
      st.parent[id] = parent;
      st.frame[id] = frameId;
      st.count++;
      this.stackIds.set(parent, frameId, id);
    }
    return id;
  }

  /**
   * The id of the label set made of `labels` (key=value pairs, in any order), defined on first use; 0
   * for no labels. Throws RangeError for an empty or repeated key.
   */
  labelSet(labels: Iterable<readonly [string, string]>): number {
    const set = canonicalLabels(labels);
    if (set.length === 0) return 0;
    const key = JSON.stringify(set);
    let id = this.labelSetIds.get(key);
    if (id === undefined) {
      this.p.labelSets.push(set);
      id = this.p.labelSets.length;
      this.labelSetIds.set(key, id);
    }
    return id;
  }

  /**
   * Adds one sample. `time` is µs since the profile origin, non-decreasing per thread; `wall` and
   * `cpu` are weights in µs, >= 0. All three are rounded to whole µs. `labels`: a label set id from
   * `labelSet` (0: none).
   */
  sample(thread: number, time: number, wall: number, cpu: number, state: number, stack: number, labels = 0): void {
    this.check(thread, this.p.threads.length, "thread");
    if (labels !== 0) this.check(labels, this.p.labelSets.length, "label set");
    if (stack !== 0) this.check(stack, this.p.stacks.count - 1, "stack");
    if (!(Number.isInteger(state) && state >= 0 && state < VM_STATE_NAMES.length)) throw new RangeError(`bad VM state ${state}`);
    const t = Math.round(time);
    if (!(t >= this.lastTime[thread - 1])) throw new RangeError(`sample time ${time} goes back (last ${this.lastTime[thread - 1]}) on thread ${thread}`);
    if (!(wall >= 0 && cpu >= 0)) throw new RangeError("sample weights must be >= 0");
    if (!(t <= Number.MAX_SAFE_INTEGER)) throw new RangeError(`a sample's time of ${time} µs is past what a profile holds (2^53 - 1 µs)`);
    if (Math.round(wall) > MAX_U32 || Math.round(cpu) > MAX_U32)
      throw new RangeError(`a sample's weight of ${Math.max(wall, cpu)} µs is more than one sample can hold (${MAX_U32} µs, about 71 minutes)`);
    this.lastTime[thread - 1] = t;
    const s = this.p.samples;
    if (s.count === this.sampleCap) {
      this.sampleCap = Math.max(1024, this.sampleCap * 2);
      s.thread = grow(s.thread, this.sampleCap);
      s.time = grow(s.time, this.sampleCap);
      s.wall = grow(s.wall, this.sampleCap);
      s.cpu = grow(s.cpu, this.sampleCap);
      s.state = grow(s.state, this.sampleCap);
      s.stack = grow(s.stack, this.sampleCap);
      s.labels = grow(s.labels, this.sampleCap);
    }
    const i = s.count++;
    s.thread[i] = thread;
    s.time[i] = t;
    s.wall[i] = Math.round(wall);
    s.cpu[i] = Math.round(cpu);
    s.state[i] = state;
    s.stack[i] = stack;
    s.labels[i] = labels;
  }

  /** Ends the profile and returns it; samples are grouped by thread, in time order within each. */
  finish(finalMeta?: Record<string, MetaValue>): Profile {
    if (this.done) throw new Error("ProfileBuilder.finish called twice");
    this.done = true;
    if (finalMeta) this.meta(finalMeta);
    const p = this.p;
    const st = p.stacks;
    st.parent = st.parent.slice(0, st.count);
    st.frame = st.frame.slice(0, st.count);
    const s = p.samples;
    // Stable counting sort by thread, as a file of per-thread batches would hold them.
    const n = s.count;
    const start = new Uint32Array(p.threads.length + 2);
    for (let i = 0; i < n; i++) start[s.thread[i] + 1]++;
    for (let t = 1; t < start.length; t++) start[t] += start[t - 1];
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[start[s.thread[i]]++] = i;
    const pick = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, make: (k: number) => T): T => {
      const out = make(n);
      for (let i = 0; i < n; i++) out[i] = a[order[i]];
      return out;
    };
    s.thread = pick(s.thread, (k) => new Uint32Array(k));
    s.time = pick(s.time, (k) => new Float64Array(k));
    s.wall = pick(s.wall, (k) => new Uint32Array(k));
    s.cpu = pick(s.cpu, (k) => new Uint32Array(k));
    s.state = pick(s.state, (k) => new Uint8Array(k));
    s.stack = pick(s.stack, (k) => new Uint32Array(k));
    s.labels = pick(s.labels, (k) => new Uint32Array(k));
    return p;
  }

  private check(id: number, count: number, what: string): void {
    if (!(Number.isInteger(id) && id >= 1 && id <= count)) throw new RangeError(`unknown ${what} id ${id}`);
  }
}

function grow<T extends Uint32Array | Float64Array | Uint8Array>(a: T, cap: number): T {
  const next = new (a.constructor as new (n: number) => T)(cap);
  next.set(a.subarray(0, Math.min(a.length, cap)) as never);
  return next;
}
