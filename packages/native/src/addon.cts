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
  /** Threads (main and workers) that joined the session. */
  threads: number;
  /** Ticks that did not become samples (the profile's metadata has them per reason, `dropped.*`). */
  dropped: number;
  /** The timer that drove sampling: "thread-cpu-clock" (cpu mode) or "wall-clock". */
  timer: string;
  /** Scripts whose declared source map (SCRIPT record) the profile holds: those of sampled functions. */
  scripts: string[];
  /** The first write error, if writing the profile failed. */
  error?: string;
}

/** A metadata value as the format stores it: string, integer or list of strings. */
export type MetaValue = string | number | string[];

/** The native binding (build/Release/vmprof.node). */
export interface Addon {
  /** `controlFd`: the read end of a pipe or FIFO; when its last writer closes, the session finishes on its own (END written). */
  start(fd: number, options: { periodUs: number; mode: "cpu" | "wall"; maxDepth: number; compress?: boolean; lines?: boolean; native?: boolean; controlFd?: number }, meta: [string, MetaValue][], processName: string): void;
  addThread(name: string, kind: number): void;
  /** Removes the calling thread's JIT code event handler once the session no longer samples it; false (nothing done) while it does. */
  releaseThread(): boolean;
  stop(): SamplerStats;
  stats(): SamplerStats;
  isEnabled(): boolean;
  /** True on the process's main thread, false on a worker thread. */
  isMainThread(): boolean;
  installTerminationHandlers(): void;
  /** How the sampler reads one of V8's code names (tests and diagnostics). */
  parseCodeName(v8Name: string, scriptName: string, bytecode: boolean, wasm: boolean): ParsedCodeName;
  /** A fixed small profile made by the native encoder (every record type), for its golden test. */
  encoderSample(): Buffer;
  /** The process-wide id of a label set (pairs sorted by key, keys unique and non-empty, at most 1024 bytes each); throws RangeError or TypeError. */
  internLabels(pairs: [string, string][]): number;
  /** This thread's current label set id, as the signal handler reads it (one element; 0: none). */
  labelSlot(): Uint32Array;
  /** A new pipe, [readFd, writeFd], both close-on-exec, its buffer raised to 1 MiB where allowed (startContinuous). */
  makePipe(): [number, number];
}

/** A V8 code name as the sampler reads it: kind and tier as in SPEC.md, line and column 1-based (0: none). */
export interface ParsedCodeName {
  kind: number;
  name: string;
  file: string;
  line: number;
  column: number;
  tier: number;
}

/** Thrown when the addon is missing or was built for another Node; the message says what to do. */
export class AddonLoadError extends Error {}

const ROOT = path.resolve(__dirname, "..", "..");
let loaded: Addon | undefined;

/** Where builds live: build/abi-<ABI>/ (scripts/build-abi.cjs) and build/Release/ (the building Node): their directory, Node version and ABI. */
export function builds(): { dir: string; node: string; modules: string }[] {
  const dirs = [path.join(ROOT, "build", "Release")];
  try {
    for (const d of fs.readdirSync(path.join(ROOT, "build"))) if (d.startsWith("abi-")) dirs.push(path.join(ROOT, "build", d));
  } catch {
    // no build directory at all
  }
  const out: { dir: string; node: string; modules: string }[] = [];
  for (const dir of dirs) {
    try {
      const info = JSON.parse(fs.readFileSync(path.join(dir, "built-for.json"), "utf8")) as { node: string; modules: string };
      if (fs.existsSync(path.join(dir, "vmprof.node"))) out.push({ dir, ...info });
    } catch {
      // not built
    }
  }
  return out;
}

/**
 * Loads the addon once per thread: the build for this Node's ABI. Refuses, with an AddonLoadError
 * naming the supported Node versions and the build command, when there is none (loading a build for
 * another ABI could crash inside V8).
 */
export function loadAddon(): Addon {
  if (loaded) return loaded;
  loaded = require(addonBinary()) as Addon;
  return loaded;
}

