/**
 * Continuous profiling's sending side: recordings followed while they are written come in (one
 * stream per process, through `addSource`), one profile per window goes out to vmprof-server or
 * Pyroscope with `upload()`. vmprof-record --every and @vmprof/native's startContinuous both drive it.
 *
 * Never in the way of the program: nothing here throws once started (every problem is a warning
 * line), uploads go one at a time in the background, and memory is bounded: the WindowCutter holds
 * the definitions, the current window encoded and the samples of the grace period; at most
 * `maxQueued` windows wait to be sent besides the one being sent, and a newer window pushes out the
 * oldest waiting one (with a warning) when the server is slower than the windows come. A window whose
 * upload fails after its retries is dropped with one warning; while windows are being dropped, the
 * next ones get one attempt each (a server that is down does not make them queue up behind retries);
 * after a few drops in a row, further ones are counted and reported when an upload gets through again
 * (or at the end), not one line each.
 */
import { WindowCutter, type Window, type WindowSource } from "@vmprof/format";
import { UploadError, UploadUsageError, upload } from "./upload.js";

/** Shortest window, seconds: shorter ones would be mostly the grace period and the upload. */
export const MIN_EVERY_S = 1;
/** Longest window, seconds: a window is held in memory (encoded) until it is cut. */
export const MAX_EVERY_S = 3600;

/** What to send where, and how often. */
export interface ContinuousOptions {
  /** The server's base URL. */
  url: string;
  token?: string;
  /** "vmprof": vmprof-server's API; "pyroscope": Pyroscope's /ingest (each window as pprof, with its time range). */
  to: "vmprof" | "pyroscope";
  /** Profile name; default as `upload()`'s: the recorded command (vmprof), "vmprof-node.cpu" (Pyroscope). */
  name?: string;
  /** Sent with every window. */
  labels?: Record<string, string>;
  /** Window length, seconds (MIN_EVERY_S to MAX_EVERY_S). */
  every: number;
  /** Start of the first window, µs since the Unix epoch; default: now. */
  origin?: number;
  /** Warnings and notes, one line each (the caller prefixes them with its name). */
  log: (line: string) => void;
  /** Windows that may wait to be sent besides the one being sent (default 3). */
  maxQueued?: number;
  /**
   * Attempts per window on connection errors and 5xx (default 3), and the first backoff, ms, doubled
   * each retry (default 1000, or a quarter of the window when shorter: the retries of one window end
   * before the next one comes).
   */
  attempts?: number;
  backoffMs?: number;
  /** How long one attempt may take, ms (default: twice the window, between 10 s and 120 s). */
  timeoutMs?: number;
  /** How long after a window's end its samples are waited for before it is cut, ms (default 2000: the sampler writes at least once a second). */
  graceMs?: number;
  /** Told of each window the server took, with its answer's URL. */
  onUploaded?: (w: WindowInfo, url: string) => void;
}

/** A window without its bytes. */
export type WindowInfo = Omit<Window, "bytes">;

/** What happened to the windows, for the caller's last line and for tests. */
export interface ContinuousStats {
  /** Windows cut that had samples (windows without any are not sent: `empty`). */
  windows: number;
  empty: number;
  uploaded: number;
  /** Dropped after their retries failed (or a 4xx answer). */
  failed: number;
  /** Pushed out of the queue by newer windows, or still unsent when `finish` stopped waiting. */
  overflowed: number;
  /** Samples in the windows cut, and in those uploaded. */
  samples: number;
  uploadedSamples: number;
  /** Samples written after their window was cut (in the next window instead). */
  late: number;
  /** Most windows held at once (waiting and being sent), and most bytes. */
  maxHeld: number;
  maxHeldBytes: number;
}

/** Failures in a row shown one line each before the rest of the streak is only counted. */
const SHOWN_FAILURES = 3;

/** Time of day of an epoch time in µs, UTC, to the second: "12:00:10Z". */
function clock(us: number): string {
  return `${new Date(Math.floor(us / 1000)).toISOString().slice(11, 19)}Z`;
}

