/**
 * The one read path: every command and the server read a profile through `readAnyProfile`. It takes
 * a path, bytes or a stream; sniffs the content once (never the file name), inflates gzip once,
 * parses text and JSON at most once, and asks each importer of IMPORTERS in turn whether the input is
 * its own ("not mine" is null; "mine but broken" throws). Our own format read from a pipe is decoded
 * as it arrives, so a live `vmprof-record -o -` is shown while it is still written.
 */
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { constants, gunzipSync } from "node:zlib";
import { MAGIC, ProfileFormatError, applySources, decodeProfile, decodeStream, type Profile } from "@vmprof/format";
import { ConvertError, LimitError, UnknownFormatError } from "./errors.js";
import { DEFAULT_LIMITS, type ImportLimits } from "./limits.js";
import { tryImportCollapsed } from "./import/collapsed.js";
import { tryImportCpuprofile } from "./import/cpuprofile.js";
import { tryImportPprof } from "./import/pprof.js";
import { tryImportSpeedscope } from "./import/speedscope.js";

/** The formats an input can be in. */
export const INPUT_FORMATS = ["vmprof", "pprof", "cpuprofile", "speedscope", "collapsed"] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** What an input of no supported format is told. */
export const UNKNOWN_FORMAT = "unknown format (expected a vmprof profile, pprof, Chrome .cpuprofile, speedscope JSON or collapsed stacks)";

/**
 * One input as importers see it: its bytes inflated once, and its text and JSON computed at most once
 * (lazily) and shared between importers.
 */
export class Input {
  private textCache?: string;
  private jsonCache?: { value: unknown };
  private headCache?: { value: string | undefined };

  constructor(
    /** The content, inflated when it came gzipped. */
    readonly raw: Uint8Array,
    /** Names the input in messages. */
    readonly source: string,
    readonly limits: ImportLimits,
    /** Whether the input came gzipped. */
    readonly gzipped: boolean,
    /** Why the gzip stream was incomplete (its inflated prefix is `raw`); undefined when it was whole. */
    readonly gzipProblem?: string,
  ) {}

  /** True when the content starts with our format's magic. */
  get isVmprof(): boolean {
    const b = this.raw;
    return b.length >= MAGIC.length && MAGIC.every((x, i) => b[i] === x);
  }

  /** The first non-blank characters when the content starts like UTF-8 text, else undefined. */
  get head(): string | undefined {
    if (!this.headCache) {
      const head = Buffer.from(this.raw.subarray(0, 256)).toString("utf8").replace(/^\uFEFF/, "");
      const binary = /[\x00-\x08\x0e-\x1f]/.test(head) || head.includes("\uFFFD");
      this.headCache = { value: binary ? undefined : head.trimStart() };
    }
    return this.headCache.value;
  }

  /** The whole content as UTF-8 text. */
  text(): string {
    return (this.textCache ??= Buffer.from(this.raw.buffer, this.raw.byteOffset, this.raw.byteLength).toString("utf8").replace(/^\uFEFF/, ""));
  }

  /** The content parsed as JSON when it looks like a JSON object; undefined when it is not JSON. */
  json(): unknown {
    if (!this.jsonCache) {
      let value: unknown;
      if (this.head?.startsWith("{")) {
        try {
          value = JSON.parse(this.text());
        } catch {
          value = undefined;
        }
      }
      this.jsonCache = { value };
    }
    return this.jsonCache.value;
  }

  /**
   * Checks that the input is whole before an importer that needs all of it claims it: a gzip stream
   * that ended early is a ConvertError naming the source (`what` prefixes the reason).
   */
  whole(what: string): void {
    if (this.gzipProblem !== undefined) throw new ConvertError(`${this.source}: ${what}not valid gzip data (${this.gzipProblem})`);
  }
}

/**
 * An importer: `tryImport` returns the profile when the input is in its format, null when it is not
 * ("not mine"), and throws ConvertError naming the source when it is but is broken. With `sure` the
 * caller has said the format: the importer skips its check and reads (or fails on) the input.
 */
