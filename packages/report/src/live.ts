/**
 * `vmprof-report --live`: follows a profile of our format while it is written (a pipe such as
 * `vmprof-record -o - ... | vmprof-report --live`, or a file that grows, read from the last offset as
 * `tail -f` does) and redraws --top or --flat every interval, like `py-spy top`.
 *
 * The bytes go into one ProfileDecoder as they arrive; each redraw takes its snapshot (no copy of the
 * samples) and builds the view with the report's own buildView and renderView, so the live view is the
 * same table the report prints for a whole file. On a terminal it redraws in place on the alternate
 * screen and leaves the final view on the normal screen; elsewhere it prints one complete view per
 * interval in which data arrived, each after a line `# <ISO time> · <source> · N samples · T s`.
 *
 * Ends: at the end of a pipe, after an END record, or when a file has not grown for STALL_SECONDS
 * (one note on stderr): the final view, exit 0. Ctrl-C: the final view, exit 0. SIGTERM: the
 * terminal restored, exit 143. Bad input (no such file, not our uncompressed format, corrupt bytes, a
 * file replaced or cut while read): one line on stderr, exit 2.
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync, statSync } from "node:fs";
import type { Readable } from "node:stream";
import { ProfileDecoder, ProfileFormatError, RunningAggregate, SelectionError, applySources, defaultWeight, type Profile, type Weight } from "@vmprof/format";
import { ReportUsageError, buildView, renderView, type LiveOptions, type ReportOptions } from "./report.js";
import type { View } from "./views.js";

/** A file that has not grown for this many seconds and has no END record is shown as it is, with a note. */
export const STALL_SECONDS = 5;

/** How often a followed file is checked for growth, ms. */
const POLL_MS = 100;

/** Most bytes read from a file in one poll, so a file written faster than it is decoded still lets the view redraw. */
const MAX_READ_PER_POLL = 64 << 20;

/**
 * A redraw may take at most this share of the time: when re-aggregating a large profile costs more,
 * redraws are spaced out (the status line says so) so the viewer does not compete with what it watches.
 */
const MAX_BUSY = 0.2;

/** Lines above the view on a terminal: the status line and a blank line. */
const HEADER_LINES = 2;

const CSI = "\x1b[";
const SCREEN = {
  enter: `${CSI}?1049h${CSI}?25l`,
  leave: `${CSI}?25h${CSI}?1049l`,
  home: `${CSI}H`,
  clearLine: `${CSI}K`,
  clearBelow: `${CSI}J`,
};

/** An output stream that may be a terminal (process.stdout). */
type Out = NodeJS.WritableStream & { rows?: number; columns?: number };

/** Why following stopped. */
type End = "end-record" | "eof" | "stalled" | "interrupted";

/** Where the bytes come from: started once, stopped once (idempotent). */
interface Feed {
  start(): void;
  stop(): void;
}

/**
 * Follows `o.input` (a path, or "-"/absent for `o.stdin`) and redraws the view `o.view` (top or flat)
 * to `out` every `live.interval` seconds until the input ends; messages go to `err`, prefixed
 * "vmprof-report: ". Resolves to the exit status: 0 at the end of the input or on SIGINT, 2 for bad
 * input (one line), 143 on SIGTERM. Installs SIGINT and SIGTERM handlers while it runs.
 */
export function runLive(o: ReportOptions, live: LiveOptions, out: Out, err: NodeJS.WritableStream): Promise<number> {
  return new Promise((resolve) => new LiveView(o, live, out, err, resolve).start());
}

class LiveView {
  private readonly source: string;
  private readonly decoder: ProfileDecoder;
  private feed?: Feed;
  private timer?: NodeJS.Timeout;
  private done = false;
  private onScreen = false;
  /** Samples whose times were folded into `oldest`/`newest`. */
  private seen = 0;
  private oldest = Infinity;
  private newest = -Infinity;
  /** decoder.bytesRead when the last view was printed (non-terminal output prints only views with news). */
  private printedAt = -1;
  /** performance.now() before which no redraw starts (MAX_BUSY); and the spacing that implies, s. */
  private nextDrawAt = 0;
  private spacing = 0;
  /** The terminal's last body and what it showed (bytes read, rows, columns): unchanged input is not re-aggregated. */
  private screen?: { key: string; body: string[] };
  /** The selection aggregated so far (no window), under the weight it was made for. */
  private running?: { weight: Weight; agg: RunningAggregate };
  private readonly signals: [NodeJS.Signals, () => void][];
  private readonly restoreOnExit = () => this.leaveScreen();
  private readonly redrawOnResize = () => !this.done && this.drawScreen();

