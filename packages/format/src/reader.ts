/**
 * The decoder of our format. `ProfileDecoder` takes bytes in chunks of any size (a whole file, or what
 * a pipe delivers while the recorder still writes) and builds the model as records complete;
 * `snapshot()` gives the profile decoded so far without ending it (a live view of a growing file);
 * `decodeProfile` decodes bytes held in memory (gzip or not) and `decodeStream` chunks as they come.
 * Reading files, stdin and other formats is the convert package's one read path (readAnyProfile);
 * `readProfileSync` stays for the recorder, which merges the per-process files it has just written.
 *
 * Contract: for any input, either a Profile is returned (with `truncation` set when the input ended
 * before the END record) or a ProfileFormatError is thrown. Nothing else is thrown; memory is bounded
 * by the input (record lengths, counts and inflated sizes are checked against what the bytes can hold).
 */
import { readFileSync } from "node:fs";
import { constants as zc, gunzipSync, inflateRawSync } from "node:zlib";
import { ByteReader, PayloadError } from "./bytes.js";
import {
  FUNCTION_KIND_NAMES,
  FunctionKind,
  HEADER_SIZE,
  MAGIC,
  MAX_BATCH_SAMPLES,
  MAX_RECORD_LENGTH,
  MetaKind,
  RECORD_NAMES,
  RecordType,
  SampleEncoding,
  THREAD_KIND_NAMES,
  ThreadKind,
  TIER_NAMES,
  Tier,
  VERSION_MAJOR,
  VM_STATE_NAMES,
  VmState,
} from "./constants.js";
import { ProfileFormatError } from "./errors.js";
import type { MetaValue, Profile, Truncation } from "./model.js";
import { emptyProfile } from "./model.js";

/**
 * Upper bound of the encoded size of one sample in a SAMPLES body: 5 varints of 8 bytes and a state
 * byte (1.0), and since 1.2 a label-set run of a varint and a run byte.
 */
const MAX_SAMPLE_BYTES = 50;

function recordName(type: number): string {
  return RECORD_NAMES[type] ?? `unknown (type ${type})`;
}

/** Builds a Profile from chunks of the uncompressed format. */
export class ProfileDecoder {
  private readonly p: Profile;
  /** Bytes kept from earlier chunks that do not yet form a complete record. */
  private pending = new Uint8Array(0);
  private pendingLen = 0;
  /** Absolute offset of pending[0] (or of the next chunk when nothing is pending). */
  private base = 0;
  private headerDone = false;
  private ended = false;
  /** Absolute offset where a run of zero bytes began (a crash can leave a zero-filled tail), or -1. */
  private zeroTail = -1;
  private readonly threadLast: number[] = [];
  private sampleCap = 0;
  /** Samples handed over by the last takeSamples(): the size of the next arrays, so a steady stream allocates once per take. */
  private capHint = 0;
  private stackCap = 1;

  constructor(readonly source = "<memory>") {
    this.p = emptyProfile(source);
  }

  /** Samples decoded so far. */
  get sampleCount(): number {
    return this.p.samples.count;
  }

  /** Feeds the next bytes. Throws ProfileFormatError as soon as the input is known to be bad. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.pendingLen === 0) {
      const used = this.parse(chunk, 0, chunk.length);
      this.keep(chunk, used, chunk.length);
    } else {
      this.append(chunk);
      const used = this.parse(this.pending, 0, this.pendingLen);
      this.pending.copyWithin(0, used, this.pendingLen);
      this.pendingLen -= used;
      this.base += used;
    }
  }

  /** Bytes taken so far (by `push`), including those of an incomplete record held back. */
  get bytesRead(): number {
    return this.base + this.pendingLen;
  }

  /** True once the END record has been decoded: the input is complete (anything after it is corruption). */
  get complete(): boolean {
    return this.ended;
  }

