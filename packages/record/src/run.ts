/**
 * vmprof-record's behaviour from parsed flags: checks their values, runs the recording, optionally
 * uploads the profile. Shared by the oclif command and the fast path; loads the HTTP client only
 * when it is needed (labels or --upload).
 */
import { DEFAULT_PERIOD } from "@vmprof/native/addon";
import type { FlagValues } from "vmprof-convert/flags";
import { record, RecordUsageError } from "./record.js";

/** Runs vmprof-record with parsed flags and the program's command line; resolves to the exit status. */
export async function runRecord(flags: FlagValues, command: string[]): Promise<number> {
  const log = (line: string) => process.stderr.write(`vmprof-record: ${line}\n`);
  const usage = (msg: string) => {
    log(msg);
    return 2;
  };
  let periodUs = Math.round(DEFAULT_PERIOD * 1e6);
  if (flags.period !== undefined) {
    const s = Number(flags.period);
    if (!(s > 0) || !Number.isFinite(s)) return usage(`--period: expected a positive number of seconds, got "${flags.period}"`);
    periodUs = Math.round(s * 1e6);
  }
  if (flags.rate !== undefined) {
    const hz = Number(flags.rate);
    if (!(hz > 0) || !Number.isFinite(hz)) return usage(`--rate: expected a positive number of Hz, got "${flags.rate}"`);
    periodUs = Math.round(1e6 / hz);
  }
  if (periodUs < 50) return usage(`the sampling period must be at least 50 µs (a rate of at most 20000 Hz)`);
  const labelFlags = (flags.label as string[] | undefined) ?? [];
  const upload = flags.upload as string | undefined;
  const output = flags.output as string | undefined;
  for (const f of ["every", "to", "name"]) {
    if (flags[f] !== undefined && upload === undefined) return usage(`--${f} applies to --upload URL (none given)`);
  }
  let everyS: number | undefined;
  if (flags.every !== undefined) {
    everyS = Number(flags.every);
    if (!(everyS >= 1 && everyS <= 3600)) return usage(`--every: expected a number of seconds from 1 to 3600, got "${flags.every}"`);
  }
  const client = labelFlags.length > 0 || upload !== undefined ? await import("@vmprof/client") : undefined;
  let labels: Record<string, string> = {};
  try {
    if (client) labels = client.parseLabels(labelFlags);
  } catch (e) {
    if (!(client && e instanceof client.UploadUsageError)) throw e;
    return usage(e.message);
  }
  if (upload !== undefined && output === "-" && everyS === undefined) return usage("--upload needs a file to send: use -o FILE (or no -o) instead of -o -");
  const to = (flags.to as "vmprof" | "pyroscope" | undefined) ?? "vmprof";
  const name = flags.name as string | undefined;
  let continuous: import("@vmprof/client").ContinuousUploader | undefined;
  if (client && upload !== undefined && everyS !== undefined) {
    let first = true;
    try {
      continuous = new client.ContinuousUploader({
        url: upload,
        token: process.env.VMPROF_TOKEN,
        to,
        name,
        labels,
        every: everyS,
        log,
        onUploaded: (w, url) => {
          if (first) log(`uploaded the first window (${w.samples} samples): ${url}; one every ${everyS} s from now on`);
          first = false;
        },
      });
    } catch (e) {
      if (!(e instanceof client.UploadUsageError)) throw e;
      return usage(e.message);
    }
  }
  const pid = flags.pid as number | undefined;
  let durationS: number | undefined;
  if (flags.duration !== undefined) {
    durationS = Number(flags.duration);
    if (pid === undefined) return usage("--duration applies to --pid (a program started by vmprof-record runs until it ends)");
    if (!(durationS > 0) || !Number.isFinite(durationS)) return usage(`--duration: expected a positive number of seconds, got "${flags.duration}"`);
  }
  if (pid !== undefined && command.length > 0) return usage(`--pid attaches to a running process: give no program after it (got "${command.join(" ")}")`);
  try {
    const common = {
      output,
      periodUs,
      mode: flags.mode as "cpu" | "wall",
      maxDepth: flags["max-depth"] as number,
      lines: flags.lines !== false,
      native: flags.native === true,
      labels,
      argv: flags.argv !== false,
      sourceMaps: flags["source-maps"] !== false,
      log,
      continuous,
      write: continuous === undefined || output !== undefined,
    };
    const result =
      pid !== undefined
        ? await (await import("./attach.js")).attach({ ...common, pid, durationS })
        : await record({ ...common, command, children: flags.children !== false, allowUnprofiled: flags["allow-unprofiled"] === true });
    if (pid !== undefined && result.output && result.output !== "-") log(`wrote ${result.samples} samples to ${result.output}`);
    else if (output === undefined && result.output) {
      log(`wrote ${result.samples} samples (${result.processes} process${result.processes === 1 ? "" : "es"}, ${result.threads} thread${result.threads === 1 ? "" : "s"}) to ${result.output}`);
    }
    // The upload never changes the exit status: that is the program's. A failed upload says so and
    // leaves the profile on disk.
    if (continuous) {
      const s = continuous.stats;
      if (result.processes === 0 && s.windows === 0) return result.exitCode;
      const lost = s.failed + s.overflowed;
      log(`uploaded ${s.uploaded} of ${s.windows} windows (${s.uploadedSamples} samples) to ${upload}${lost > 0 ? `; ${lost} dropped` : ""}`);
    } else if (client && upload !== undefined && result.output) {
      try {
        const sent = await client.upload({ url: upload, token: process.env.VMPROF_TOKEN, labels, name, to, input: result.output, onRetry: log });
        log(`uploaded: ${sent.url}`);
      } catch (e) {
        if (!(e instanceof client.UploadError || e instanceof client.UploadUsageError)) throw e;
        log(`upload failed: ${e.message} (the profile stays in ${result.output})`);
      }
    }
    return result.exitCode;
  } catch (e) {
    if (e instanceof RecordUsageError) return usage(e.message);
    throw e;
  }
}
