/**
 * Continuous profiling's windows: recordings followed while they are written (one growing stream of
 * our format per process) come out as one standalone profile per time window, each holding exactly the
 * samples taken in its window, from every process, with the definitions they need and no others.
 *
 * Time: window i covers [origin + i·every, origin + (i+1)·every), µs since the Unix epoch; a sample's
 * time is its stream's `start_time` plus its own time. Memory: each stream's decoder hands its samples
 * over at every `pump()` (ProfileDecoder.takeSamples) and they are encoded at once into the current
 * window (a ProfileWriter into memory, a few bytes per sample); what is held between pumps is the
 * streams' definitions, the current window's encoded bytes, and the samples already decoded for a
 * later window (those taken after the current window's end but before it is cut).
 *
 * A sample that arrives after its window was cut (its process wrote it late) goes into the current
 * window, dated at its start, and is counted in `late`: every sample is in exactly one window, and
 * windows never overlap.
 */
import type { ProfileFormatError } from "./errors.js";
import { functionKey } from "./functions.js";
import { generatedFunction, generatedPosition, type MetaValue, type Profile, type Samples } from "./model.js";
import { ProfileDecoder } from "./reader.js";
import { ProfileWriter, memorySink } from "./writer.js";

/** Metadata that describes a whole run (counters, its start and end): replaced or left out in a window. */
const RUN_ONLY = /^(start_time|end_time|samples|dropped_samples|dropped\..*|jit_events_lost|unresolved_frames|signal_handler_reinstalled|native_symbolized|native_unsymbolized|sample_cost_ns)$/;

/** One cut window. */
export interface Window {
  /** 0-based: the window covers [origin + index·every, origin + (index + 1)·every). */
  index: number;
  /** Start and end of the window, µs since the Unix epoch (the last window ends when the recording did). */
  start: number;
  end: number;
  /** Samples in the window (all processes). */
  samples: number;
  /** Of those, samples written after their own window was cut, dated at this window's start. */
  late: number;
  /** Processes with samples in the window. */
  processes: number;
  /** The window as a complete profile in our format; metadata `start_time` and `end_time` are the window's. */
  bytes: Uint8Array;
}

/** One stream followed by a WindowCutter: a process's profile as it is written. */
export class WindowSource {
  readonly decoder: ProfileDecoder;
  /** Set when the stream turned out not to be a readable profile; it is then left out from here on. */
  error?: ProfileFormatError;
  /** Samples already decoded that belong to a later window than the current one. */
  carry?: Samples;
  /** Definitions as of the last pump (ids stay valid: definitions are only ever appended). */
  defs?: Profile;

  constructor(readonly name: string) {
    this.decoder = new ProfileDecoder(name);
  }

  /** Feeds the next bytes of the stream. Never throws: a bad stream sets `error` and is ignored after. */
  push(chunk: Uint8Array): void {
    if (this.error) return;
    try {
      this.decoder.push(chunk);
    } catch (e) {
      if ((e as Error).name !== "ProfileFormatError") throw e;
      this.error = e as ProfileFormatError;
      this.carry = undefined;
    }
  }

  /** True once the stream's END record was read: it holds no more samples. */
  get complete(): boolean {
    return this.decoder.complete;
  }
}

/** Ids of one stream's definitions in one window's output (undefined: not written yet). */
interface Ids {
  processes: number[];
  threads: number[];
  functions: number[];
  frames: number[];
  stacks: number[];
  labels: number[];
  meta: Map<string, MetaValue>;
}

/** The window being filled: samples are encoded as they come; definitions on first use. */
class WindowBuilder {
  private readonly sink = memorySink();
  private readonly w = new ProfileWriter(this.sink);
  private readonly ids = new Map<WindowSource, Ids>();
  private readonly functionIds = new Map<string, number>();
  private readonly scripts = new Set<string>();
  samples = 0;
  late = 0;
  /** Latest sample time written, µs since the epoch. */
  last = 0;

  constructor(
    readonly index: number,
    readonly start: number,
    readonly end: number,
  ) {}

  /** Adds sample i of `s` (a sample of `src`, whose definitions are `defs`), taken at `at` µs since the epoch. */
  add(src: WindowSource, defs: Profile, s: Samples, i: number, at: number): void {
    const w = this.w;
    const ids = this.ids.get(src) ?? this.enter(src, defs);
    const t = s.thread[i];
    let thread = ids.threads[t];
    if (thread === undefined) {
      const info = defs.threads[t - 1];
      ids.threads[t] = thread = w.addThread({ ...info, process: this.process(ids, defs, info.process) });
    }
    const label = s.labels[i];
    let labels = label === 0 ? 0 : ids.labels[label];
    if (labels === undefined) ids.labels[label] = labels = w.labelSet(defs.labelSets[label - 1]);
    let time = at - this.start;
    if (time < 0) {
      time = 0;
      this.late++;
    }
    w.sample(thread, time, s.wall[i], s.cpu[i], s.state[i], this.stack(ids, defs, s.stack[i]), labels);
    this.samples++;
    if (at > this.last) this.last = at;
  }