  constructor(
    private readonly o: ReportOptions,
    private readonly live: LiveOptions,
    private readonly out: Out,
    private readonly err: NodeJS.WritableStream,
    private readonly resolve: (status: number) => void,
  ) {
    this.source = o.input === undefined || o.input === "-" ? "<stdin>" : o.input;
    this.decoder = new ProfileDecoder(this.source);
    this.signals = [
      ["SIGINT", () => this.finish("interrupted")],
      ["SIGTERM", () => this.stop(143)],
    ];
  }

  start(): void {
    for (const [sig, fn] of this.signals) process.on(sig, fn);
    process.on("exit", this.restoreOnExit);
    if (this.live.terminal) this.out.on?.("resize", this.redrawOnResize);
    try {
      this.feed = this.openFeed();
    } catch (e) {
      if (!(e instanceof ReportUsageError)) throw e;
      this.fail(e.message);
      return;
    }
    this.feed.start();
    if (!this.done) this.timer = setInterval(() => this.tick(), this.live.interval * 1000);
  }

  /** The feed for the input: a regular file is followed by offset; a pipe, FIFO or terminal is read as a stream. */
  private openFeed(): Feed {
    const chunk = (b: Uint8Array) => this.push(b);
    const input = this.o.input;
    if (input === undefined || input === "-") {
      const stdin = this.o.stdin as Readable & { isTTY?: boolean; fd?: number };
      if (input === undefined && stdin.isTTY) throw new ReportUsageError("no profile given: name a file, or pipe one in (vmprof-record -o - -- node app.js | vmprof-report --live)");
      // `< file` makes stdin a regular file: follow it like a named one.
      if (stdin.fd === 0 && isRegularFd(0)) return new FileFeed(0, undefined, this.source, chunk, (why) => this.finish(why), (m) => this.fail(m), false);
      return new StreamFeed(stdin, this.source, chunk, () => this.finish("eof"), (m) => this.fail(m));
    }
    let st;
    try {
      st = statSync(input);
    } catch (e) {
      throw new ReportUsageError(`${input}: ${ioReason(e)}`);
    }
    if (st.isDirectory()) throw new ReportUsageError(`${input}: is a directory`);
    if (!st.isFile()) return new StreamFeed(createReadStream(input), this.source, chunk, () => this.finish("eof"), (m) => this.fail(m));
    let fd: number;
    try {
      fd = openSync(input, "r");
    } catch (e) {
      throw new ReportUsageError(`${input}: ${ioReason(e)}`);
    }
    return new FileFeed(fd, input, this.source, chunk, (why) => this.finish(why), (m) => this.fail(m), true);
  }

  /** Decodes the next bytes; the input ends at the END record. */
  private push(b: Uint8Array): void {
    if (this.done) return;
    if (this.decoder.bytesRead === 0 && b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b)
      return this.fail(`${this.source}: gzip-compressed; --live reads vmprof's own uncompressed format (gunzip it, or drop --live)`);
    try {
      this.decoder.push(b);
    } catch (e) {
      if (!(e instanceof ProfileFormatError)) throw e;
      return this.fail(e.code === "BAD_MAGIC" ? `${this.source}: not a vmprof profile; --live reads vmprof's own uncompressed format (read pprof, JSON and the others without --live)` : e.message);
    }
    if (this.decoder.complete) this.finish("end-record");
  }

  private tick(): void {
    if (this.done || performance.now() < this.nextDrawAt) return;
    const t0 = performance.now();
    if (this.live.terminal) this.drawScreen();
    else if (this.decoder.bytesRead !== this.printedAt && this.decoder.bytesRead > 0) this.printView(false);
    const cost = performance.now() - t0;
    this.spacing = cost / MAX_BUSY > this.live.interval * 1000 ? cost / MAX_BUSY / 1000 : 0;
    this.nextDrawAt = t0 + cost / MAX_BUSY;
  }

  /** The profile so far, with the sources it holds applied, and its time span folded in. */
  private snapshot(): Profile {
    const snap = this.decoder.snapshot();
    const { time, count } = snap.samples;
    for (let i = this.seen; i < count; i++) {
      const t = time[i];
      if (t < this.oldest) this.oldest = t;
      if (t > this.newest) this.newest = t;
    }
    this.seen = count;
    return this.o.sources?.apply === false ? snap : applySources(snap);
  }

  /** The options of one redraw: the window as a time range from the newest sample, and the rows that fit. */
  private viewOptions(limit: number | undefined, width: number): ReportOptions {
    const sel = this.o.selection ?? {};
    const window = this.live.window;
    const from = window !== undefined && this.seen > 0 ? Math.max(sel.from ?? -Infinity, this.newest - window * 1e6) : sel.from;
    return { ...this.o, selection: { ...sel, from: from === -Infinity ? undefined : from }, limit, width, json: false };
  }