  /**
   * The profile decoded so far, without ending the decoder: what `finish()` would return now, with
   * `truncation` set unless the END record was read ("header" before the header is complete, which is
   * not an error here: a live reader polls before the writer has written anything).
   *
   * Contract: the snapshot is consistent (every id a sample or stack refers to is defined in it) and
   * immutable by later pushes. Its sample and stack columns are views of the decoder's arrays cut at
   * the current counts: a later push only writes past those counts (or into new, larger arrays), so
   * the snapshot's elements never change. Its lists (processes, threads, functions, frames, scripts)
   * and metadata maps are copies; the objects in the lists are shared and are never mutated by the
   * decoder (a FUNCTION_SOURCE or FRAME_SOURCES record replaces its object instead). A caller must not
   * modify the snapshot either. After `push` has thrown, the decoder (and so a later snapshot) is in an
   * undefined state and must not be used. Cost: O(functions + frames + threads), no sample is copied.
   */
  snapshot(): Profile {
    const p = this.p;
    const s = p.samples;
    const n = s.count;
    const st = p.stacks;
    const snap: Profile = {
      ...p,
      version: [p.version[0], p.version[1]],
      meta: new Map(p.meta),
      processes: p.processes.map((pr) => ({ ...pr, meta: new Map(pr.meta) })),
      threads: p.threads.slice(),
      functions: p.functions.slice(),
      frames: p.frames.slice(),
      scripts: p.scripts.slice(),
      labelSets: p.labelSets.slice(),
      stacks: { count: st.count, parent: st.parent.subarray(0, st.count), frame: st.frame.subarray(0, st.count) },
      samples: {
        count: n,
        thread: s.thread.subarray(0, n),
        time: s.time.subarray(0, n),
        wall: s.wall.subarray(0, n),
        cpu: s.cpu.subarray(0, n),
        state: s.state.subarray(0, n),
        stack: s.stack.subarray(0, n),
        labels: s.labels.subarray(0, n),
      },
    };
    delete snap.truncation;
    const t = this.truncation();
    if (t) snap.truncation = t;
    return snap;
  }

  /**
   * Hands over the samples decoded so far and forgets them, so that a reader following a stream for
   * hours (continuous profiling) holds only the samples since its last call: returns what `snapshot()`
   * returns now (definitions, metadata, truncation), whose sample columns are then the decoder's no
   * more: the decoder starts new arrays (sized like the ones handed over) for the samples that follow.
   * Definitions (processes, threads, functions, frames, stacks, label sets) and metadata stay, and
   * later samples may refer to any of them; the per-thread time checks go on across calls. Afterwards
   * `sampleCount`, `snapshot()` and `finish()` count only the samples decoded since. Snapshots taken
   * earlier keep their contract (their columns are never written again). Cost: that of `snapshot()`.
   */
  takeSamples(): Profile {
    const snap = this.snapshot();
    const s = this.p.samples;
    const taken = s.count;
    // Fresh arrays, allocated by the next batch: the handed-over ones may still be read by the caller.
    s.thread = new Uint32Array(0);
    s.time = new Float64Array(0);
    s.wall = new Uint32Array(0);
    s.cpu = new Uint32Array(0);
    s.state = new Uint8Array(0);
    s.stack = new Uint32Array(0);
    s.labels = new Uint32Array(0);
    s.count = 0;
    this.sampleCap = 0;
    this.capHint = taken;
    return snap;
  }

  /** Ends the input and returns the profile, with `truncation` set when it was incomplete. */
  finish(): Profile {
    const p = this.p;
    const s = p.samples;
    const n = s.count;
    s.thread = s.thread.subarray(0, n);
    s.time = s.time.subarray(0, n);
    s.wall = s.wall.subarray(0, n);
    s.cpu = s.cpu.subarray(0, n);
    s.state = s.state.subarray(0, n);
    s.stack = s.stack.subarray(0, n);
    s.labels = s.labels.subarray(0, n);
    p.stacks.parent = p.stacks.parent.subarray(0, p.stacks.count);
    p.stacks.frame = p.stacks.frame.subarray(0, p.stacks.count);
    if (this.bytesRead === 0) throw this.error("EMPTY", "empty input, not a vmprof profile", -1);
    const t = this.truncation();
    if (t) p.truncation = t;
    return p;
  }

