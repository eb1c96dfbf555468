/**
 * The streaming writer. Definitions (functions, frames, stacks, threads...) are encoded as they are
 * added; samples are buffered per thread and written as SAMPLES records of up to `batchSize` samples
 * or on flush(), always after the definitions they refer to, so every prefix of the output is
 * self-contained. Writes are synchronous, so a recording process can flush from a signal or exit
 * handler.
 */
import { openSync, writeSync, closeSync } from "node:fs";
import { deflateRawSync } from "node:zlib";
import { ByteWriter } from "./bytes.js";
import { frameKey } from "./keys.js";
import { canonicalLabels } from "./labels.js";
import { PairMap } from "./pairmap.js";
import {
  FunctionKind,
  HEADER_SIZE,
  MAGIC,
  MAX_BATCH_SAMPLES,
  MetaKind,
  RecordType,
  SampleEncoding,
  ThreadKind,
  Tier,
  VERSION_MAJOR,
  VERSION_MINOR,
  VM_STATE_NAMES,
} from "./constants.js";
import type { MetaValue, SourceFunction, SourcePosition } from "./model.js";

/** Where the writer sends bytes. `write` must consume the whole chunk before returning. */
export interface Sink {
  write(bytes: Uint8Array): void;
  close?(): void;
}

/** A Sink that writes to a file descriptor or a path (created or truncated) with blocking writes. */
export function fileSink(target: number | string): Sink {
  const fd = typeof target === "number" ? target : openSync(target, "w");
  return {
    write(bytes) {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    },
    close() {
      if (typeof target !== "number") closeSync(fd);
    },
  };
}

/** A Sink that keeps everything in memory; `bytes()` returns what was written. */
export function memorySink(): Sink & { bytes(): Uint8Array } {
  const out = new ByteWriter(1 << 12);
  return {
    write: (b) => out.bytes(b),
    bytes: () => out.view().slice(),
  };
}

export interface WriterOptions {
  /** Deflate the column body of SAMPLES records (SPEC.md encoding 1). Default true. */
  compress?: boolean;
  /** Samples per thread buffered before a SAMPLES record is written. Default 4096, at most 65536. */
  batchSize?: number;
}

interface ThreadBuffer {
  count: number;
  /** Time of the last sample written or buffered, to check monotonicity. */
  lastTime: number;
  time: Float64Array;
  wall: Float64Array;
  cpu: Float64Array;
  state: Uint8Array;
  stack: Uint32Array;
  labels: Uint32Array;
}

/** Encodes a profile incrementally to a Sink. Methods throw RangeError on misuse. */
export class ProfileWriter {
  private readonly out = new ByteWriter(1 << 16);
  private readonly payload = new ByteWriter(1 << 12);
  private readonly body = new ByteWriter(1 << 14);
  private readonly compress: boolean;
  private readonly batchSize: number;
  private processCount = 0;
  private readonly threads: ThreadBuffer[] = [];
  private functionCount = 0;
  private readonly frameIds = new Map<number | string, number>();
  private readonly pendingFrameSources = new ByteWriter(1 << 10);
  private pendingFrameSourceCount = 0;
  private frameCount = 0;
  /** Stack ids by (parent stack, frame). */
  private readonly stackIds = new PairMap();
  private stackCount = 0;
  private readonly pendingStacks = new ByteWriter(1 << 12);
  private pendingStackCount = 0;
  /** Label set ids by their canonical text. */
  private readonly labelSetIds = new Map<string, number>();
  private ended = false;
  /** Samples accepted so far. */
  samplesWritten = 0;

  constructor(
    private readonly sink: Sink,
    options: WriterOptions = {},
  ) {
    this.compress = options.compress ?? true;
    this.batchSize = options.batchSize ?? 4096;
    if (!(this.batchSize >= 1 && this.batchSize <= MAX_BATCH_SAMPLES)) {
      throw new RangeError(`batchSize must be 1..${MAX_BATCH_SAMPLES}`);
    }
    const header = new Uint8Array(HEADER_SIZE);
    header.set(MAGIC);
    header[8] = VERSION_MAJOR;
    header[9] = VERSION_MINOR;
    this.out.bytes(header);
  }

