/**
 * Merging stored profiles: every upload a list query selects (name, labels, upload time) becomes one
 * profile, as `vmprof-convert A B C...` merges files (format's ProfileMerger: processes and threads
 * kept apart, functions shared, times on the earliest profile's clock). The merge is made one stored
 * profile at a time in one ParsePool worker (MergeState), so the server holds one decoded profile and
 * one compressed upload at once, never all of them; the answer is the merged profile in the asked
 * format, or for the page, its summary.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { ProfileMerger, decodeProfile, memorySink, type Sink } from "@vmprof/format";
import { exportProfile, type OutputFormat } from "vmprof-convert";
import { HttpError, summarize, type Summary } from "./profiles.js";

/** Most uploads one merge may take (a larger selection is refused with 413: narrow it). */
export const MAX_MERGED = 5000;

/** What a merge produces: a download in a format, or the page's facts. */
export type MergeOutput = { format: OutputFormat } | { page: true };

/** The merge page's facts: how many uploads, samples and the merged profile's summary. */
export interface MergeSummary {
  profiles: number;
  samples: number;
  summary: Summary;
}

/** One merge in progress, in one worker: start, then add each stored profile, then finish. */
export class MergeState {
  private readonly sink: Sink & { bytes(): Uint8Array };
  private readonly merger: ProfileMerger;
  private added = 0;

  /** `origin`: the earliest start time (µs since the epoch) of the profiles to come; `count`: how many. */
  constructor(origin: number | undefined, count: number) {
    this.sink = memorySink();
    this.merger = new ProfileMerger(this.sink, { origin, several: count > 1 });
  }

  /** Adds one stored profile (our format, gzipped). */
  add(data: Uint8Array, name: string): void {
    this.merger.add(decodeProfile(gunzipSync(data), name));
    this.added++;
  }

  /** Ends the merge: the merged profile in `out`'s format (vmprof: gzipped), or the page's facts as JSON. */
  finish(out: MergeOutput): Uint8Array {
    this.merger.end();
    const bytes = this.sink.bytes();
    if ("format" in out && out.format === "vmprof") return gzipSync(bytes);
    const profile = decodeProfile(bytes, "merged profiles");
    if ("page" in out) {
      const facts: MergeSummary = { profiles: this.added, samples: profile.samples.count, summary: summarize(profile) };
      return Buffer.from(JSON.stringify(facts));
    }
    return Buffer.concat([...exportProfile(profile, out.format)].map((c) => (typeof c === "string" ? Buffer.from(c) : c)));
  }
}

/** The earliest known start time of `records` (µs since the epoch), or undefined when none is known. */
export function mergeOrigin(records: { startTime: number }[]): number | undefined {
  const known = records.map((r) => r.startTime).filter((t) => t > 0);
  return known.length > 0 ? Math.min(...known) : undefined;
}

/** Refuses selections a merge cannot or should not take: none (404) or too many (413). */
export function checkSelection(total: number): void {
  if (total === 0) throw new HttpError(404, "no profile matches the selection");
  if (total > MAX_MERGED) throw new HttpError(413, `the selection holds ${total} profiles; a merge takes at most ${MAX_MERGED}: narrow it (name, label, from, to)`);
}