  /** Where and why the input decoded so far is incomplete; undefined once the END record was read. */
  private truncation(): Truncation | undefined {
    const total = this.bytesRead;
    const n = this.p.samples.count;
    if (!this.headerDone) return this.cut(total, "header", 0);
    if (this.zeroTail >= 0) return this.cut(this.zeroTail, "zero-filled tail", this.zeroTail);
    if (this.pendingLen > 0) return this.cut(total, recordName(this.pending[0]), this.base);
    if (this.ended) return undefined;
    return { offset: total, inside: "end", message: `${this.source}: truncated at byte ${total} (no end record); read ${n} samples before it` };
  }

  private cut(total: number, inside: string, at: number): Truncation {
    const what = inside === "header" || inside === "zero-filled tail" ? `the ${inside}` : `${/^[aeiou]/.test(inside) ? "an" : "a"} ${inside} record`;
    return {
      offset: at,
      inside,
      message: `${this.source}: truncated at byte ${total} inside ${what} starting at byte ${at}; read ${this.p.samples.count} samples before it`,
    };
  }

  private keep(chunk: Uint8Array, from: number, to: number): void {
    this.base += from;
    this.pendingLen = 0;
    if (to > from) this.append(chunk.subarray(from, to));
  }

  private append(chunk: Uint8Array): void {
    const need = this.pendingLen + chunk.length;
    if (need > this.pending.length) {
      const next = new Uint8Array(Math.max(need, this.pending.length * 2, 4096));
      next.set(this.pending.subarray(0, this.pendingLen));
      this.pending = next;
    }
    this.pending.set(chunk, this.pendingLen);
    this.pendingLen = need;
  }

  private error(code: ProfileFormatError["code"], what: string, offset: number): ProfileFormatError {
    const msg = code === "BAD_MAGIC" ? `not a vmprof profile (bad magic) in ${this.source}` : `${this.source}: ${what}`;
    return new ProfileFormatError(code, msg, this.source, offset);
  }

  /** Parses complete records in buf[start, end); returns how many bytes were consumed. */
  private parse(buf: Uint8Array, start: number, end: number): number {
    let pos = start;
    if (this.zeroTail >= 0) {
      for (let i = pos; i < end; i++) {
        if (buf[i] !== 0) throw this.error("CORRUPT", `record type 0 at byte ${this.zeroTail} (expected a record type)`, this.zeroTail);
      }
      return end;
    }
    if (!this.headerDone) {
      const n = Math.min(end - pos, HEADER_SIZE);
      for (let i = 0; i < Math.min(n, MAGIC.length); i++) {
        if (buf[pos + i] !== MAGIC[i]) throw this.error("BAD_MAGIC", "", 0);
      }
      if (n < HEADER_SIZE) return start;
      const major = buf[pos + 8];
      const minor = buf[pos + 9];
      if (major > VERSION_MAJOR) {
        throw this.error(
          "NEWER_VERSION",
          `written by format version ${major}.${minor}; this reader reads version ${VERSION_MAJOR}.x (upgrade vmprof)`,
          8,
        );
      }
      if (major === 0) throw this.error("CORRUPT", "format version 0 at byte 8 (expected 1)", 8);
      this.p.version = [major, minor];
      this.headerDone = true;
      pos += HEADER_SIZE;
    }
    while (pos < end) {
      const abs = this.base + (pos - start);
      if (this.ended) throw this.error("CORRUPT", `data after the end record at byte ${abs}`, abs);
      const type = buf[pos];
      if (type === 0) {
        this.zeroTail = abs;
        return this.parse(buf, pos, end);
      }
      // The length varint: up to 4 bytes (MAX_RECORD_LENGTH < 2^28).
      let len = 0;
      let q = pos + 1;
      let shift = 1;
      let done = false;
      for (let i = 0; i < 4 && q < end; i++) {
        const b = buf[q++];
        len += (b & 0x7f) * shift;
        shift *= 128;
        if (b < 0x80) {
          done = true;
          break;
        }
      }
      if (!done) {
        if (q - pos - 1 >= 4) throw this.error("CORRUPT", `bad record length at byte ${abs + 1}`, abs + 1);
        return pos; // the length itself is not complete yet
      }
      if (len > MAX_RECORD_LENGTH) {
        throw this.error("CORRUPT", `${recordName(type)} record at byte ${abs} declares ${len} bytes (limit ${MAX_RECORD_LENGTH})`, abs);
      }
      if (q + len > end) return pos;
      try {
        this.record(type, buf, q, q + len);
      } catch (e) {
        if (e instanceof PayloadError) {
          const at = this.base + (e.at - start);
          throw this.error("CORRUPT", `bad ${recordName(type)} record at byte ${abs}: ${e.message} (byte ${at})`, at);
        }
        throw e;
      }
      pos = q + len;
    }
    return pos;
  }