  /** Writes metadata entries; `process` 0 for the whole profile, else a process id. Later values win. */
  meta(entries: Record<string, MetaValue>, process = 0): void {
    this.check();
    if (process !== 0) this.checkId(process, this.processCount, "process");
    const p = this.begin();
    const keys = Object.keys(entries);
    p.uvarint(process);
    p.uvarint(keys.length);
    for (const k of keys) {
      const v = entries[k];
      p.string(k);
      if (typeof v === "string") {
        p.u8(MetaKind.STRING);
        p.string(v);
      } else if (Array.isArray(v)) {
        p.u8(MetaKind.STRINGS);
        p.uvarint(v.length);
        for (const s of v) p.string(s);
      } else if (Number.isInteger(v) && Math.abs(v) < 2 ** 52) {
        p.u8(MetaKind.INT);
        p.svarint(v);
      } else {
        p.u8(MetaKind.FLOAT);
        p.f64(v);
      }
    }
    this.emit(RecordType.META);
  }

  /** Defines a process and returns its id. `startTime` is µs since the Unix epoch (0 unknown). */
  addProcess(p: { pid: number; ppid?: number; startTime?: number; name?: string }): number {
    this.check();
    const w = this.begin();
    w.uvarint(p.pid);
    w.uvarint(p.ppid ?? 0);
    w.uvarint(Math.round(p.startTime ?? 0));
    w.string(p.name ?? "");
    this.emit(RecordType.PROCESS);
    return ++this.processCount;
  }

  /** Defines a thread of a process and returns its id. */
  addThread(t: { process: number; tid: number; name?: string; kind?: ThreadKind }): number {
    this.check();
    this.checkId(t.process, this.processCount, "process");
    const w = this.begin();
    w.uvarint(t.process);
    w.uvarint(t.tid);
    w.string(t.name ?? "");
    w.u8(t.kind ?? ThreadKind.MAIN);
    this.emit(RecordType.THREAD);
    const n = this.batchSize;
    this.threads.push({
      count: 0,
      lastTime: 0,
      time: new Float64Array(n),
      wall: new Float64Array(n),
      cpu: new Float64Array(n),
      state: new Uint8Array(n),
      stack: new Uint32Array(n),
      labels: new Uint32Array(n),
    });
    return this.threads.length;
  }

  /**
   * Defines a function and returns its id. `line` and `column` are 1-based, 0 when unknown. A
   * function with a source-map origin (`source`) is written as the generated function (`generated`
   * when present, as after applySources, else the fields) plus a FUNCTION_SOURCE record.
   */
  addFunction(f: { kind?: FunctionKind; name: string; file?: string; line?: number; column?: number; source?: SourceFunction; generated?: SourceFunction }): number {
    this.check();
    const gen = f.generated ?? f;
    const src = f.source;
    const w = this.begin();
    w.u8(f.kind ?? FunctionKind.JS);
    w.string(gen.name);
    w.string(gen.file ?? "");
    w.uvarint(gen.line ?? 0);
    w.uvarint(gen.column ?? 0);
    this.emit(RecordType.FUNCTION);
    const id = ++this.functionCount;
    if (src) {
      const s = this.begin();
      s.uvarint(id);
      s.string(src.name);
      s.string(src.file);
      s.uvarint(src.line);
      s.uvarint(src.column);
      this.emit(RecordType.FUNCTION_SOURCE);
    }
    return id;
  }

  /** Records that the script `file` declared the source map `sourceMapUrl` (SCRIPT). */
  addScript(file: string, sourceMapUrl: string): void {
    this.check();
    const w = this.begin();
    w.string(file);
    w.string(sourceMapUrl);
    this.emit(RecordType.SCRIPT);
  }