  /** A stream's first sample in this window: the window's metadata is the first stream's, each process gets its stream's. */
  private enter(src: WindowSource, defs: Profile): Ids {
    const meta = new Map<string, MetaValue>();
    for (const [k, v] of defs.meta) if (!RUN_ONLY.test(k)) meta.set(k, v);
    if (this.ids.size === 0) this.w.meta({ ...Object.fromEntries(meta), start_time: this.start });
    for (const sc of defs.scripts) {
      if (this.scripts.has(sc.file)) continue;
      this.scripts.add(sc.file);
      this.w.addScript(sc.file, sc.sourceMapUrl);
    }
    const ids: Ids = { processes: [], threads: [], functions: [], frames: [], stacks: [0], labels: [0], meta };
    this.ids.set(src, ids);
    return ids;
  }

  private process(ids: Ids, defs: Profile, id: number): number {
    let out = ids.processes[id];
    if (out === undefined) {
      const pr = defs.processes[id - 1];
      ids.processes[id] = out = this.w.addProcess(pr);
      const meta = new Map(ids.meta);
      for (const [k, v] of pr.meta) if (!RUN_ONLY.test(k)) meta.set(k, v);
      if (meta.size > 0) this.w.meta(Object.fromEntries(meta), out);
    }
    return out;
  }

  /** The output id of stream stack `id`, defining it and its ancestors (root first) on first use. */
  private stack(ids: Ids, defs: Profile, id: number): number {
    if (ids.stacks[id] !== undefined) return ids.stacks[id];
    const chain: number[] = [];
    let s = id;
    while (ids.stacks[s] === undefined) {
      chain.push(s);
      s = defs.stacks.parent[s];
    }
    let out = ids.stacks[s];
    for (let k = chain.length - 1; k >= 0; k--) {
      const c = chain[k];
      out = this.w.child(out, this.frame(ids, defs, defs.stacks.frame[c]));
      ids.stacks[c] = out;
    }
    return out;
  }

  private frame(ids: Ids, defs: Profile, id: number): number {
    let out = ids.frames[id];
    if (out === undefined) {
      const fr = defs.frames[id - 1];
      const gen = generatedPosition(fr);
      ids.frames[id] = out = this.w.frame(this.fn(ids, defs, fr.function), fr.tier, gen.line, gen.column, fr.source);
    }
    return out;
  }

  /** Functions that ran the same code share one id across processes, as in a merged profile. */
  private fn(ids: Ids, defs: Profile, id: number): number {
    let out = ids.functions[id];
    if (out === undefined) {
      const f = defs.functions[id - 1];
      const key = functionKey({ kind: f.kind, ...generatedFunction(f) });
      let shared = this.functionIds.get(key);
      if (shared === undefined) this.functionIds.set(key, (shared = this.w.addFunction(f)));
      ids.functions[id] = out = shared;
    }
    return out;
  }

  /** Ends the window at `end` (µs since the epoch) and returns it. */
  close(end: number): Window {
    this.w.end({ start_time: this.start, end_time: end, samples: this.samples });
    return { index: this.index, start: this.start, end, samples: this.samples, late: this.late, processes: this.processCount(), bytes: this.sink.bytes() };
  }

  private processCount(): number {
    let n = 0;
    for (const ids of this.ids.values()) n += ids.processes.filter((p) => p !== undefined).length;
    return n;
  }
}

/** Copies the samples at `idx` of `s` into new columns. */
function pick(s: Samples, idx: readonly number[]): Samples {
  const n = idx.length;
  const out: Samples = {
    count: n,
    thread: new Uint32Array(n),
    time: new Float64Array(n),
    wall: new Uint32Array(n),
    cpu: new Uint32Array(n),
    state: new Uint8Array(n),
    stack: new Uint32Array(n),
    labels: new Uint32Array(n),
  };
  for (let k = 0; k < n; k++) {
    const i = idx[k];
    out.thread[k] = s.thread[i];
    out.time[k] = s.time[i];
    out.wall[k] = s.wall[i];
    out.cpu[k] = s.cpu[i];
    out.state[k] = s.state[i];
    out.stack[k] = s.stack[i];
    out.labels[k] = s.labels[i];
  }
  return out;
}

/**
 * Cuts streams into windows. Feed each stream through its `WindowSource`, call `pump()` now and then
 * (each call hands the samples decoded so far to the window they belong to), `cut()` when the current
 * window is over (in practice a little after its end, once the processes had time to write its
 * samples), and `finish()` at the end of the recording.
 */
export class WindowCutter {
  private readonly sources: WindowSource[] = [];
  private builder: WindowBuilder;