  private record(type: number, buf: Uint8Array, start: number, end: number): void {
    const r = new ByteReader(buf, start, end);
    const p = this.p;
    switch (type) {
      case RecordType.META: {
        const scope = r.uvarint();
        if (scope > p.processes.length) throw new PayloadError(`meta for undefined process ${scope}`, start);
        const target = scope === 0 ? p.meta : p.processes[scope - 1].meta;
        const n = this.count(r, 2);
        for (let i = 0; i < n; i++) {
          const key = r.string();
          const kind = r.u8();
          let v: MetaValue;
          if (kind === MetaKind.STRING) v = r.string();
          else if (kind === MetaKind.INT) v = r.svarint();
          else if (kind === MetaKind.FLOAT) v = r.f64();
          else if (kind === MetaKind.STRINGS) {
            const m = this.count(r, 1);
            v = [];
            for (let j = 0; j < m; j++) v.push(r.string());
          } else throw new PayloadError(`unknown meta value kind ${kind}`, r.pos - 1);
          target.set(key, v);
        }
        return;
      }
      case RecordType.PROCESS: {
        const pid = r.uvarint();
        const ppid = r.uvarint();
        const startTime = r.uvarint();
        const name = r.string();
        p.processes.push({ id: p.processes.length + 1, pid, ppid, startTime, name, meta: new Map() });
        return;
      }
      case RecordType.THREAD: {
        const process = r.uvarint();
        if (process < 1 || process > p.processes.length) throw new PayloadError(`thread of undefined process ${process}`, start);
        const tid = r.uvarint();
        const name = r.string();
        const kind = r.u8();
        p.threads.push({
          id: p.threads.length + 1,
          process,
          tid,
          name,
          kind: (kind < THREAD_KIND_NAMES.length ? kind : ThreadKind.OTHER) as ThreadKind,
        });
        this.threadLast.push(0);
        return;
      }
      case RecordType.FUNCTION: {
        const kind = r.u8();
        const name = r.string();
        const file = r.string();
        const line = r.uvarint();
        const column = r.uvarint();
        p.functions.push({
          id: p.functions.length + 1,
          kind: (kind < FUNCTION_KIND_NAMES.length ? kind : FunctionKind.OTHER) as FunctionKind,
          name,
          file,
          line,
          column,
        });
        return;
      }
      case RecordType.FRAME: {
        const fn = r.uvarint();
        if (fn < 1 || fn > p.functions.length) throw new PayloadError(`frame of undefined function ${fn}`, start);
        const tier = r.u8();
        // Version 1.0 frames end here: their position is unknown.
        const line = r.pos < r.end ? r.uvarint() : 0;
        const column = r.pos < r.end ? r.uvarint() : 0;
        p.frames.push({ id: p.frames.length + 1, function: fn, tier: (tier < TIER_NAMES.length ? tier : Tier.UNKNOWN) as Tier, line, column });
        return;
      }
      case RecordType.SCRIPT: {
        const file = r.string();
        const sourceMapUrl = r.string();
        p.scripts.push({ file, sourceMapUrl });
        return;
      }
      case RecordType.FUNCTION_SOURCE: {
        const fn = r.uvarint();
        if (fn < 1 || fn > p.functions.length) throw new PayloadError(`source of undefined function ${fn}`, start);
        const name = r.string();
        const file = r.string();
        const line = r.uvarint();
        const column = r.uvarint();
        // Replaced, not mutated: snapshots taken earlier share the old object.
        p.functions[fn - 1] = { ...p.functions[fn - 1], source: { name, file, line, column } };
        return;
      }
      case RecordType.FRAME_SOURCES: {
        const n = this.count(r, 4);
        for (let i = 0; i < n; i++) {
          const frame = r.uvarint();
          if (frame < 1 || frame > p.frames.length) throw new PayloadError(`source of undefined frame ${frame}`, r.pos);
          const line = r.uvarint();
          const column = r.uvarint();
          const file = r.string();
          p.frames[frame - 1] = { ...p.frames[frame - 1], source: { file, line, column } };
        }
        return;
      }
      case RecordType.LABELS: {
        const n = this.count(r, 1);
        for (let i = 0; i < n; i++) {
          const id = p.labelSets.length + 1;
          const pairs = this.count(r, 2);
          const set: [string, string][] = [];
          for (let j = 0; j < pairs; j++) {
            const key = r.string();
            const value = r.string();
            if (key === "") throw new PayloadError(`label set ${id} has an empty key`, r.pos);
            if (set.some(([k]) => k === key)) throw new PayloadError(`label set ${id} has key "${key}" twice`, r.pos);
            set.push([key, value]);
          }
          set.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
          p.labelSets.push(set);
        }
        return;
      }
      case RecordType.STACKS: {
        const n = this.count(r, 2);
        const st = p.stacks;
        if (st.count + n > this.stackCap) {
          this.stackCap = Math.max(st.count + n, this.stackCap * 2);
          const parent = new Uint32Array(this.stackCap);
          parent.set(st.parent.subarray(0, st.count));
          const frame = new Uint32Array(this.stackCap);
          frame.set(st.frame.subarray(0, st.count));
          st.parent = parent;
          st.frame = frame;
        }
        const frames = p.frames.length;
        for (let i = 0; i < n; i++) {
          const id = st.count;
          const back = r.uvarint();
          const frame = r.uvarint();
          const parent = id - back;
          if (back < 1 || back > id) throw new PayloadError(`stack ${id} has a parent ${back} back, before the first stack`, r.pos);
          if (frame < 1 || frame > frames) throw new PayloadError(`stack ${id} has undefined frame ${frame}`, r.pos);
          st.parent[id] = parent;
          st.frame[id] = frame;
          st.count++;
        }
        return;
      }
      case RecordType.SAMPLES:
        this.samples(r, start);
        return;
      case RecordType.END:
        this.ended = true;
        return;
      default:
        return; // Unknown record types are skipped by their length (SPEC.md, "Compatibility").
    }
  }