  /**
   * Returns the id of the frame (function, tier, position), defining it on first use. `line` and
   * `column` (1-based, 0 unknown) are where the frame was executing; `source` is that position in the
   * source by a source map (file "" = the function's source file), written in a FRAME_SOURCES record.
   */
  frame(functionId: number, tier: Tier = Tier.UNKNOWN, line = 0, column = 0, source?: SourcePosition): number {
    this.check();
    this.checkId(functionId, this.functionCount, "function");
    const key = line === 0 && column === 0 ? frameKey(functionId, tier) : `${frameKey(functionId, tier)}:${line}:${column}`;
    let id = this.frameIds.get(key);
    if (id === undefined) {
      const w = this.begin();
      w.uvarint(functionId);
      w.u8(tier);
      w.uvarint(line);
      w.uvarint(column);
      this.emit(RecordType.FRAME);
      id = ++this.frameCount;
      this.frameIds.set(key, id);
      if (source) {
        const f = this.pendingFrameSources;
        f.uvarint(id);
        f.uvarint(source.line);
        f.uvarint(source.column);
        f.string(source.file);
        this.pendingFrameSourceCount++;
      }
    }
    return id;
  }

  /** Returns the id of stack `parent` + `frameId` (0 parent: a root frame), defining it on first use. */
  child(parent: number, frameId: number): number {
    this.check();
    if (parent !== 0) this.checkId(parent, this.stackCount, "stack");
    this.checkId(frameId, this.frameCount, "frame");
    let id = this.stackIds.get(parent, frameId);
    if (id === 0) {
      id = ++this.stackCount;
      // Stack definitions are collected into one STACKS record, written before any other record.
      this.pendingStacks.uvarint(id - parent);
      this.pendingStacks.uvarint(frameId);
      this.pendingStackCount++;
      this.stackIds.set(parent, frameId, id);
    }
    return id;
  }

  /** Returns the id of the stack made of `frameIds`, outermost first (0 for an empty list). */
  stack(frameIds: readonly number[]): number {
    let s = 0;
    for (const f of frameIds) s = this.child(s, f);
    return s;
  }

  /**
   * Returns the id of the label set made of `labels` (key=value pairs, in any order), defining it
   * (LABELS) on first use; 0 for no labels. Throws RangeError for an empty or repeated key.
   */
  labelSet(labels: Iterable<readonly [string, string]>): number {
    this.check();
    const pairs = canonicalLabels(labels);
    if (pairs.length === 0) return 0;
    const key = JSON.stringify(pairs);
    let id = this.labelSetIds.get(key);
    if (id === undefined) {
      const w = this.begin();
      w.uvarint(1);
      w.uvarint(pairs.length);
      for (const [k, v] of pairs) {
        w.string(k);
        w.string(v);
      }
      this.emit(RecordType.LABELS);
      id = this.labelSetIds.size + 1;
      this.labelSetIds.set(key, id);
    }
    return id;
  }

  /**
   * Adds one sample. `time` is µs since the profile origin, non-decreasing per thread; `wall` and
   * `cpu` are the sample's weights in µs (rounded to whole µs when written); `labels` a label set id
   * from `labelSet` (0: none).
   */
  sample(thread: number, time: number, wall: number, cpu: number, state: number, stack: number, labels = 0): void {
    this.check();
    this.checkId(thread, this.threads.length, "thread");
    if (stack !== 0) this.checkId(stack, this.stackCount, "stack");
    if (labels !== 0) this.checkId(labels, this.labelSetIds.size, "label set");
    if (!(state >= 0 && state < VM_STATE_NAMES.length && Number.isInteger(state))) {
      throw new RangeError(`bad VM state ${state}`);
    }
    const b = this.threads[thread - 1];
    const t = Math.round(time);
    if (!(t >= b.lastTime)) throw new RangeError(`sample time ${time} goes back (last ${b.lastTime}) on thread ${thread}`);
    if (!(wall >= 0 && cpu >= 0)) throw new RangeError("sample weights must be >= 0");
    const i = b.count++;
    b.lastTime = t;
    b.time[i] = t;
    b.wall[i] = Math.round(wall);
    b.cpu[i] = Math.round(cpu);
    b.state[i] = state;
    b.stack[i] = stack;
    b.labels[i] = labels;
    this.samplesWritten++;
    if (b.count === this.batchSize) this.writeBatch(thread, b);
  }

  /** Writes all buffered samples and hands every pending byte to the sink. */
  flush(): void {
    this.check();
    if (this.pendingFrameSourceCount > 0) this.emitFrameSources();
    if (this.pendingStackCount > 0) this.emitStacks();
    for (let t = 0; t < this.threads.length; t++) {
      if (this.threads[t].count > 0) this.writeBatch(t + 1, this.threads[t]);
    }
    this.drain();
  }