/** Describes a window in a warning: "window 3 (12:00:30Z-12:00:40Z, 9876 samples)". */
function describe(w: WindowInfo): string {
  return `window ${w.index} (${clock(w.start)}-${clock(w.end)}, ${w.samples} samples)`;
}

/** Checks what would make every upload fail the same way; throws UploadUsageError naming it. */
function checkOptions(o: ContinuousOptions): void {
  let u: URL;
  try {
    u = new URL(o.url);
  } catch {
    throw new UploadUsageError(`--upload: "${o.url}" is not a URL (e.g. http://127.0.0.1:8000)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new UploadUsageError(`--upload: "${o.url}" is not http or https`);
  if (o.to !== "vmprof" && o.to !== "pyroscope") throw new UploadUsageError(`--to: expected vmprof or pyroscope, got "${String(o.to)}"`);
  if (!(o.every >= MIN_EVERY_S && o.every <= MAX_EVERY_S)) throw new UploadUsageError(`--every: expected ${MIN_EVERY_S} to ${MAX_EVERY_S} seconds, got ${o.every}`);
  if (o.to === "pyroscope") {
    for (const [k, v] of Object.entries(o.labels ?? {})) {
      if (/[{},=]/.test(k + v)) throw new UploadUsageError(`--label ${k}=${v}: Pyroscope labels cannot contain { } , or =`);
    }
  }
}

/** Cuts followed recordings into windows and sends each; see the file's comment. */
export class ContinuousUploader {
  private readonly cutter: WindowCutter;
  private readonly sources: WindowSource[] = [];
  private readonly reported = new Set<WindowSource>();
  private readonly queue: Window[] = [];
  private inFlight?: Window;
  private sending?: Promise<void>;
  private readonly abort = new AbortController();
  private readonly graceUs: number;
  private lastPump = 0;
  /** Windows dropped since the last successful upload, and how many of them were shown. */
  private streak = 0;
  private shown = 0;
  private finished = false;
  readonly stats: ContinuousStats = { windows: 0, empty: 0, uploaded: 0, failed: 0, overflowed: 0, samples: 0, uploadedSamples: 0, late: 0, maxHeld: 0, maxHeldBytes: 0 };

  /** Throws UploadUsageError for options that could never work (a bad URL, `every` out of range, Pyroscope-invalid labels). */
  constructor(private readonly o: ContinuousOptions) {
    checkOptions(o);
    this.cutter = new WindowCutter({ origin: o.origin ?? Date.now() * 1000, every: Math.round(o.every * 1e6) });
    this.graceUs = (o.graceMs ?? 2000) * 1000;
  }

  /** Starts following a process's recording; feed its bytes, in order, to the returned source's `push`. */
  addSource(name: string): WindowSource {
    const s = this.cutter.addSource(name);
    this.sources.push(s);
    return s;
  }

  /** The window being filled: index, start and nominal end, µs since the epoch. */
  get current(): { index: number; start: number; end: number } {
    return this.cutter.current;
  }

  /**
   * Call often (every 100 ms to 1 s): hands the samples decoded so far to their windows (at most once
   * a second) and cuts and queues every window whose end is `grace` behind `now` (µs since the epoch).
   */
  tick(now = Date.now() * 1000): void {
    if (this.finished) return;
    let due = now >= this.cutter.current.end + this.graceUs;
    if (due || now - this.lastPump >= 1e6) {
      this.cutter.pump();
      this.lastPump = now;
    }
    while (due) {
      this.enqueue(this.cutter.cut());
      due = now >= this.cutter.current.end + this.graceUs;
    }
    this.reportBroken();
  }

  /**
   * The recording ended at `end` (µs since the epoch; default now): cuts and queues the last windows,
   * then waits for the queue to be sent, at most `waitMs` (default 15 s); windows still unsent then
   * are dropped with one warning. Resolves to the stats; never rejects.
   */
  async finish(end = Date.now() * 1000, waitMs = 15_000): Promise<ContinuousStats> {
    if (!this.finished) {
      this.finished = true;
      for (const w of this.cutter.finish(end)) this.enqueue(w);
      this.reportBroken();
    }
    if (this.sending) {
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([this.sending.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), waitMs)))]);
      clearTimeout(timer);
      if (late) {
        const left = this.queue.length + (this.inFlight ? 1 : 0);
        this.stats.overflowed += left;
        this.queue.length = 0;
        this.abort.abort();
        await this.sending;
        this.o.log(`${left} window${left === 1 ? "" : "s"} still unsent ${+(waitMs / 1000).toFixed(1)} s after the end: dropped`);
      }
    }
    if (this.streak > this.shown) this.o.log(`${this.streak} windows in a row were not sent (${this.streak - this.shown} of them not shown above)`);
    this.streak = this.shown = 0;
    return this.stats;
  }

  private reportBroken(): void {
    for (const s of this.sources) {
      if (s.error && !this.reported.has(s)) {
        this.reported.add(s);
        this.o.log(`${s.error.message}: what follows in it is left out of the windows`);
      }
    }
  }

  private enqueue(w: Window): void {
    this.stats.late += w.late;
    if (w.samples === 0) {
      this.stats.empty++;
      return;
    }
    this.stats.windows++;
    this.stats.samples += w.samples;
    const max = this.o.maxQueued ?? 3;
    while (this.queue.length >= max) {
      const old = this.queue.shift()!;
      this.stats.overflowed++;
      this.dropped(`${describe(old)} not sent: the server takes longer than the windows come (${max} wait at most); dropped`);
    }
    this.queue.push(w);
    const held = this.queue.length + (this.inFlight ? 1 : 0);
    const bytes = this.queue.reduce((n, q) => n + q.bytes.length, this.inFlight?.bytes.length ?? 0);
    this.stats.maxHeld = Math.max(this.stats.maxHeld, held);
    this.stats.maxHeldBytes = Math.max(this.stats.maxHeldBytes, bytes);
    this.sending ??= this.send().finally(() => (this.sending = undefined));
  }

  /** Sends queued windows one at a time, oldest first, until the queue is empty. Never rejects. */
  private async send(): Promise<void> {
    for (let w = this.queue.shift(); w; w = this.queue.shift()) {
      this.inFlight = w;
      // While windows are being dropped the server is down or refusing: one attempt each, so that
      // retries of one window do not make the next ones wait (and be pushed out) behind it.
      const attempts = this.streak > 0 ? 1 : (this.o.attempts ?? 3);
      try {
        const r = await upload({
          url: this.o.url,
          token: this.o.token,
          name: this.o.name,
          labels: this.o.labels,
          to: this.o.to,
          input: w.bytes,
          source: `window ${w.index}`,
          attempts,
          backoffMs: this.o.backoffMs ?? Math.min(1000, 250 * this.o.every),
          timeoutMs: this.o.timeoutMs ?? Math.min(120_000, Math.max(10_000, 2000 * this.o.every)),
          signal: this.abort.signal,
        });
        this.stats.uploaded++;
        this.stats.uploadedSamples += w.samples;
        if (this.streak > this.shown) this.o.log(`uploads go through again, after ${this.streak} windows were dropped (${this.streak - this.shown} of them not shown above)`);
        this.streak = this.shown = 0;
        const { bytes: _b, ...info } = w;
        try {
          this.o.onUploaded?.(info, r.url);
        } catch {
          // the caller's own problem must not stop the uploads
        }
      } catch (e) {
        if (this.abort.signal.aborted) break;
        this.stats.failed++;
        const why = e instanceof UploadError || e instanceof UploadUsageError ? e.message : `unexpected error: ${(e as Error)?.message ?? String(e)}`;
        this.dropped(`${describe(w)} not sent (${attempts === 1 ? "1 attempt" : `${attempts} attempts`}): ${why}; dropped`);
      } finally {
        this.inFlight = undefined;
      }
    }
  }

  /** One warning line for a dropped window, while the streak of drops is short; counted after. */
  private dropped(line: string): void {
    this.streak++;
    if (this.shown < SHOWN_FAILURES) {
      this.shown++;
      this.o.log(this.shown === SHOWN_FAILURES ? `${line} (further drops are counted, and reported when an upload goes through or at the end)` : line);
    }
  }
}