  /** Reads a count and checks that the remaining payload can hold that many items of minBytes each. */
  private count(r: ByteReader, minBytes: number): number {
    const at = r.pos;
    const n = r.uvarint();
    if (n * minBytes > r.remaining) throw new PayloadError(`count ${n} exceeds what the record can hold`, at);
    return n;
  }

  private samples(r: ByteReader, start: number): void {
    const p = this.p;
    const thread = r.uvarint();
    if (thread < 1 || thread > p.threads.length) throw new PayloadError(`samples of undefined thread ${thread}`, start);
    const countAt = r.pos;
    const n = r.uvarint();
    if (n < 1 || n > MAX_BATCH_SAMPLES) throw new PayloadError(`sample count ${n} out of range 1..${MAX_BATCH_SAMPLES}`, countAt);
    const encoding = r.u8();
    const period = r.uvarint();
    let b: ByteReader;
    if (encoding === SampleEncoding.PLAIN) {
      b = r;
    } else if (encoding === SampleEncoding.DEFLATE) {
      let body: Uint8Array;
      try {
        body = inflateRawSync(r.buf.subarray(r.pos, r.end), { maxOutputLength: n * MAX_SAMPLE_BYTES + 16 });
      } catch (e) {
        throw new PayloadError(`bad deflate data (${(e as Error).message})`, r.pos);
      }
      b = new ByteReader(body);
    } else {
      throw new PayloadError(`unknown sample encoding ${encoding}`, r.pos - 1);
    }
    // Every value of the body is a uvarint: decode them all in one tight loop, then read columns.
    const v = decodeVarints(b.buf, b.pos, b.end, b.pos);
    const nv = v.length;
    this.reserveSamples(n);
    const s = p.samples;
    const base = s.count;
    const { time, wall, cpu, state, stack, labels } = s;
    const stackCount = p.stacks.count;
    let k = 0;
    const bad = (what: string) => new PayloadError(`${what} (value ${k} of the samples body)`, b.pos);
    if (nv < 3 * n + 2) throw bad("samples body too short");
    // Columns 1-3 (time steps, wall, cpu) have n values each: read them in one pass.
    let t = v[0];
    if (t < this.threadLast[thread - 1]) throw bad(`sample time goes back on thread ${thread}`);
    let step = period;
    for (let i = 0; i < n; i++) {
      if (i > 0) {
        step = unzig(v[i]) + period;
        t += step;
      }
      const w = unzig(v[n + i]) + step;
      const c = unzig(v[2 * n + i]) + w;
      if (step < 0 || w < 0 || c < 0) {
        k = step < 0 ? i : w < 0 ? n + i : 2 * n + i;
        throw bad(step < 0 ? `sample time goes back on thread ${thread}` : w < 0 ? "negative wall weight" : "negative cpu weight");
      }
      time[base + i] = t;
      wall[base + i] = w > 0xffffffff ? 0xffffffff : w;
      cpu[base + i] = c > 0xffffffff ? 0xffffffff : c;
    }
    k = 3 * n;
    for (let i = 0; i < n; ) {
      if (k + 2 > nv) throw bad("samples body ends inside the VM states");
      let st = v[k++];
      const run = v[k++];
      if (run < 1 || run > n - i) throw bad(`VM state run of ${run} does not fit ${n} samples`);
      if (st >= VM_STATE_NAMES.length) st = VmState.OTHER;
      // Runs are mostly short: a loop costs less than a call to fill for each.
      if (run < 32) for (let j = base + i; j < base + i + run; j++) state[j] = st;
      else state.fill(st, base + i, base + i + run);
      i += run;
    }
    if (k + n > nv) throw bad("samples body ends inside the stacks");
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const sid = prev + unzig(v[k++]);
      if (sid < 0 || sid >= stackCount) throw bad(`sample refers to undefined stack ${sid}`);
      stack[base + i] = sid;
      prev = sid;
    }
    // Since 1.2: label sets as runs, absent when no sample of the batch has one.
    if (k < nv && p.version[1] >= 2) {
      const sets = p.labelSets.length;
      for (let i = 0; i < n; ) {
        if (k + 2 > nv) throw bad("samples body ends inside the label sets");
        const set = v[k++];
        const run = v[k++];
        if (run < 1 || run > n - i) throw bad(`label set run of ${run} does not fit ${n} samples`);
        if (set > sets) throw bad(`sample refers to undefined label set ${set}`);
        labels.fill(set, base + i, base + i + run);
        i += run;
      }
    } else {
      labels.fill(0, base, base + n);
    }
    s.thread.fill(thread, base, base + n);
    this.threadLast[thread - 1] = t;
    s.count += n;
  }

  /** Sizes the sample arrays for n more samples up front (a hint; they still grow when needed). */
  expectSamples(n: number): void {
    this.reserveSamples(n, true);
  }

  private reserveSamples(n: number, exact = false): void {
    const s = this.p.samples;
    if (s.count + n <= this.sampleCap) return;
    const cap = exact ? s.count + n : Math.max(s.count + n, this.sampleCap * 2, this.capHint, 1024);
    const grow = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, make: (k: number) => T): T => {
      const next = make(cap);
      next.set(a.subarray(0, s.count) as never);
      return next;
    };
    s.thread = grow(s.thread, (k) => new Uint32Array(k));
    s.time = grow(s.time, (k) => new Float64Array(k));
    s.wall = grow(s.wall, (k) => new Uint32Array(k));
    s.cpu = grow(s.cpu, (k) => new Uint32Array(k));
    s.state = grow(s.state, (k) => new Uint8Array(k));
    s.stack = grow(s.stack, (k) => new Uint32Array(k));
    s.labels = grow(s.labels, (k) => new Uint32Array(k));
    this.sampleCap = cap;
  }
}