  /** Flushes, writes optional final metadata and the END record, and closes the sink. */
  end(finalMeta?: Record<string, MetaValue>): void {
    this.flush();
    if (finalMeta) this.meta(finalMeta);
    this.begin();
    this.emit(RecordType.END);
    this.drain();
    this.ended = true;
    this.sink.close?.();
  }

  private drain(): void {
    if (this.out.length > 0) {
      this.sink.write(this.out.view());
      this.out.reset();
    }
  }

  private writeBatch(thread: number, b: ThreadBuffer): void {
    const n = b.count;
    const { time, wall, cpu, state, stack, labels } = b;
    // The nominal period: the median time step, so that steps are encoded as small deviations.
    const steps = new Float64Array(Math.max(n - 1, 1));
    for (let i = 1; i < n; i++) steps[i - 1] = time[i] - time[i - 1];
    const period = n > 1 ? steps.sort()[(n - 1) >> 1] : wall[0];
    const body = this.body;
    body.reset();
    body.uvarint(time[0]);
    for (let i = 1; i < n; i++) body.svarint(time[i] - time[i - 1] - period);
    // Wall weight is normally exactly the time step: coded as the difference, it is almost always 0.
    body.svarint(wall[0] - period);
    for (let i = 1; i < n; i++) body.svarint(wall[i] - (time[i] - time[i - 1]));
    for (let i = 0; i < n; i++) body.svarint(cpu[i] - wall[i]);
    writeRuns(body, state, n);
    let prev = 0;
    for (let i = 0; i < n; i++) {
      body.svarint(stack[i] - prev);
      prev = stack[i];
    }
    // Label sets as runs, only when a sample of the batch has one (1.1 readers ignore the column).
    if (labels.subarray(0, n).some((l) => l !== 0)) writeRuns(body, labels, n);
    const p = this.begin();
    p.uvarint(thread);
    p.uvarint(n);
    p.u8(this.compress ? SampleEncoding.DEFLATE : SampleEncoding.PLAIN);
    p.uvarint(period);
    p.bytes(this.compress ? deflateRawSync(body.view(), { level: 6 }) : body.view());
    this.emit(RecordType.SAMPLES);
    b.count = 0;
    if (this.out.length >= 1 << 16) this.drain();
  }

  private begin(): ByteWriter {
    this.payload.reset();
    return this.payload;
  }

  private emit(type: number): void {
    if (type !== RecordType.FRAME && this.pendingFrameSourceCount > 0) this.emitFrameSources();
    if (this.pendingStackCount > 0) this.emitStacks();
    const p = this.payload.view();
    this.out.u8(type);
    this.out.uvarint(p.length);
    this.out.bytes(p);
  }

  private emitFrameSources(): void {
    this.emitCounted(RecordType.FRAME_SOURCES, this.pendingFrameSources, this.pendingFrameSourceCount);
    this.pendingFrameSourceCount = 0;
  }

  private emitStacks(): void {
    this.emitCounted(RecordType.STACKS, this.pendingStacks, this.pendingStackCount);
    this.pendingStackCount = 0;
  }

  /** Writes a record of `count` entries collected in `body` (count uvarint, then the entries) and empties `body`. */
  private emitCounted(type: number, body: ByteWriter, count: number): void {
    const head = new ByteWriter(8);
    head.uvarint(count);
    this.out.u8(type);
    this.out.uvarint(head.length + body.length);
    this.out.bytes(head.view());
    this.out.bytes(body.view());
    body.reset();
  }

  private check(): void {
    if (this.ended) throw new RangeError("the profile writer has ended");
  }

  private checkId(id: number, count: number, what: string): void {
    if (!(Number.isInteger(id) && id >= 1 && id <= count)) throw new RangeError(`unknown ${what} id ${id}`);
  }
}

/** Appends the first `n` values of `column` as (value, run length) pairs (SPEC.md: VM states, label sets). */
function writeRuns(body: ByteWriter, column: Uint8Array | Uint32Array, n: number): void {
  for (let i = 0; i < n; ) {
    const v = column[i];
    let j = i + 1;
    while (j < n && column[j] === v) j++;
    body.uvarint(v);
    body.uvarint(j - i);
    i = j;
  }
}
