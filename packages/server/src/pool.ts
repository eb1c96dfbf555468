/**
 * Reading uploads and writing exports off the event loop: a pool of worker threads, each running
 * parseUpload (decode, check, summarize, gzip) or exportStored (decode, export), so the server answers
 * other requests while profiles are parsed or converted and uses every core. The database stays on
 * the main thread.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ImportLimits, InputFormat, OutputFormat } from "vmprof-convert";
import type { CompareJob } from "./compare.js";
import type { MergeOutput } from "./merge.js";
import { HttpError, type Parsed } from "./profiles.js";

/** What a worker is asked: parseUpload's arguments. */
export interface ParseJob {
  body: Uint8Array;
  name?: string;
  labels?: Record<string, string>;
  source: string;
  format?: InputFormat;
  limits?: ImportLimits;
}

/** An export a worker is asked for: exportStored's arguments. */
export interface ExportJob {
  kind: "export";
  /** The stored profile (our format, gzipped). */
  data: Uint8Array;
  name: string;
  format: OutputFormat;
}

/** A comparison a worker is asked for: compareStored's job. */
export type CompareTask = CompareJob & { kind: "compare" };

/** One step of a merge (merge.ts MergeState), all steps of one merge on one worker. */
export type MergeTask =
  | { kind: "merge-start"; session: number; origin: number | undefined; count: number }
  | { kind: "merge-add"; session: number; data: Uint8Array; name: string }
  | { kind: "merge-end"; session: number; out: MergeOutput };

/** What a worker answers: the record and the bytes to store, an export's bytes, or the error to send. */
export type ParseAnswer =
  | { id: number; record: Parsed["record"]; data: Uint8Array }
  | { id: number; bytes: Uint8Array }
  | { id: number; error: { status: number; message: string } };

interface Slot {
  worker: Worker;
  busy: number;
}

/** A fixed number of parse workers with a queue; jobs go to the least busy worker. */
export class ParsePool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { resolve: (v: ParseAnswer) => void; reject: (e: Error) => void; slot: Slot }>();
  private next = 1;
  private closed = false;

  /** Starts `size` workers (default: one per core). */
  constructor(size = availableParallelism()) {
    for (let i = 0; i < Math.max(1, size); i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(new URL("./parse-worker.js", import.meta.url)), busy: 0 };
    slot.worker.on("message", (m: ParseAnswer) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      slot.busy--;
      if ("error" in m) p.reject(new HttpError(m.error.status, m.error.message));
      else p.resolve(m);
    });
    // A worker that dies fails its jobs with a 500 and is replaced.
    const fail = (why: string) => {
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.reject(new Error(`parse worker ${why}`));
      }
      const i = this.slots.indexOf(slot);
      if (i >= 0 && !this.closed) this.slots[i] = this.spawn();
    };
    slot.worker.on("error", (e) => fail(`failed: ${e.message}`));
    slot.worker.on("exit", (code) => {
      if (!this.closed) fail(`exited with ${code}`);
    });
    return slot;
  }

  /** Parses an upload in a worker. Rejects with HttpError for bad input, as parseUpload throws. */
  async parse(job: ParseJob): Promise<Omit<Parsed, "profile">> {
    const m = await this.run(job);
    if (!("record" in m)) throw new Error("parse worker answered no record");
    return { record: m.record, data: m.data };
  }

  /** A stored profile exported in a worker (exportStored's bytes). */
  async export(job: Omit<ExportJob, "kind">): Promise<Uint8Array> {
    const m = await this.run({ kind: "export" as const, ...job });
    if (!("bytes" in m)) throw new Error("export worker answered no bytes");
    return m.bytes;
  }

  private run(job: ParseJob | ExportJob | CompareTask | MergeTask, on?: Slot): Promise<ParseAnswer> {
    const slot = on ?? this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.next++;
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ id, job });
    });
  }

  /** Two stored profiles compared in a worker (compareStored's bytes). */
  async compare(job: CompareJob): Promise<Uint8Array> {
    const m = await this.run({ kind: "compare" as const, ...job });
    if (!("bytes" in m)) throw new Error("compare worker answered no bytes");
    return m.bytes;
  }

  /**
   * A merge of `count` stored profiles made in one worker, one profile at a time: add() each (resolves
   * once the worker has taken it, so one upload's bytes are in flight at once), then end().
   */
  mergeSession(origin: number | undefined, count: number): { add(data: Uint8Array, name: string): Promise<void>; end(out: MergeOutput): Promise<Uint8Array> } {
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const session = this.next++;
    const started = this.run({ kind: "merge-start", session, origin, count }, slot);
    return {
      add: async (data, name) => {
        await started;
        await this.run({ kind: "merge-add", session, data, name }, slot);
      },
      end: async (out) => {
        await started;
        const m = await this.run({ kind: "merge-end", session, out }, slot);
        if (!("bytes" in m)) throw new Error("merge worker answered no bytes");
        return m.bytes;
      },
    };
  }

  /** Stops the workers (after the server has finished its requests). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