/**
 * The path of the addon built for this Node's ABI (what loadAddon loads); throws AddonLoadError, as
 * loadAddon does, when there is none.
 */
export function addonBinary(): string {
  // The usual case, without reading every build's built-for.json: the build named for this ABI.
  const own = path.join(ROOT, "build", `abi-${process.versions.modules}`);
  if (fs.existsSync(path.join(own, "built-for.json")) && fs.existsSync(path.join(own, "vmprof.node"))) return path.join(own, "vmprof.node");
  const all = builds();
  const mine = all.find((b) => b.modules === process.versions.modules);
  if (!mine) {
    const major = process.versions.node.split(".")[0];
    const supported = all.map((b) => `${b.node} (ABI ${b.modules})`).join(", ");
    throw new AddonLoadError(
      `the vmprof sampler is not built for Node ${process.version} (ABI ${process.versions.modules}); ` +
        `${supported ? `it is built for ${supported}` : "it is not built at all"}; build it for this Node with: ` +
        `node ${path.join(ROOT, "scripts", "build-abi.cjs")} ${major}`,
    );
  }
  return path.join(mine.dir, "vmprof.node");
}

/** The conditions Node's require() matches in a package's "exports", in the order it tries them. */
const REQUIRE_CONDITIONS = new Set(["require", "node", "node-addons", "default"]);

/**
 * The real path of the file package `name`'s "exports" maps `subpath` ("./preload") to, for require()
 * from `fromDir`, found as Node's resolver finds it: the first node_modules/<name> from `fromDir` up,
 * then its "exports" entry, a path or the first condition require() matches. About 0.1 ms, where
 * require.resolve takes 2-4 ms, most of it loading Node's ES module resolver to read "exports": in
 * every profiled process's start, and before vmprof-record can start the program. Undefined when the
 * walk finds no such package, or an entry it does not read (nested conditions, patterns): then
 * require.resolve decides.
 */
export function findExport(fromDir: string, name: string, subpath: string): string | undefined {
  try {
    for (let dir = fromDir; ; dir = path.dirname(dir)) {
      const pkg = path.join(dir, "node_modules", name);
      // statSync, not a failing read: an exception costs as much as the read.
      if (fs.statSync(path.join(pkg, "package.json"), { throwIfNoEntry: false })) {
        let target = (JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")) as { exports?: Record<string, unknown> }).exports?.[subpath];
        if (target !== null && typeof target === "object") target = Object.entries(target).find(([k]) => REQUIRE_CONDITIONS.has(k))?.[1];
        return typeof target === "string" && target.startsWith("./") ? fs.realpathSync.native(path.join(pkg, target)) : undefined;
      }
      if (path.dirname(dir) === dir) return undefined;
    }
  } catch {
    return undefined; // unreadable, or no such file: require.resolve says why
  }
}

/**
 * The real path of what `require("<name>/<subpath>")` loads from `fromDir`: findExport's walk, else
 * require.resolve (from this package), which throws when there is none.
 */
export function resolveExport(fromDir: string, name: string, subpath: string): string {
  return findExport(fromDir, name, subpath) ?? require.resolve(`${name}/${subpath.slice(2)}`);
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

/**
 * The calling worker thread's name: the Worker's `name` option where Node tells it to the worker
 * (`threadName`, Node 22 and later; "WorkerThread" or "" when none was given), else "worker <threadId>".
 */
export function workerName(): string {
  const wt = require("node:worker_threads") as { threadId: number; threadName?: string };
  const given = wt.threadName;
  return given && given !== "WorkerThread" ? given : `worker ${wt.threadId}`;
}

/** A short name for the process: its script's file name, or the executable's. */
export function processName(): string {
  return path.basename(process.argv[1] ?? process.execPath);
}

/** vmprof's default period, in seconds: just under 1 ms, so it does not alias with 1 kHz or 100 Hz work. */
export const DEFAULT_PERIOD = 0.00099;
/** Default number of frames kept per sample. */
export const DEFAULT_MAX_DEPTH = 256;
