/**
 * vmprof-record's flags as plain data, read by two parsers: oclif (command.ts: help, and every error
 * message) and a fast path (fast.ts) that starts the program without loading oclif, whose start-up
 * alone costs more than everything else the recorder does. Both hand the values to runRecord().
 */
import { DEFAULT_MAX_DEPTH, DEFAULT_PERIOD } from "@vmprof/native/addon";
import type { FlagSpec } from "vmprof-convert/flags";

/** Every flag of vmprof-record. */
export const FLAGS: Record<string, FlagSpec> = {
  pid: { type: "integer", summary: "Attach to this running Node process (20, 22, 24, 26) instead of starting a program: sample its main thread and workers, then detach, leaving it as it was.", min: 1, helpValue: "PID" },
  duration: { type: "string", summary: "With --pid: stop after this many seconds [default: until Ctrl-C or SIGTERM, or the process ends].", helpValue: "SECONDS" },
  output: { type: "string", char: "o", summary: 'Where to write the profile; "-" for stdout (the program\'s stdout then goes to stderr).' },
  period: { type: "string", summary: `Sampling period in seconds [default: ${DEFAULT_PERIOD}].`, exclusive: ["rate"] },
  rate: { type: "string", summary: "Sampling rate in Hz (instead of --period)." },
  mode: { type: "string", summary: "cpu: where CPU time goes (idle not sampled); wall: wall-clock time, idle and waits shown.", options: ["cpu", "wall"], default: "cpu" },
  "max-depth": { type: "integer", summary: "Frames kept per sample (the innermost ones).", min: 1, max: 1024, default: DEFAULT_MAX_DEPTH },
  lines: { type: "boolean", summary: "Give each frame the line and column it was executing (--no-lines: functions only, smaller files).", default: true, allowNo: true },
  label: { type: "string", summary: "A key=value label stored in the profile's metadata (repeatable).", multiple: true },
  native: {
    type: "boolean",
    summary:
      "Also record native frames (C++ of Node, V8's runtime, addons, zlib, OpenSSL, libc) between the running code and the JS that called it, and below the outermost JS frame, named from the ELF symbols by the sampler's writer thread (never the signal handler), so the file is named at every point. Needs libunwind (Debian: libunwind8). Linux x86-64.",
    default: false,
  },
  argv: { type: "boolean", summary: "Store the command lines (secret-looking values redacted).", default: true, allowNo: true },
  children: { type: "boolean", summary: "Also profile Node child processes of the program.", default: true, allowNo: true },
  "source-maps": {
    type: "boolean",
    summary: "When the program ends, resolve the source maps of the scripts it ran and store where each function and line was written beside the generated code; --no-source-maps leaves the profile as the sampler wrote it.",
    default: true,
    allowNo: true,
  },
  "allow-unprofiled": { type: "boolean", summary: "Run the program unprofiled if the sampler cannot load for its Node version." },
  upload: { type: "string", summary: "Then upload the profile to this vmprof-server (or Pyroscope, with --to; token from $VMPROF_TOKEN); prints its page's URL on stderr.", helpValue: "URL" },
  every: {
    type: "string",
    summary:
      "With --upload: continuous profiling: while the program runs (or while attached), upload one profile of the last SECONDS (1 to 3600) every SECONDS, and the last part when it ends; a window that cannot be sent is retried, then dropped with a warning. The whole profile is then written only with -o.",
    helpValue: "SECONDS",
  },
  to: { type: "string", summary: "With --upload: the server's API: vmprof (vmprof-server) or pyroscope (Grafana Pyroscope's /ingest, as pprof) [default: vmprof].", options: ["vmprof", "pyroscope"] },
  name: { type: "string", summary: "With --upload: the uploaded profile's name [default: the recorded command; Pyroscope: vmprof-node.cpu]." },
};