/** Zigzag decoding; the bit trick is exact below 2^31. */
function unzig(u: number): number {
  return u < 0x80000000 ? (u >>> 1) ^ -(u & 1) : u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

let scratch = new Float64Array(1 << 16);

/**
 * Decodes buf[pos, end) as consecutive uvarints into a shared scratch array (valid until the next
 * call). `at` is the offset reported in errors.
 */
function decodeVarints(buf: Uint8Array, pos: number, end: number, at: number): Float64Array {
  if (scratch.length < end - pos) scratch = new Float64Array(Math.max(end - pos, scratch.length * 2));
  const out = scratch;
  let k = 0;
  let p = pos;
  while (p < end) {
    let b = buf[p++];
    if (b < 0x80) {
      out[k++] = b;
      continue;
    }
    let v = b & 0x7f;
    let mul = 128;
    for (;;) {
      if (p >= end) throw new PayloadError("samples body ends inside a varint", at);
      b = buf[p++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 128;
      if (mul > 2 ** 49) throw new PayloadError("varint longer than 8 bytes in the samples body", at);
    }
    if (v > Number.MAX_SAFE_INTEGER) throw new PayloadError("varint out of range in the samples body", at);
    out[k++] = v;
  }
  return out.subarray(0, k);
}

/**
 * Counts the samples that complete SAMPLES records in `bytes` declare, reading only record headers,
 * so a whole-buffer read can size its arrays once. Stops quietly at anything odd; the real parse
 * reports it.
 */
function countSamples(bytes: Uint8Array): number {
  let total = 0;
  let pos = HEADER_SIZE;
  while (pos < bytes.length) {
    const type = bytes[pos];
    const r = new ByteReader(bytes, pos + 1, Math.min(bytes.length, pos + 6));
    let len: number;
    try {
      len = r.uvarint();
    } catch {
      break;
    }
    const start = r.pos;
    if (type === 0 || len > MAX_RECORD_LENGTH || start + len > bytes.length) break;
    if (type === RecordType.SAMPLES) {
      try {
        const q = new ByteReader(bytes, start, start + len);
        q.uvarint();
        const n = q.uvarint();
        if (n <= MAX_BATCH_SAMPLES) total += n;
      } catch {
        break;
      }
    }
    pos = start + len;
  }
  return total;
}

const GZIP = [0x1f, 0x8b];

function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === GZIP[0] && b[1] === GZIP[1];
}

/** Un-gzips a whole buffer, keeping what a truncated gzip stream yields. */
function gunzipTolerant(bytes: Uint8Array, source: string): Uint8Array {
  try {
    return gunzipSync(bytes, { finishFlush: zc.Z_SYNC_FLUSH });
  } catch (e) {
    throw new ProfileFormatError("CORRUPT", `${source}: not valid gzip data (${(e as Error).message})`, source);
  }
}

/** Decodes a whole profile held in memory (gzip or not). */
export function decodeProfile(bytes: Uint8Array, source = "<memory>"): Profile {
  const d = new ProfileDecoder(source);
  const raw = isGzip(bytes) ? gunzipTolerant(bytes, source) : bytes;
  d.expectSamples(countSamples(raw));
  d.push(raw);
  return d.finish();
}

function ioError(e: unknown, source: string): ProfileFormatError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.code === "EISDIR" ? "is a directory" : err.message;
  return new ProfileFormatError("IO", `${source}: ${why}`, source);
}

/** Reads one profile file of our format (gzip or not) synchronously: the recorder's merge of per-process files. */
export function readProfileSync(input: string | Uint8Array, source?: string): Profile {
  if (typeof input !== "string") return decodeProfile(input, source);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(input);
  } catch (e) {
    throw ioError(e, source ?? input);
  }
  return decodeProfile(bytes, source ?? input);
}

/**
 * Decodes our format (not gzipped) from chunks as they arrive, e.g. a pipe from a live
 * `vmprof-record -o -`. Resolves to the Profile (see `truncation`); rejects with ProfileFormatError
 * for bad input (code "IO" when the stream itself fails). Other formats and gzip are the convert
 * package's read path, which hands this helper the chunks once it has seen our magic.
 */
export async function decodeStream(chunks: AsyncIterable<Uint8Array | string>, source = "<stdin>"): Promise<Profile> {
  const d = new ProfileDecoder(source);
  try {
    for await (const c of chunks) d.push(typeof c === "string" ? Buffer.from(c) : c);
  } catch (e) {
    if (e instanceof ProfileFormatError) throw e;
    throw ioError(e, source);
  }
  return d.finish();
}
