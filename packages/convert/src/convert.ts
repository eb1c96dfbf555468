/**
 * What `vmprof-convert` does, as a library call: read a profile in any supported format, export it
 * in the chosen one, and write it to stdout or, through a temporary file renamed into place, to a
 * file, so a failed conversion never leaves a partial or broken output behind.
 */
import { closeSync, openSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { SelectionError, decodeProfile, memorySink, selects, writeProfiles, type PathFilter, type Profile, type Selection, type Weight } from "@vmprof/format";
import { ConvertError } from "./errors.js";
import { toCollapsed } from "./export/collapsed.js";
import { toCpuprofile } from "./export/cpuprofile.js";
import { toPprof } from "./export/pprof.js";
import { toSpeedscope, type SpeedscopeOrder } from "./export/speedscope.js";
import { toSvg } from "./export/svg.js";
import { readAnyProfile, type InputFormat, type SourceOptions } from "./read.js";
import type { ExportOptions } from "./select.js";

/** The formats vmprof-convert writes. */
export const OUTPUT_FORMATS = ["speedscope", "pprof", "cpuprofile", "collapsed", "svg", "vmprof"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Output formats by file name ending, longest first. */
const EXTENSIONS: [string, OutputFormat][] = [
  [".speedscope.json", "speedscope"],
  [".cpuprofile", "cpuprofile"],
  [".pb.gz", "pprof"],
  [".pprof", "pprof"],
  [".pb", "pprof"],
  [".collapsed", "collapsed"],
  [".folded", "collapsed"],
  [".svg", "svg"],
  [".prof", "vmprof"],
  [".vmprof", "vmprof"],
];

/** The output format a file name implies, or undefined. */
export function formatFromName(path: string): OutputFormat | undefined {
  const lower = path.toLowerCase();
  return EXTENSIONS.find(([ext]) => lower.endsWith(ext))?.[1];
}

/** Formats whose bytes are binary, not text. */
const BINARY: OutputFormat[] = ["pprof", "vmprof"];

/** Options of exportProfile beyond the common ones. */
export interface AnyExportOptions extends ExportOptions {
  onNote?: (message: string) => void;
  /** Collapsed stacks only: each frame with the line it was executing (CollapsedOptions.lines). */
  lines?: boolean;
  /** SVG only: the differential flame graph against this base profile (SvgOptions.base). */
  base?: Profile;
  /** speedscope only: time order, merged by stack, or time order unless too big (SpeedscopeOptions.order). */
  order?: SpeedscopeOrder;
}

/** The chunks of `p` in format `to`. Throws ConvertError for a selection the format cannot carry. */
export function exportProfile(p: Profile, to: OutputFormat, o: AnyExportOptions = {}): Iterable<string | Uint8Array> {
  return guarded(() => chunksOf(p, to, o));
}

/** Iterates `make()`'s chunks, turning a selection of unknown threads into a ConvertError. */
function* guarded(make: () => Iterable<string | Uint8Array>): Generator<string | Uint8Array> {
  try {
    yield* make();
  } catch (e) {
    if (e instanceof SelectionError) throw new ConvertError(e.message);
    throw e;
  }
}

function chunksOf(p: Profile, to: OutputFormat, o: AnyExportOptions): Iterable<string | Uint8Array> {
  if (o.lines && to !== "collapsed") throw new ConvertError(`--lines is for --to collapsed; ${to} carries lines already`);
  if (o.base && to !== "svg") throw new ConvertError(`--diff draws a differential flame graph: it needs --to svg, not ${to}`);
  if (o.order && to !== "speedscope") throw new ConvertError(`--order is for --to speedscope; ${to} has no sample order to choose`);
  switch (to) {
    case "speedscope":
      return toSpeedscope(p, o);
    case "pprof":
      return [toPprof(p, o)];
    case "cpuprofile":
      return toCpuprofile(p, o);
    case "collapsed":
      return toCollapsed(p, o);
    case "svg":
      return [toSvg(p, o)];
    case "vmprof": {
      if (selects(o.selection, o.filter))
        throw new ConvertError("--to vmprof writes the whole profile: selections and filters apply to the other formats");
      const sink = memorySink();
      writeProfiles([p], sink);
      return [sink.bytes()];
    }
  }
}

/** Everything the command's flags say. */
export interface ConvertOptions {
  /** A path, or "-" / absent for `stdin`. */
  input?: string;
  /** Several paths (at most one "-"): their profiles merged into one, as vmprof-record merges processes, then converted. Instead of `input`. */
  inputs?: string[];
  stdin: Readable & { isTTY?: boolean };
  /** The output format; default from the name of `output`. */
  to?: OutputFormat;
  /** A path, or "-" / absent for stdout. */
  output?: string;
  weight?: Weight;
  selection?: Selection;
  filter?: PathFilter;
  /** Collapsed stacks only: each frame with the line it was executing. */
  lines?: boolean;
  /** speedscope only: --order. */
  order?: SpeedscopeOrder;
  /**
   * --diff BASE: a path (not stdin) to a profile in any format readAnyProfile reads; the output is the
   * differential flame graph of the input against it (SVG only; the output format defaults to svg).
   */
  diff?: string;
  /** Source maps: readAnyProfile's `sources` (--source-maps DIR, --no-source-maps); default: the sources the profile holds. */
  sources?: SourceOptions;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  /** Notes, warnings and progress go here. */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** What a conversion did. */
export interface ConvertResult {
  from: InputFormat;
  to: OutputFormat;
  profile: Profile;
  /** Bytes written. */
  bytes: number;
}

/** Chooses the output format from --to or the output's name. Throws ConvertError when neither says. */
export function outputFormat(to: OutputFormat | undefined, output: string | undefined): OutputFormat {
  if (to) return to;
  const byName = output && output !== "-" ? formatFromName(output) : undefined;
  if (byName) return byName;
  throw new ConvertError(
    output && output !== "-"
      ? `cannot tell the output format from the name "${basename(output)}": say --to ${OUTPUT_FORMATS.join("|")}`
      : `no output format: say --to ${OUTPUT_FORMATS.join("|")} (or name an output file with -o)`,
  );
}

/** Progress on a terminal: silent for the first second, then one updating line. */
function progressLine(err: ConvertOptions["stderr"], label: string) {
  const start = Date.now();
  let shown = false;
  let last = 0;
  return {
    update(fraction: number) {
      const now = Date.now();
      if (!err.isTTY || now - start < 1000 || now - last < 200) return;
      last = now;
      shown = true;
      err.write(`\rvmprof-convert: ${label} ${Math.min(100, Math.floor(fraction * 100))}%  `);
    },
    done() {
      if (shown) err.write("\r\x1b[K");
    },
  };
}

/** Runs a conversion. Throws ConvertError for anything the user can fix; no output file is left then. */
export async function convert(o: ConvertOptions): Promise<ConvertResult> {
  const to = o.diff !== undefined && !o.to && (o.output === undefined || o.output === "-") ? "svg" : outputFormat(o.to, o.output);
  if (o.diff !== undefined && to !== "svg") throw new ConvertError(`--diff draws a differential flame graph: it needs --to svg, not ${to}`);
  const base = o.diff !== undefined ? await readBase(o.diff, o) : undefined;
  const toStdout = o.output === undefined || o.output === "-";
  if (toStdout && o.stdout.isTTY && BINARY.includes(to)) throw new ConvertError(`not writing ${to} (binary) to a terminal: use -o FILE or a pipe`);
  const { profile, format } = await readInputs(o.inputs && o.inputs.length > 1 ? o.inputs : [o.input], o);
  const progress = progressLine(o.stderr, `writing ${to}`);
  const chunks = exportProfile(profile, to, {
    weight: o.weight,
    selection: o.selection,
    filter: o.filter,
    lines: o.lines,
    order: o.order,
    base,
    onProgress: (f) => progress.update(f),
    onNote: (m) => o.stderr.write(`vmprof-convert: ${m}\n`),
  });
  let bytes = 0;
  try {
    if (toStdout) {
      for (const c of chunks) {
        bytes += typeof c === "string" ? Buffer.byteLength(c) : c.length;
        if (!o.stdout.write(c)) await new Promise((r) => o.stdout.once("drain", r));
      }
    } else {
      bytes = writeAtomically(o.output!, chunks);
    }
  } finally {
    progress.done();
  }
  return { from: format, to, profile, bytes };
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Writes `chunks` straight into an existing device or FIFO; returns the bytes written. */
function writeInPlace(path: string, chunks: Iterable<string | Uint8Array>): number {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (e) {
    throw new ConvertError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return writeChunks(fd, chunks);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw new ConvertError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code})`);
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Writes every chunk to `fd`; returns the bytes written. */
function writeChunks(fd: number, chunks: Iterable<string | Uint8Array>): number {
  let bytes = 0;
  for (const c of chunks) {
    const b = typeof c === "string" ? Buffer.from(c) : c;
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    bytes += b.length;
  }
  return bytes;
}

/**
 * Reads the input (a path, "-" or undefined for stdin), or several merged into one profile: each
 * read through the one read path, in any format, then written as one file of our format (processes
 * and threads kept apart, functions shared, times on the earliest input's clock) and read back.
 * Warnings go to `o.stderr`. Throws ConvertError naming the input that cannot be read.
 */
export async function readInputs(inputs: (string | undefined)[], o: Pick<ConvertOptions, "stdin" | "sources" | "stderr">): Promise<{ profile: Profile; format: InputFormat }> {
  if (inputs.filter((i) => i === undefined || i === "-").length > 1) throw new ConvertError('stdin ("-") can be only one of the inputs');
  const read: { profile: Profile; format: InputFormat }[] = [];
  for (const input of inputs) {
    const fromStdin = input === undefined || input === "-";
    if (input === undefined && o.stdin.isTTY) throw new ConvertError("no profile given: name a file, or pipe one in");
    const { profile, format, warnings } = await readAnyProfile(fromStdin ? o.stdin : input, { sources: o.sources });
    for (const w of warnings) o.stderr.write(`vmprof-convert: warning: ${w}\n`);
    if (profile.truncation) o.stderr.write(`vmprof-convert: warning: ${profile.truncation.message}; converting what it holds\n`);
    read.push({ profile, format });
  }
  if (read.length === 1) return read[0];
  const sink = memorySink();
  writeProfiles(
    read.map((r) => r.profile),
    sink,
  );
  return { profile: decodeProfile(sink.bytes(), `${inputs.length} merged profiles`), format: "vmprof" };
}

/** Reads --diff's base profile; a ConvertError naming the flag and the file when it cannot be read. */
async function readBase(path: string, o: ConvertOptions): Promise<Profile> {
  if (path === "-" || path === "") throw new ConvertError("--diff: name the base profile's file (stdin is for the new profile)");
  try {
    const { profile, warnings } = await readAnyProfile(path, { sources: o.sources });
    for (const w of warnings) o.stderr.write(`vmprof-convert: warning: --diff ${path}: ${w}\n`);
    if (profile.truncation) o.stderr.write(`vmprof-convert: warning: --diff ${path}: ${profile.truncation.message}; comparing with what it holds\n`);
    return profile;
  } catch (e) {
    if (e instanceof ConvertError) throw new ConvertError(`--diff: ${e.message.startsWith(path) ? "" : `${path}: `}${e.message}`);
    throw e;
  }
}

/** Writes chunks to a temporary file beside `path`, then renames it into place; removes it on failure. */
export function writeAtomically(path: string, chunks: Iterable<string | Uint8Array>): number {
  // A device or a FIFO (-o /dev/null, -o /dev/stdout, a named pipe) is written as it is: renaming a
  // file over it would replace the device node itself (as root, /dev/null became a plain file).
  const existing = statOrUndefined(path);
  if (existing && !existing.isFile() && !existing.isDirectory()) return writeInPlace(path, chunks);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, "w");
  } catch (e) {
    throw new ConvertError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const bytes = writeChunks(fd, chunks);
    closeSync(fd);
    renameSync(tmp, path);
    return bytes;
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    try {
      unlinkSync(tmp);
    } catch {
      // never created or already gone
    }
    if ((e as NodeJS.ErrnoException).code) throw new ConvertError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code})`);
    throw e;
  }
}