export interface Importer {
  format: InputFormat;
  tryImport(input: Input, sure: boolean): Profile | null;
}

function tryImportVmprof(input: Input, sure: boolean): Profile | null {
  if (!sure && !input.isVmprof) return null;
  try {
    // A gzip stream cut short keeps what it holds: the decoder reports the truncation.
    return decodeProfile(input.raw, input.source);
  } catch (e) {
    throw asConvertError(e);
  }
}

/** Every importer, in the order they are asked: ours by its magic, JSON by its fields, pprof by its structure, then text. */
export const IMPORTERS: readonly Importer[] = [
  { format: "vmprof", tryImport: tryImportVmprof },
  { format: "speedscope", tryImport: tryImportSpeedscope },
  { format: "cpuprofile", tryImport: tryImportCpuprofile },
  { format: "pprof", tryImport: tryImportPprof },
  { format: "collapsed", tryImport: tryImportCollapsed },
];

/** A profile read from any supported format. */
export interface ReadResult {
  profile: Profile;
  format: InputFormat;
  /** The input's bytes as read (before inflating), when it was read whole (a file, bytes, or `whole`). */
  bytes?: Uint8Array;
  /** Problems with source maps (`sources.dirs`), one line each, for stderr. */
  warnings: string[];
}

/** What readAnyProfile does with source maps. */
export interface SourceOptions {
  /** Show the source where the profile has it (applySources); false: the generated code. Default true. */
  apply?: boolean;
  /** Resolve maps again, looking in these directories too (`--source-maps DIR`), even if the profile has sources. */
  dirs?: string[];
}

/** Options of readAnyProfile. */
export interface ReadOptions {
  /** Names the input in messages; default: the path, "<memory>" or "<stdin>". */
  source?: string;
  /** What reading may cost; default DEFAULT_LIMITS. */
  limits?: ImportLimits;
  /** The format, when the caller knows it (no sniffing). */
  format?: InputFormat;
  /** Read a stream whole even when it is our format (so `bytes` is set), instead of decoding it as it arrives. */
  whole?: boolean;
  /** Source maps: by default the sources a profile holds are shown. */
  sources?: SourceOptions;
}

/**
 * Reads a profile in any supported format from a path, bytes, or a stream (stdin). Throws ConvertError
 * (one line naming the source) for unreadable, empty, broken or over-limit input (LimitError), and
 * UnknownFormatError (a ConvertError) for input of no supported format.
 */
export async function readAnyProfile(input: string | Uint8Array | Readable, o: ReadOptions = {}): Promise<ReadResult> {
  return withSources(await readRaw(input, o), o.sources ?? {});
}

/**
 * Shows the source the profile holds (SPEC.md FUNCTION_SOURCE, FRAME_SOURCES), after resolving maps
 * again when `dirs` are given (@vmprof/sourcemap is loaded only then).
 */
async function withSources(r: ReadResult, o: SourceOptions): Promise<ReadResult> {
  if (o.apply === false) return r;
  let profile = r.profile;
  const warnings = [...r.warnings];
  if (o.dirs && o.dirs.length > 0) {
    const { resolveSources } = await import("@vmprof/sourcemap");
    const res = resolveSources(profile, { dirs: o.dirs });
    profile = res.profile;
    warnings.push(...res.warnings);
  }
  return { ...r, profile: applySources(profile), warnings };
}

