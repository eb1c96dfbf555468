/**
 * Reading any supported profile: the format is found from the content (magic bytes, then structure),
 * never from the file name. Our own format streams from pipes as it arrives; the others are read whole.
 */
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { MAGIC, ProfileFormatError, decodeProfile, readProfile, type Profile } from "@vmprof/format";
import { ConvertError, LimitError } from "./errors.js";
import { DEFAULT_LIMITS, inflate, isGzip, type ImportLimits } from "./limits.js";
import { importCollapsed, looksLikeCollapsed } from "./import/collapsed.js";
import { importCpuprofile, looksLikeCpuprofile, type CpuProfile } from "./import/cpuprofile.js";
import { decodePprof, importPprof } from "./import/pprof.js";
import { importSpeedscope, looksLikeSpeedscope } from "./import/speedscope.js";

/** The formats an input can be in. */
export const INPUT_FORMATS = ["vmprof", "pprof", "cpuprofile", "speedscope", "collapsed"] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** A profile read from any supported format. */
export interface ReadResult {
  profile: Profile;
  format: InputFormat;
}

const hasMagic = (b: Uint8Array) => b.length >= MAGIC.length && MAGIC.every((x, i) => b[i] === x);
/** What an input of no supported format is told. */
export const UNKNOWN_FORMAT = "unknown format (expected a vmprof profile, pprof, Chrome .cpuprofile, speedscope JSON or collapsed stacks)";

/**
 * Which format `bytes` hold, from their content: "vmprof" by its magic (also gzipped), "pprof" by a
 * gzip stream or bytes that decode as profile.proto, JSON by its fields, collapsed by its lines.
 * Undefined when none fits. Throws LimitError (naming `source`) when gzip inflates past the limit.
 */
export function detectFormat(bytes: Uint8Array, limits: ImportLimits = DEFAULT_LIMITS, source = "<input>"): InputFormat | undefined {
  if (!isGzip(bytes)) return detectRaw(bytes, false);
  let raw: Uint8Array;
  try {
    raw = inflate(bytes, source, limits, "", true);
  } catch (e) {
    if (e instanceof LimitError) throw e;
    return undefined;
  }
  return detectRaw(raw, true);
}

/** detectFormat on bytes already inflated; `gzipped` says whether they were. */
function detectRaw(raw: Uint8Array, gzipped: boolean): InputFormat | undefined {
  if (hasMagic(raw)) return "vmprof";
  const text = leadingText(raw);
  if (text?.startsWith("{")) {
    const v = parseJson(raw);
    if (looksLikeSpeedscope(v)) return "speedscope";
    if (looksLikeCpuprofile(v)) return "cpuprofile";
    return undefined;
  }
  if (looksLikePprof(raw)) return "pprof";
  // Gzip that is neither ours nor JSON nor text: let the pprof importer say what is wrong with it.
  if (gzipped && leadingText(raw) === undefined) return "pprof";
  if (text !== undefined && looksLikeCollapsed(Buffer.from(raw).toString("utf8"))) return "collapsed";
  return undefined;
}

/** profile.proto's top-level fields: 1-6 and 11 are messages or strings, 13 is packed or not, the rest varints. */
const PPROF_LEN_FIELDS = new Set([1, 2, 3, 4, 5, 6, 11, 13]);
const PPROF_VARINT_FIELDS = new Set([7, 8, 9, 10, 12, 13, 14, 15]);

/**
 * True when `b` walks as profile.proto's top-level fields from start to end, with a string table:
 * a structural check, without decoding the messages (the importer does that once).
 */
export function looksLikePprof(b: Uint8Array): boolean {
  let pos = 0;
  let strings = false;
  const varint = (): number => {
    let x = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (pos >= b.length) return -1;
      const c = b[pos++];
      x += (c & 0x7f) * mul;
      if (c < 0x80) return x;
      mul *= 128;
    }
    return -1;
  };
  while (pos < b.length) {
    const tag = varint();
    if (tag < 0) return false;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 2 && PPROF_LEN_FIELDS.has(field)) {
      const len = varint();
      if (len < 0 || pos + len > b.length) return false;
      pos += len;
      if (field === 6) strings = true;
    } else if (wire === 0 && PPROF_VARINT_FIELDS.has(field)) {
      if (varint() < 0) return false;
    } else {
      return false;
    }
  }
  return strings;
}

/** The first non-blank characters when `b` starts like UTF-8 text, else undefined. */
function leadingText(b: Uint8Array): string | undefined {
  const head = Buffer.from(b.subarray(0, 256)).toString("utf8").replace(/^\uFEFF/, "");
  if (/[\x00-\x08\x0e-\x1f]/.test(head) || head.includes("\uFFFD")) return undefined;
  return head.trimStart();
}

