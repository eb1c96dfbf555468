/**
 * vmprof-record --every with a program: follows the files the profiled processes write into the
 * recording's directory (<pid>.prof, one per process, appearing as processes start) while they grow,
 * and feeds each to the continuous uploader as a stream of its own; the uploader cuts one profile per
 * window, with the samples of every process of that window (one upload per window, as one merged
 * profile is written at the end: the server lists one entry per window and Pyroscope one point).
 *
 * Reads are plain positioned reads of what was appended since the last look, four times a second:
 * the program's processes never wait for us (they write their files as without --every), and what
 * we hold is what the uploader holds (ContinuousUploader).
 */
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import type { ContinuousUploader } from "@vmprof/client";
import type { WindowSource } from "@vmprof/format";

/** How often the directory and the files are looked at, ms. */
const POLL_MS = 250;

interface Followed {
  fd: number;
  offset: number;
  source: WindowSource;
}

/** Follows the per-process files of `dir`; `end()` reads them to their end and closes them. */
export class DirFollower {
  private readonly files = new Map<string, Followed>();
  private readonly buf = Buffer.alloc(1 << 20);
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly uploader: ContinuousUploader,
  ) {
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  /** Reads what every file gained since the last look, then lets the uploader cut what is due. */
  poll(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return; // removed: the recording is over
    }
    for (const n of names) {
      if (!n.endsWith(".prof") || this.files.has(n)) continue;
      try {
        const fd = openSync(join(this.dir, n), "r");
        this.files.set(n, { fd, offset: 0, source: this.uploader.addSource(`process ${n.slice(0, -5)}`) });
      } catch {
        // gone again (or not ours): nothing to follow
      }
    }
    for (const f of this.files.values()) this.read(f);
    this.uploader.tick();
  }

  private read(f: Followed): void {
    if (f.fd < 0) return;
    for (;;) {
      const n = readSync(f.fd, this.buf, 0, this.buf.length, f.offset);
      if (n === 0) break;
      f.offset += n;
      f.source.push(this.buf.subarray(0, n));
    }
    // A finished (or unreadable) file gets nothing more: let its descriptor go.
    if (f.source.complete || f.source.error) {
      closeSync(f.fd);
      f.fd = -1;
    }
  }

  /** The program ended: reads every file to its end and closes them. */
  end(): void {
    clearInterval(this.timer);
    this.poll();
    for (const f of this.files.values()) {
      if (f.fd >= 0) closeSync(f.fd);
      f.fd = -1;
    }
  }
}