async function readRaw(input: string | Uint8Array | Readable, o: ReadOptions): Promise<ReadResult> {
  const name = o.source ?? (typeof input === "string" ? input : input instanceof Uint8Array ? "<memory>" : "<stdin>");
  if (input instanceof Uint8Array) return fromBytes(input, name, o);
  if (typeof input !== "string") return fromStream(input, name, o);
  let bytes: Uint8Array;
  try {
    // A path that is not a regular file (a FIFO, /dev/stdin) is read as the stream it is.
    if (!(await stat(input)).isFile()) return await fromStream(createReadStream(input), name, o);
    bytes = await readFile(input);
  } catch (e) {
    if (e instanceof ConvertError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.code === "EISDIR" ? "is a directory" : err.message;
    throw new ConvertError(`${name}: ${why}`);
  }
  return fromBytes(bytes, name, o);
}

const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Inflates once within the limit; a stream that ends early yields its prefix and the reason. */
function inflate(bytes: Uint8Array, source: string, limits: ImportLimits): { raw: Uint8Array; problem?: string } {
  const opts = { maxOutputLength: limits.maxInflated };
  const over = (e: unknown) => {
    const err = e as NodeJS.ErrnoException;
    return err.code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError;
  };
  try {
    return { raw: gunzipSync(bytes, opts) };
  } catch (e) {
    if (over(e)) throw new LimitError(`${source}: inflates to more than ${limits.maxInflated} bytes`);
    const problem = (e as Error).message;
    if ((e as NodeJS.ErrnoException).code !== "Z_BUF_ERROR") throw new ConvertError(`${source}: not valid gzip data (${problem})`);
    // Cut short (a profile copied while it was written): keep what inflates; importers decide.
    try {
      return { raw: gunzipSync(bytes, { ...opts, finishFlush: constants.Z_SYNC_FLUSH }), problem };
    } catch (e2) {
      if (over(e2)) throw new LimitError(`${source}: inflates to more than ${limits.maxInflated} bytes`);
      throw new ConvertError(`${source}: not valid gzip data (${(e2 as Error).message})`);
    }
  }
}

function fromBytes(bytes: Uint8Array, name: string, o: ReadOptions): ReadResult {
  if (bytes.length === 0) throw new ConvertError(`${name}: empty input, no profile`);
  const limits = o.limits ?? DEFAULT_LIMITS;
  const { raw, problem } = isGzip(bytes) ? inflate(bytes, name, limits) : { raw: bytes, problem: undefined };
  const input = new Input(raw, name, limits, raw !== bytes, problem);
  for (const imp of IMPORTERS) {
    if (o.format !== undefined && imp.format !== o.format) continue;
    let profile: Profile | null;
    try {
      profile = imp.tryImport(input, o.format !== undefined);
    } catch (e) {
      // The model refuses values it cannot hold exactly (a weight past 2^32 - 1 µs, a time past 2^53).
      if (e instanceof RangeError) throw new ConvertError(`${name}: ${imp.format}: ${e.message}`);
      throw e;
    }
    if (profile) return { profile, format: imp.format, bytes, warnings: [] };
  }
  throw new UnknownFormatError(`${name}: ${UNKNOWN_FORMAT}`);
}

async function fromStream(stream: Readable, name: string, o: ReadOptions): Promise<ReadResult> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array | string>;
  const bytesOf = (c: Uint8Array | string) => (typeof c === "string" ? Buffer.from(c) : c);
  let first = await it.next();
  while (!first.done && first.value.length === 0) first = await it.next();
  if (first.done) throw new ConvertError(`${name}: empty input, no profile`);
  const head = bytesOf(first.value);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield head;
    for (let c = await it.next(); !c.done; c = await it.next()) yield bytesOf(c.value);
  }
  const ours = head.length >= MAGIC.length && MAGIC.every((x, i) => head[i] === x);
  if (ours && !o.whole && (o.format === undefined || o.format === "vmprof")) {
    try {
      return { profile: await decodeStream(chunks(), name), format: "vmprof", warnings: [] };
    } catch (e) {
      throw asConvertError(e);
    }
  }
  const all: Uint8Array[] = [];
  for await (const c of chunks()) all.push(c);
  return fromBytes(Buffer.concat(all), name, o);
}

function asConvertError(e: unknown): unknown {
  if (e instanceof ProfileFormatError) return new ConvertError(e.code === "EMPTY" ? `${e.source}: empty input, no profile` : e.message);
  return e;
}
