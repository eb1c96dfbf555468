/**
 * Numbers fixed by SPEC.md: the magic, the version, the record types and the enumerations stored in
 * the file. Changing any value here changes the format: update SPEC.md, the goldens and the version.
 */

/** The first 8 bytes of every profile: "\x89VMPROF\n". */
export const MAGIC = Uint8Array.of(0x89, 0x56, 0x4d, 0x50, 0x52, 0x4f, 0x46, 0x0a);
/** Size of the fixed header in bytes: magic (8), major (1), minor (1), reserved (2). */
export const HEADER_SIZE = 12;
/** Major version: a reader refuses a file with a higher major version. */
export const VERSION_MAJOR = 1;
/** Minor version: additions that older readers may skip (new record types, trailing fields). */
export const VERSION_MINOR = 2;
/** Largest payload a record may declare, in bytes (64 MiB); larger lengths mean corruption. */
export const MAX_RECORD_LENGTH = 1 << 26;
/** Most samples one SAMPLES record may hold. */
export const MAX_BATCH_SAMPLES = 1 << 16;

/** Record type bytes (SPEC.md, "Records"). 0 is never a valid type. */
export const RecordType = {
  META: 0x01,
  PROCESS: 0x02,
  THREAD: 0x03,
  FUNCTION: 0x04,
  FRAME: 0x05,
  STACKS: 0x06,
  SAMPLES: 0x07,
  /** 1.1: a script's source map URL. */
  SCRIPT: 0x08,
  /** 1.1: where a function was written, by a source map. */
  FUNCTION_SOURCE: 0x09,
  /** 1.1: source positions of frames, by source maps. */
  FRAME_SOURCES: 0x0a,
  /** 1.2: label sets (key=value pairs) that samples carry. */
  LABELS: 0x0b,
  END: 0x0f,
} as const;

/** Human names of record types, for error messages. */
export const RECORD_NAMES: Record<number, string> = {
  [RecordType.META]: "meta",
  [RecordType.PROCESS]: "process",
  [RecordType.THREAD]: "thread",
  [RecordType.FUNCTION]: "function",
  [RecordType.FRAME]: "frame",
  [RecordType.STACKS]: "stacks",
  [RecordType.SAMPLES]: "samples",
  [RecordType.SCRIPT]: "script",
  [RecordType.FUNCTION_SOURCE]: "function source",
  [RecordType.FRAME_SOURCES]: "frame sources",
  [RecordType.LABELS]: "labels",
  [RecordType.END]: "end",
};

/** What the sampled thread's VM was doing when a sample was taken. */
export const VmState = {
  JS: 0,
  GC: 1,
  COMPILER: 2,
  PARSER: 3,
  NATIVE: 4,
  IDLE: 5,
  OTHER: 6,
} as const;
export type VmState = (typeof VmState)[keyof typeof VmState];
/** Lower-case names of VmState values, indexed by value. */
export const VM_STATE_NAMES = ["js", "gc", "compiler", "parser", "native", "idle", "other"] as const;

/** Which execution tier ran a JS frame. */
export const Tier = {
  UNKNOWN: 0,
  /** Ignition bytecode interpreter. */
  INTERPRETED: 1,
  /** Sparkplug baseline compiler. */
  BASELINE: 2,
  /** Maglev mid-tier optimizing compiler. */
  MAGLEV: 3,
  /** TurboFan optimizing compiler. */
  OPTIMIZED: 4,
} as const;
export type Tier = (typeof Tier)[keyof typeof Tier];
/** Lower-case names of Tier values, indexed by value. */
export const TIER_NAMES = ["unknown", "interpreted", "baseline", "maglev", "optimized"] as const;
/** V8's own one-character tier markers (as in `JS:~name`), indexed by Tier; "" for unknown. */
export const TIER_MARKERS = ["", "~", "^", "+", "*"] as const;

/** What kind of code a function is. Node internals are JS functions whose file starts with "node:". */
export const FunctionKind = {
  JS: 0,
  /** C++ code: Node's own, an addon, or an external callback. */
  NATIVE: 1,
  /** V8 builtins, stubs and generated regexp code. */
  BUILTIN: 2,
  /** Anything else (for example WebAssembly). */
  OTHER: 3,
} as const;
export type FunctionKind = (typeof FunctionKind)[keyof typeof FunctionKind];
/** Lower-case names of FunctionKind values, indexed by value. */
export const FUNCTION_KIND_NAMES = ["js", "native", "builtin", "other"] as const;

/** Thread roles. */
export const ThreadKind = { MAIN: 0, WORKER: 1, OTHER: 2 } as const;
export type ThreadKind = (typeof ThreadKind)[keyof typeof ThreadKind];
/** Lower-case names of ThreadKind values, indexed by value. */
export const THREAD_KIND_NAMES = ["main", "worker", "other"] as const;

/** Encodings of a SAMPLES record's column body. */
export const SampleEncoding = { PLAIN: 0, DEFLATE: 1 } as const;

/** Kinds of META values. */
export const MetaKind = { STRING: 0, INT: 1, FLOAT: 2, STRINGS: 3 } as const;