function parseJson(b: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(b).toString("utf8").replace(/^\uFEFF/, ""));
  } catch {
    return undefined;
  }
}

/**
 * Imports bytes (gzipped or not) whose format is known. Throws ConvertError naming `source` for
 * broken input and for input over the limits.
 */
export function importBytes(bytes: Uint8Array, format: InputFormat, source: string, limits: ImportLimits = DEFAULT_LIMITS): Profile {
  const what = format === "vmprof" ? "" : format === "pprof" ? "corrupt pprof: " : `${format}: `;
  // Our reader keeps what a truncated gzip stream holds; the other formats need the whole text.
  const raw = isGzip(bytes) ? inflate(bytes, source, limits, what, format === "vmprof") : bytes;
  switch (format) {
    case "vmprof":
      return readVmprof(raw, source);
    case "pprof":
      return importPprof(decodePprof(raw, source), source, limits);
    case "cpuprofile":
      return importCpuprofile(jsonOf(raw, source) as CpuProfile, source);
    case "speedscope":
      return importSpeedscope(jsonOf(raw, source) as Parameters<typeof importSpeedscope>[0], source, limits);
    case "collapsed":
      return importCollapsed(Buffer.from(raw).toString("utf8"), source, limits);
  }
}

function jsonOf(b: Uint8Array, source: string): unknown {
  const v = parseJson(b);
  if (v === undefined) throw new ConvertError(`${source}: not valid JSON`);
  return v;
}

function readVmprof(b: Uint8Array, source: string): Profile {
  try {
    return decodeProfile(b, source);
  } catch (e) {
    throw asConvertError(e);
  }
}

function asConvertError(e: unknown): unknown {
  if (e instanceof ProfileFormatError) return new ConvertError(e.code === "EMPTY" ? `${e.source}: empty input, no profile` : e.message);
  return e;
}

/**
 * Reads a profile in any supported format from a path, bytes, or a stream (stdin). Our own format
 * from a stream is decoded as it arrives (a live `vmprof-record -o -`). Throws ConvertError (one line
 * naming the source) for unreadable, unknown or broken input.
 */
export async function readAnyProfile(input: string | Uint8Array | Readable, source?: string): Promise<ReadResult> {
  const name = source ?? (typeof input === "string" ? input : input instanceof Uint8Array ? "<memory>" : "<stdin>");
  let bytes: Uint8Array;
  if (typeof input === "string") {
    try {
      if (!(await stat(input)).isFile()) return await readStream(createReadStream(input), name);
      bytes = await readFile(input);
    } catch (e) {
      if (e instanceof ConvertError) throw e;
      const err = e as NodeJS.ErrnoException;
      const why = err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.code === "EISDIR" ? "is a directory" : err.message;
      throw new ConvertError(`${name}: ${why}`);
    }
  } else if (input instanceof Uint8Array) {
    bytes = input;
  } else {
    return readStream(input, name);
  }
  return fromBytes(bytes, name);
}

function fromBytes(bytes: Uint8Array, name: string): ReadResult {
  if (bytes.length === 0) throw new ConvertError(`${name}: empty input, no profile`);
  const raw = isGzip(bytes) ? inflate(bytes, name, DEFAULT_LIMITS, "", true) : bytes;
  const format = detectRaw(raw, raw !== bytes);
  if (!format) throw new ConvertError(`${name}: ${UNKNOWN_FORMAT}`);
  return { profile: importBytes(raw, format, name), format };
}

async function readStream(stream: Readable, name: string): Promise<ReadResult> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array | string>;
  let first = await it.next();
  while (!first.done && first.value.length === 0) first = await it.next();
  if (first.done) throw new ConvertError(`${name}: empty input, no profile`);
  const head = typeof first.value === "string" ? Buffer.from(first.value) : first.value;
  async function* rest(): AsyncGenerator<Uint8Array> {
    yield head;
    for (let c = await it.next(); !c.done; c = await it.next()) yield typeof c.value === "string" ? Buffer.from(c.value) : c.value;
  }
  if (hasMagic(head)) {
    try {
      return { profile: await readProfile(Readable.from(rest()), name), format: "vmprof" };
    } catch (e) {
      throw asConvertError(e);
    }
  }
  const chunks: Uint8Array[] = [];
  for await (const c of rest()) chunks.push(c);
  return fromBytes(Buffer.concat(chunks), name);
}
