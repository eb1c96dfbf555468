/**
 * vmprof-record's whole behaviour: run a command with the sampler preloaded in every Node process
 * and worker it starts, pass its stdio, environment and exit status through, then merge what each
 * process wrote into one profile.
 */
import { spawn } from "node:child_process";
import { closeSync, copyFileSync, createReadStream, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { basename, dirname, join, resolve as resolvePath, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { ContinuousUploader } from "@vmprof/client";
import type { Profile } from "@vmprof/format";
import { redactArgv } from "@vmprof/format/meta";
import { resolveExport } from "@vmprof/native/addon";
import { DirFollower } from "./continuous.js";

/** What to record and where. */
export interface RecordOptions {
  /** The program and its arguments, e.g. ["node", "app.js"]. */
  command: string[];
  /** Output path; "-" for stdout (the program's stdout then goes to stderr); undefined: vmprof-<pid>.prof in cwd. */
  output?: string;
  /** Sampling period, µs. */
  periodUs: number;
  mode: "cpu" | "wall";
  /** Frames kept per sample. */
  maxDepth: number;
  /** Give frames the line and column they were executing (default true). */
  lines?: boolean;
  /** Unwind and symbolize native frames too (default false; see vmprof-record --native). */
  native?: boolean;
  /** Stored as `label.<key>` metadata. */
  labels: Record<string, string>;
  /** Store the command lines (redacted); false drops them. */
  argv: boolean;
  /** Profile Node child processes too. */
  children: boolean;
  /** Run the program unprofiled when the sampler cannot load for its Node. */
  allowUnprofiled: boolean;
  /** Resolve source maps when the recording ends and store the sources beside the generated code. */
  sourceMaps: boolean;
  /** Where the recorder's own messages go (one line each). */
  log: (line: string) => void;
  /** Continuous profiling (--every): follows what the processes write and uploads one profile per window; finished (last window sent) before the recording returns. */
  continuous?: ContinuousUploader;
  /** False: no profile is written at the end (--every without -o). Default true. */
  write?: boolean;
}

/** How a recording ended. */
export interface RecordResult {
  /** The recorder's exit status: the program's, or 128+N when a signal N killed it. */
  exitCode: number;
  /** Where the profile went (undefined when none was written). */
  output?: string;
  samples: number;
  processes: number;
  threads: number;
}

/** A user error found before the program started: the message is one line; exit status 2. */
export class RecordUsageError extends Error {}

const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

let preload: string | undefined;

/** Absolute path (real, as require.resolve gives) of the native package's preload. */
function preloadPath(): string {
  return (preload ??= resolveExport(dirname(fileURLToPath(import.meta.url)), "@vmprof/native", "./preload"));
}

/**
 * Removes the recording's directory: the files the processes wrote there, then the directory
 * (rmSync's recursive walk loads a module of its own, about 1 ms at the recorder's exit).
 */
function removeDir(dir: string): void {
  try {
    for (const n of readdirSync(dir)) unlinkSync(join(dir, n));
    rmdirSync(dir);
  } catch {
    rmSync(dir, { recursive: true, force: true }); // something else in it
  }
}

/** Creates the file the profile is written to before renaming, to refuse an unwritable path early. */
export function openTemp(finalPath: string): string {
  const st = statSync(finalPath, { throwIfNoEntry: false });
  if (st?.isDirectory()) throw new RecordUsageError(`cannot write ${finalPath}: it is a directory`);
  // The profile is renamed into place, which would replace a device or FIFO itself (/dev/null).
  if (st && !st.isFile()) throw new RecordUsageError(`cannot write ${finalPath}: not a regular file (for a pipe or a device, use -o - and redirect)`);
  const temp = join(dirname(finalPath), `.${basename(finalPath)}.${process.pid}.tmp`);
  try {
    closeSync(openSync(temp, "wx"));
  } catch (e) {
    throw new RecordUsageError(`cannot write ${finalPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return temp;
}

/** Runs the recording; resolves when the program has ended and the profile is written. */
export async function record(o: RecordOptions): Promise<RecordResult> {
  if (o.command.length === 0) throw new RecordUsageError("no program to run: give it after --, e.g. vmprof-record -o out.prof -- node app.js");
  const toStdout = o.output === "-";
  const temp = toStdout || o.write === false ? undefined : openTemp(resolvePath(o.output ?? "vmprof-record.prof"));
  const dir = mkdtempSync(join(tmpdir(), "vmprof-"));
  let follower: DirFollower | undefined;
  const cleanup = () => {
    removeDir(dir);
    // Most often renamed into place by now; existsSync does not build an error to say it is gone.
    if (temp && existsSync(temp)) rmSync(temp, { force: true });
  };
  // bin/run.cjs started us without NODE_EXTRA_CA_CERTS; the program gets it back as it was given.
  const { VMPROF_NODE_EXTRA_CA_CERTS: ca, ...given } = process.env;
  if (ca !== undefined) given.NODE_EXTRA_CA_CERTS = ca;
  const env: NodeJS.ProcessEnv = {
    ...given,
    NODE_OPTIONS: `--require ${JSON.stringify(preloadPath())} ${process.env.NODE_OPTIONS ?? ""}`.trim(),
    VMPROF_DIR: dir,
    VMPROF_PERIOD_US: String(o.periodUs),
    VMPROF_MODE: o.mode,
    VMPROF_MAX_DEPTH: String(o.maxDepth),
    VMPROF_LINES: o.lines === false ? "0" : "1",
    VMPROF_NATIVE: o.native ? "1" : "0",
    VMPROF_CHILDREN: o.children ? "1" : "0",
    VMPROF_NO_ARGV: o.argv ? "0" : "1",
    VMPROF_ALLOW_UNPROFILED: o.allowUnprofiled ? "1" : "0",
    // The recording's own metadata, written by each process at its start (the first process's wins
    // in a merged profile), so that a single process's file is complete as written.
    VMPROF_META: JSON.stringify([...(o.argv ? [["command", redactArgv(o.command)]] : []), ...Object.entries(o.labels).map(([k, v]) => [`label.${k}`, v])]),
  };
  const child = spawn(o.command[0], o.command.slice(1), { stdio: ["inherit", toStdout ? 2 : "inherit", "inherit"], env });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  let status: { code: number | null; signal: NodeJS.Signals | null };
  try {
    status = await new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => {
        for (const sig of FORWARDED) process.on(sig, forward);
        if (o.continuous) follower = new DirFollower(dir, o.continuous);
      });
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
  } catch (e) {
    cleanup();
    const code = (e as NodeJS.ErrnoException).code;
    o.log(`${o.command[0]}: ${code === "ENOENT" ? "command not found" : code === "EACCES" ? "permission denied" : (e as Error).message}`);
    return { exitCode: code === "ENOENT" ? 127 : 126, samples: 0, processes: 0, threads: 0 };
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
  }
  const exitCode = status.signal ? 128 + (constants.signals[status.signal] ?? 0) : (status.code ?? 1);
  // The last windows are cut now, and sent while the whole profile is written.
  follower?.end();
  const uploads = o.continuous?.finish();
  try {
    return { ...(await collect(o, dir, child.pid ?? 0, temp)), exitCode };
  } finally {
    await uploads;
    cleanup();
  }
}

/** Puts the one complete profile a single process wrote in place, as it is: no decoding. */
async function takeAsIs(file: string, temp: string | undefined, output: string): Promise<string> {
  if (!temp) {
    await new Promise<void>((resolve, reject) => {
      const input = createReadStream(file);
      input.once("error", reject);
      process.stdout.once("error", () => resolve()); // a reader that went away is not our failure
      input.once("end", () => resolve());
      input.pipe(process.stdout, { end: false });
    });
    return "-";
  }
  try {
    renameSync(file, temp);
  } catch {
    copyFileSync(file, temp); // another file system
  }
  renameSync(temp, output);
  return output;
}

/**
 * Source maps at the end of a recording, where the files are. Each profile gets `source` on the
 * functions and frames a map covers (written beside the generated code by writeProfiles); maps are
 * parsed once for all processes. The sampler's own preload is never mapped. Problems are one warning
 * line each on the recorder's log. Returns the number of functions and frames that got a source.
 */
async function resolveMaps(o: RecordOptions, profiles: Profile[]): Promise<number> {
  const { resolveSources, SourceMapCache } = await import("@vmprof/sourcemap");
  const cache = new SourceMapCache();
  let mapped = 0;
  for (let i = 0; i < profiles.length; i++) {
    const r = resolveSources(profiles[i], { cache, ignore: [nativePackageDir()] });
    for (const w of r.warnings) o.log(`warning: ${w}`);
    profiles[i] = r.profile;
    mapped += r.functions + r.frames;
  }
  return mapped;
}

/** The directory of @vmprof/native (its preload runs in every profiled process; its maps are ours, not the program's). */
function nativePackageDir(): string {
  return resolvePath(dirname(preloadPath()), "../..");
}

/**
 * A single process's finished file: taken as it is when source maps are off, when the sampler saw
 * none of the program's scripts declare one (`mapped`, from its .done file), or when a glance at its
 * functions and scripts finds nothing a map could cover (no decode); else decoded, mapped and
 * re-encoded with both sides. Falls back to the file as it is whenever mapping finds nothing.
 */
export async function takeSingle(o: RecordOptions, file: string, temp: string | undefined, output: string, mapped?: number): Promise<string> {
  // The sampler says how many of the program's scripts declared a map: none, nothing to look at.
  if (!o.sourceMaps || mapped === 0) return takeAsIs(file, temp, output);
  const { glanceProfile, mayHaveSourceMaps } = await import("@vmprof/sourcemap");
  const bytes = readFileSync(file);
  const glance = glanceProfile(bytes);
  const native = nativePackageDir() + sep;
  if (glance) for (const f of glance.files) if (f.startsWith(native)) glance.files.delete(f);
  if (!glance || !mayHaveSourceMaps(glance, process.cwd())) return takeAsIs(file, temp, output);
  const { decodeProfile } = await import("@vmprof/format");
  const profiles = [decodeProfile(bytes, file)];
  if ((await resolveMaps(o, profiles)) === 0) return takeAsIs(file, temp, output);
  return writeOut(profiles, temp, output);
}

/** Encodes `profiles` as one file (merged when several) to stdout, or to `temp` renamed to `output`. */
async function writeOut(profiles: Profile[], temp: string | undefined, output: string): Promise<string> {
  const { memorySink, writeProfiles } = await import("@vmprof/format");
  const sink = memorySink();
  writeProfiles(profiles, sink);
  const bytes = sink.bytes();
  if (!temp) {
    await new Promise<void>((resolve) => {
      process.stdout.once("error", () => resolve()); // a reader that went away is not our failure
      process.stdout.write(bytes, () => resolve());
    });
    return "-";
  }
  writeFileSync(temp, bytes);
  renameSync(temp, output);
  return output;
}

/** Merges the per-process profiles found in `dir` into the output. */
async function collect(o: RecordOptions, dir: string, rootPid: number, temp: string | undefined): Promise<Omit<RecordResult, "exitCode">> {
  const names = readdirSync(dir).sort();
  for (const n of names.filter((n) => n.startsWith("error-"))) {
    o.log(readFileSync(join(dir, n), "utf8").trim());
  }
  const written = names.filter((n) => n.endsWith(".prof") && statSync(join(dir, n)).size > 0);
  if (o.write === false) {
    if (written.length === 0) o.log("no Node.js process ran under the profiler");
    return { samples: 0, processes: written.length, threads: 0 };
  }
  const output = resolvePath(o.output ?? `vmprof-${rootPid}.prof`);
  // One process that finished its profile (the usual case): its file is the profile, mapped if it has maps.
  if (written.length === 1 && names.includes(`${written[0].slice(0, -5)}.done`)) {
    const done = JSON.parse(readFileSync(join(dir, `${written[0].slice(0, -5)}.done`), "utf8")) as { samples: number; threads: number; mapped?: number };
    return { output: await takeSingle(o, join(dir, written[0]), temp, output, done.mapped), samples: done.samples, processes: 1, threads: done.threads };
  }
  if (written.length === 0) {
    o.log("no Node.js process ran under the profiler; no profile written");
    return { samples: 0, processes: 0, threads: 0 };
  }
  const { readProfileSync } = await import("@vmprof/format");
  const profiles: Profile[] = [];
  for (const n of written) {
    const file = join(dir, n);
    try {
      const p = readProfileSync(file, `process ${n.slice(0, -5)}`);
      if (p.truncation) {
        o.log(`process ${n.slice(0, -5)} ended before finishing its profile (killed?): kept the ${p.samples.count} samples it had written`);
      }
      profiles.push(p);
    } catch (e) {
      o.log(`the profile of process ${n.slice(0, -5)} is unreadable and was left out: ${(e as Error).message}`);
    }
  }
  if (profiles.length === 0) {
    o.log("no Node.js process ran under the profiler; no profile written");
    return { samples: 0, processes: 0, threads: 0 };
  }
  // The program's own process first: its metadata becomes the profile's.
  const isRoot = (p: Profile) => p.processes.some((pr) => pr.pid === rootPid);
  profiles.sort((a, b) => Number(isRoot(b)) - Number(isRoot(a)) || Number(a.meta.get("start_time") ?? 0) - Number(b.meta.get("start_time") ?? 0));
  for (const p of profiles) {
    const argv = p.meta.get("argv");
    if (!o.argv) p.meta.delete("argv");
    else if (Array.isArray(argv)) p.meta.set("argv", redactArgv(argv));
  }
  if (o.sourceMaps) await resolveMaps(o, profiles);
  const samples = profiles.reduce((n, p) => n + p.samples.count, 0);
  const processes = profiles.reduce((n, p) => n + p.processes.length, 0);
  const threads = profiles.reduce((n, p) => n + p.threads.length, 0);
  return { output: await writeOut(profiles, temp, output), samples, processes, threads };
}