  /** "<source> · N samples · T s · window W s": what the view covers. */
  private headline(p: Profile): string {
    const span = this.seen > 0 ? (this.newest - this.oldest) / 1e6 : 0;
    const window = this.live.window !== undefined ? ` · window ${this.live.window} s` : "";
    return `${this.source} · ${p.samples.count} samples · ${span.toFixed(1)} s${window}`;
  }

  /**
   * The view's text, or the reason it cannot be shown yet (a thread not in the profile so far).
   * Without a window the selection is aggregated incrementally (only the samples that arrived since
   * the last redraw); a window moves its time range, and --by-label splits the samples by value, so
   * then they are aggregated on each redraw.
   */
  private render(p: Profile, o: ReportOptions): { text: string; view?: View } | { problem: string } {
    try {
      let aggregate;
      if (this.live.window === undefined && o.byLabel === undefined) {
        const weight = o.weight ?? defaultWeight(p);
        if (this.running?.weight !== weight) this.running = { weight, agg: new RunningAggregate({ weight, selection: o.selection, filter: o.filter }) };
        aggregate = this.running.agg.update(p);
      }
      const view = buildView(p, o, { aggregate });
      return { text: renderView(view, p, o), view };
    } catch (e) {
      if (e instanceof ReportUsageError || e instanceof SelectionError) return { problem: e.message };
      throw e;
    }
  }

  /** One complete view after a "#" header line (no cursor codes): non-terminal output, and the final view on a terminal. */
  private printView(final: boolean, note = ""): boolean {
    const p = this.snapshot();
    const width = this.live.terminal ? this.out.columns ?? 0 : 0;
    const r = this.render(p, this.viewOptions(this.o.limit, width));
    if ("problem" in r && final) {
      this.fail(r.problem);
      return false;
    }
    this.printedAt = this.decoder.bytesRead;
    const header = `# ${new Date().toISOString()} · ${this.headline(p)}${note}`;
    this.out.write(`${header}\n${"problem" in r ? `(${r.problem})\n` : r.text}`);
    return true;
  }

  /** Redraws the terminal in place: status line, then the view cut to the terminal's rows and columns. */
  private drawScreen(): void {
    const rows = Math.max(1, this.out.rows ?? 24);
    const columns = Math.max(1, this.out.columns ?? 80);
    const room = Math.max(0, rows - HEADER_LINES);
    const p = this.snapshot();
    const clock = new Date().toTimeString().slice(0, 8);
    const spaced = this.spacing > 0 ? ` · redrawn every ${this.spacing.toFixed(1)} s (a large profile)` : "";
    const status = `vmprof-report --live · ${this.headline(p)}${spaced} · ${clock} · Ctrl-C to quit`;
    const key = `${this.decoder.bytesRead}:${rows}:${columns}`;
    if (this.screen?.key !== key) {
      let body: string[];
      if (this.decoder.bytesRead === 0) body = [`waiting for ${this.source}…`];
      else {
        const o = this.viewOptions(Math.min(this.o.limit ?? room, Math.max(1, room)), columns);
        const r = this.render(p, o);
        body = "problem" in r ? [`(${r.problem})`] : fitRows(r.view!, r.text, room, (v) => renderView(v, p, o));
      }
      this.screen = { key, body };
    }
    const lines = [cut(status, columns), "", ...this.screen.body].slice(0, rows);
    if (!this.onScreen) {
      this.out.write(SCREEN.enter);
      this.onScreen = true;
    }
    this.out.write(SCREEN.home + lines.map((l) => l + SCREEN.clearLine).join("\r\n") + SCREEN.clearBelow);
  }

  private leaveScreen(): void {
    if (!this.onScreen) return;
    this.onScreen = false;
    this.out.write(SCREEN.leave);
  }

  /** The input ended (or Ctrl-C): the final view, a note when it ended without an END record, exit 0. */
  private finish(why: End): void {
    if (this.done) return;
    this.leaveScreen();
    if (this.decoder.bytesRead === 0) {
      if (why === "interrupted") return this.stop(0);
      return this.fail(`${this.source}: empty input, no profile`);
    }
    const stalled = why === "stalled" ? ` (stopped growing for ${STALL_SECONDS} s without an end record)` : "";
    if (!this.printView(true, why === "interrupted" ? " · interrupted" : why === "stalled" ? stalled : " · end")) return;
    const t = this.decoder.snapshot().truncation;
    if (why === "stalled") this.err.write(`vmprof-report: ${this.source}: stopped growing for ${STALL_SECONDS} s without an end record; showing what it holds\n`);
    else if (why === "eof" && t) this.err.write(`vmprof-report: warning: ${t.message}; showing what it holds\n`);
    this.stop(0);
  }

