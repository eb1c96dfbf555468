/**
 * Loading the C++ sampler, and what every profiled process says about itself. CommonJS so that the
 * preload (loaded with `--require`) and the ESM API share it.
 */
import fs = require("node:fs");
import path = require("node:path");

/** Counters of a recording session. */
export interface SamplerStats {
  /** Samples written to the profile. */
  samples: number;
  /** Samples lost: a full buffer, or a tick while the previous signal was still pending. */
  dropped: number;
  /** The timer that drove sampling: "thread-cpu-clock" (cpu mode) or "wall-clock". */
  timer: string;
  /** The first write error, if writing the profile failed. */
  error?: string;
}

/** A metadata value as the format stores it: string, integer or list of strings. */
export type MetaValue = string | number | string[];

/** The native binding (build/Release/vmprof.node). */
export interface Addon {
  start(fd: number, options: { periodUs: number; mode: "cpu" | "wall"; maxDepth: number; compress?: boolean }, meta: [string, MetaValue][], processName: string): void;
  addThread(name: string, kind: number): void;
  stop(): SamplerStats;
  stats(): SamplerStats;
  isEnabled(): boolean;
  installTerminationHandlers(): void;
}

/** Thrown when the addon is missing or was built for another Node; the message says what to do. */
export class AddonLoadError extends Error {}

const ROOT = path.resolve(__dirname, "..", "..");
let loaded: Addon | undefined;

/**
 * Loads the addon once per thread. Refuses, with an AddonLoadError naming the supported Node and the
 * build command, when the addon is missing or was built for another Node ABI (loading it anyway
 * could crash inside V8).
 */
export function loadAddon(): Addon {
  if (loaded) return loaded;
  const binary = path.join(ROOT, "build", "Release", "vmprof.node");
  const howTo = `build it for this Node with: npm run build -w @vmprof/native (run with ${process.execPath})`;
  let builtFor: { node: string; modules: string };
  try {
    builtFor = JSON.parse(fs.readFileSync(path.join(ROOT, "build", "Release", "built-for.json"), "utf8"));
  } catch {
    throw new AddonLoadError(`the vmprof sampler is not built (${binary} is missing); ${howTo}`);
  }
  if (builtFor.modules !== process.versions.modules) {
    throw new AddonLoadError(
      `the vmprof sampler was built for Node ${builtFor.node} (ABI ${builtFor.modules}) and supports only that ABI; ` +
        `this is Node ${process.version} (ABI ${process.versions.modules}); ${howTo}`,
    );
  }
  loaded = require(binary) as Addon;
  return loaded;
}

/** Metadata every process records about itself (the command line as given: redact before storing it elsewhere). */
export function processMeta(argv: string[] | undefined): [string, MetaValue][] {
  const meta: [string, MetaValue][] = [
    ["node_version", process.version],
    ["v8_version", process.versions.v8],
    ["platform", process.platform],
    ["arch", process.arch],
    ["cwd", process.cwd()],
  ];
  if (argv) meta.push(["argv", argv]);
  return meta;
}

/** The process's command line: the node binary, its options, the script and its arguments. */
export function commandLine(): string[] {
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}

/** A short name for the process: its script's file name, or the executable's. */
export function processName(): string {
  return path.basename(process.argv[1] ?? process.execPath);
}

/** vmprof's default period, in seconds: just under 1 ms, so it does not alias with 1 kHz or 100 Hz work. */
export const DEFAULT_PERIOD = 0.00099;
/** Default number of frames kept per sample. */
export const DEFAULT_MAX_DEPTH = 256;
