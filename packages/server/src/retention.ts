/**
 * Retention: `--retain DAYS` deletes profiles uploaded longer ago than that, `--max-bytes N` deletes
 * the oldest until what is stored fits; applied continuously (a pass at start, then on a timer and
 * soon after uploads), oldest first. A profile this server is reading (a download, an export, a
 * comparison, a merge) is skipped until it is no longer read; another server process on the same
 * database reads a profile's bytes in one query, so a deletion there either comes first (404) or
 * after the bytes are read.
 */
import type { Store } from "./store.js";

/** What to keep. */
export interface RetentionOptions {
  /** Days a profile is kept after its upload (fractions allowed); undefined: no age limit. */
  retainDays?: number;
  /** Most bytes stored (the profiles' stored sizes); undefined: no size limit. */
  maxBytes?: number;
}

/** Profiles being read by this process, counted (the same profile may be read twice at once). */
export class Readers {
  private readonly counts = new Map<string, number>();

  /** Marks `id` read until the returned function is called. */
  hold(id: string): () => void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.counts.get(id) ?? 1) - 1;
      if (n <= 0) this.counts.delete(id);
      else this.counts.set(id, n);
    };
  }

  /** True while `id` is read. */
  has(id: string): boolean {
    return this.counts.has(id);
  }
}

/** Rows looked at per step of a pass. */
const BATCH = 500;

/** Applies RetentionOptions to a store, continuously. */
export class Retention {
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly store: Store,
    private readonly o: RetentionOptions,
    private readonly readers: Readers,
    private readonly log: (line: string) => void,
  ) {}

  /** True when there is anything to apply. */
  get active(): boolean {
    return this.o.retainDays !== undefined || this.o.maxBytes !== undefined;
  }

  /** How often a pass runs, ms: every minute, or a quarter of a short retention (at least a second). */
  get intervalMs(): number {
    const retainMs = this.o.retainDays !== undefined ? this.o.retainDays * 86_400_000 : Infinity;
    return Math.max(1000, Math.min(60_000, retainMs / 4));
  }

  /** Runs a pass now, then one every intervalMs. */
  start(): void {
    if (!this.active) return;
    void this.pass();
    this.timer = setInterval(() => void this.pass(), this.intervalMs);
    this.timer.unref();
  }

  /** Asks for a pass soon (after an upload: a size limit is kept without waiting for the timer). */
  poke(): void {
    if (!this.active || this.o.maxBytes === undefined || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.pass();
    }, 100);
    this.soon.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    await this.running;
  }

  /** One pass (never two at once): deletes what is too old, then the oldest until the size fits. Resolves to what it deleted. */
  pass(): Promise<{ deleted: number; bytes: number }> {
    if (this.running) return this.running as Promise<{ deleted: number; bytes: number }>;
    const run = this.run()
      .catch((e: Error) => {
        this.log(`retention: ${e.message}`);
        return { deleted: 0, bytes: 0 };
      })
      .finally(() => {
        this.running = undefined;
      });
    this.running = run;
    return run;
  }

  private async run(): Promise<{ deleted: number; bytes: number }> {
    let deleted = 0;
    let bytes = 0;
    const cutoff = this.o.retainDays !== undefined ? Date.now() - this.o.retainDays * 86_400_000 : -Infinity;
    let total = this.o.maxBytes !== undefined ? await this.store.totalBytes() : 0;
    const over = () => this.o.maxBytes !== undefined && total > this.o.maxBytes;
    // Oldest first: each batch is what is now oldest; profiles being read are passed over.
    for (let skip = 0; ; ) {
      const batch = (await this.store.oldest(skip + BATCH)).slice(skip);
      let progressed = false;
      for (const r of batch) {
        if (r.uploadedAt >= cutoff && !over()) return { deleted, bytes };
        if (this.readers.has(r.id)) {
          skip++;
          continue;
        }
        if (await this.store.delete(r.id)) {
          deleted++;
          bytes += r.size;
          total -= r.size;
        }
        progressed = true;
      }
      if (batch.length < BATCH || !progressed) return { deleted, bytes };
    }
  }
}