  /** Bad input: the terminal restored, one line on stderr, exit 2. */
  private fail(message: string): void {
    if (this.done) return;
    this.leaveScreen();
    this.err.write(`vmprof-report: ${message}\n`);
    this.stop(2);
  }

  /** Releases the input, the timer and the handlers, restores the terminal, and resolves with `status`. */
  private stop(status: number): void {
    if (this.done) return;
    this.done = true;
    this.leaveScreen();
    clearInterval(this.timer);
    this.feed?.stop();
    for (const [sig, fn] of this.signals) process.off(sig, fn);
    process.off("exit", this.restoreOnExit);
    this.out.removeListener?.("resize", this.redrawOnResize);
    this.resolve(status);
  }
}

/**
 * The text of `view` in at most `room` lines: rows are dropped from the end of the table (counted as
 * omitted) until the table, its headings and its summary fit; on a very short terminal the text is cut.
 */
function fitRows(view: View, text: string, room: number, render: (v: View) => string): string[] {
  let lines = text.replace(/\n$/, "").split("\n");
  if (lines.length > room && (view.view === "top" || view.view === "flat")) {
    // Taking k rows off adds a "... N more functions" line when there was none.
    const fixed = lines.length - view.functions.length + (view.omitted === 0 ? 1 : 0);
    const keep = Math.max(0, Math.min(view.functions.length, room - fixed));
    const fitted = { ...view, functions: view.functions.slice(0, keep), omitted: view.omitted + view.functions.length - keep };
    lines = render(fitted).replace(/\n$/, "").split("\n");
  }
  return lines.slice(0, room);
}

/** A line cut to `columns` characters (plain text, no escape codes). */
function cut(s: string, columns: number): string {
  const chars = [...s];
  return chars.length <= columns ? s : chars.slice(0, Math.max(0, columns - 1)).join("") + "…";
}

function isRegularFd(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

function ioReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.code === "EISDIR" ? "is a directory" : err.message;
}

/** A pipe, FIFO or terminal: chunks as they come, until its end. */
class StreamFeed implements Feed {
  private stopped = false;
  constructor(
    private readonly stream: Readable,
    private readonly source: string,
    private readonly chunk: (b: Uint8Array) => void,
    private readonly end: () => void,
    private readonly fail: (message: string) => void,
  ) {}

  start(): void {
    this.stream.on("data", (c: Uint8Array | string) => this.chunk(typeof c === "string" ? Buffer.from(c) : c));
    this.stream.on("end", () => !this.stopped && this.end());
    this.stream.on("error", (e: Error) => !this.stopped && this.fail(`${this.source}: ${ioReason(e)}`));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stream.removeAllListeners("data");
    this.stream.pause();
    this.stream.destroy();
  }
}

/**
 * A regular file followed as `tail -f` follows it: read from the last offset every POLL_MS. A file
 * that shrinks, or whose path names another file than the one opened, is an error; one removed while
 * read is read to its end. STALL_SECONDS without growth ends the input ("stalled").
 */
class FileFeed implements Feed {
  private offset = 0;
  private lastGrowth = Date.now();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly buf = Buffer.allocUnsafe(1 << 20);

  constructor(
    private readonly fd: number,
    /** The path, to notice the file being replaced; undefined for stdin. */
    private readonly path: string | undefined,
    private readonly source: string,
    private readonly chunk: (b: Uint8Array) => void,
    private readonly end: (why: "stalled") => void,
    private readonly fail: (message: string) => void,
    private readonly close: boolean,
  ) {}

  start(): void {
    this.poll();
  }

  private poll(): void {
    if (this.stopped) return;
    try {
      for (let got = 0; got < MAX_READ_PER_POLL && !this.stopped; ) {
        const n = readSync(this.fd, this.buf, 0, this.buf.length, this.offset);
        if (n === 0) break;
        this.offset += n;
        got += n;
        this.lastGrowth = Date.now();
        // The decoder copies what it keeps, so the buffer is reused.
        this.chunk(this.buf.subarray(0, n));
      }
      if (this.stopped) return;
      const st = fstatSync(this.fd);
      if (st.size < this.offset) return this.fail(`${this.source}: shrank from ${this.offset} to ${st.size} bytes while being read (truncated or rewritten)`);
      if (this.path !== undefined) {
        let now;
        try {
          now = statSync(this.path);
        } catch {
          now = undefined; // removed: what is open can still be read to its end
        }
        if (now && (now.ino !== st.ino || now.dev !== st.dev)) return this.fail(`${this.source}: replaced by another file while being read`);
      }
    } catch (e) {
      return this.fail(`${this.source}: ${ioReason(e)}`);
    }
    if (Date.now() - this.lastGrowth >= STALL_SECONDS * 1000) return this.end("stalled");
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.close) closeSync(this.fd);
  }
}