  /**
   * `origin`: the start of window 0, µs since the Unix epoch; `every`: the length of a window, µs
   * (at least 1).
   */
  constructor(private readonly o: { origin: number; every: number }) {
    if (!(o.every >= 1) || !Number.isFinite(o.every)) throw new RangeError(`every must be a positive number of µs, got ${o.every}`);
    if (!Number.isFinite(o.origin)) throw new RangeError(`origin must be a time in µs since the epoch, got ${o.origin}`);
    this.builder = this.window(0);
  }

  /** Starts following a new stream (a process's profile); `name` appears in its errors. */
  addSource(name: string): WindowSource {
    const s = new WindowSource(name);
    this.sources.push(s);
    return s;
  }

  /** The window being filled: its index, start and nominal end (µs since the epoch). */
  get current(): { index: number; start: number; end: number } {
    return { index: this.builder.index, start: this.builder.start, end: this.builder.end };
  }

  /** True when every stream was read to its end (or is broken) and has nothing left for a later window. */
  get complete(): boolean {
    return this.sources.length > 0 && this.sources.every((s) => (s.complete || s.error !== undefined) && s.carry === undefined && s.decoder.sampleCount === 0);
  }

  /** Hands every sample decoded so far to its window: encoded into the current one, or kept for a later one. */
  pump(): void {
    for (const src of this.sources) {
      if (src.error) continue;
      const part = src.decoder.takeSamples();
      src.defs = part;
      let s = part.samples;
      if (src.carry) s = concat(src.carry, s);
      src.carry = undefined;
      this.route(src, s);
    }
  }

  private route(src: WindowSource, s: Samples): void {
    const defs = src.defs!;
    const origin = this.originOf(src);
    const end = this.builder.end;
    const later: number[] = [];
    for (let i = 0; i < s.count; i++) {
      const at = origin + s.time[i];
      if (at >= end) later.push(i);
      else this.builder.add(src, defs, s, i, at);
    }
    if (later.length > 0) src.carry = pick(s, later);
  }

  /**
   * Ends the current window at its nominal end and returns it (with `samples` 0 when none was
   * taken in it); the next window begins: the one that holds the earliest sample kept for later, or
   * the one after. Pumps first.
   */
  cut(): Window {
    this.pump();
    const done = this.builder.close(this.builder.end);
    // Normally the next window; when the samples kept for later are further on, the one that holds them.
    let first = Infinity;
    for (const src of this.sources) {
      const c = src.carry;
      if (!c) continue;
      const origin = this.originOf(src);
      for (let i = 0; i < c.count; i++) first = Math.min(first, origin + c.time[i]);
    }
    let next = this.builder.index + 1;
    if (first < Infinity) next = Math.max(next, Math.floor((first - this.o.origin) / this.o.every));
    this.builder = this.window(next);
    for (const src of this.sources) {
      const c = src.carry;
      if (!c || src.error) continue;
      src.carry = undefined;
      this.route(src, c);
    }
    return done;
  }

  /**
   * The recording ended at `end` (µs since the epoch): returns the windows still to come, the last
   * one ending at `end` (or at its last sample, if later). Windows without samples are included
   * only as the last one; callers skip windows whose `samples` is 0.
   */
  finish(end: number): Window[] {
    this.pump();
    const out: Window[] = [];
    while (this.sources.some((s) => s.carry !== undefined)) out.push(this.cut());
    const b = this.builder;
    out.push(b.close(Math.min(b.end, Math.max(end, b.start, b.last))));
    this.builder = this.window(b.index + 1);
    return out;
  }

  /** The epoch time of a stream's sample time 0: its `start_time`, else the cutter's origin. */
  private originOf(src: WindowSource): number {
    const t = src.defs?.meta.get("start_time");
    return typeof t === "number" ? t : this.o.origin;
  }

  private window(index: number): WindowBuilder {
    const start = this.o.origin + index * this.o.every;
    return new WindowBuilder(index, start, start + this.o.every);
  }
}

/** `a` then `b`, as new columns. */
function concat(a: Samples, b: Samples): Samples {
  const n = a.count + b.count;
  const join = <T extends Uint32Array | Float64Array | Uint8Array>(x: T, y: T, make: (k: number) => T): T => {
    const out = make(n);
    out.set(x.subarray(0, a.count) as never);
    out.set(y.subarray(0, b.count) as never, a.count);
    return out;
  };
  return {
    count: n,
    thread: join(a.thread, b.thread, (k) => new Uint32Array(k)),
    time: join(a.time, b.time, (k) => new Float64Array(k)),
    wall: join(a.wall, b.wall, (k) => new Uint32Array(k)),
    cpu: join(a.cpu, b.cpu, (k) => new Uint32Array(k)),
    state: join(a.state, b.state, (k) => new Uint8Array(k)),
    stack: join(a.stack, b.stack, (k) => new Uint32Array(k)),
    labels: join(a.labels, b.labels, (k) => new Uint32Array(k)),
  };
}
