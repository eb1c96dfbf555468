/**
 * The in-memory profile: what every importer produces and every view and exporter reads.
 *
 * Identity: processes, threads, functions, frames and stacks have ids 1, 2, 3... in the order the
 * file defines them (0 means "none"). Object arrays are 0-based (`functions[id - 1]`); typed arrays
 * indexed by id (stacks, per-function totals) have length count + 1 with slot 0 unused or "empty".
 * Times are microseconds (µs). Sample times are µs since the profile's origin, whose wall-clock time
 * is the `start_time` metadata (µs since the Unix epoch).
 */
import type { FunctionKind, ThreadKind, Tier } from "./constants.js";

/** A metadata value: text, a number, or a list of strings (argv). */
export type MetaValue = string | number | string[];

/** One profiled OS process. */
export interface ProcessInfo {
  /** 1-based id within this profile. */
  id: number;
  /** OS process id. */
  pid: number;
  /** OS parent process id; 0 when unknown. */
  ppid: number;
  /** When the process started recording, µs since the Unix epoch; 0 when unknown. */
  startTime: number;
  /** Short name, usually the executable or script. */
  name: string;
  /** Per-process metadata (node_version, argv, samples, ...), see KNOWN_META. */
  meta: Map<string, MetaValue>;
}

/** One sampled thread (a JS isolate: the main thread or a worker). */
export interface ThreadInfo {
  /** 1-based id within this profile. */
  id: number;
  /** Id of the ProcessInfo this thread belongs to. */
  process: number;
  /** OS thread id. */
  tid: number;
  name: string;
  kind: ThreadKind;
}

/** A function: the unit that views aggregate by. */
export interface FunctionInfo {
  /** 1-based id within this profile. */
  id: number;
  kind: FunctionKind;
  /** Function name; "" for anonymous functions. */
  name: string;
  /** Script URL or path; "" when unknown. */
  file: string;
  /** 1-based line of the function's start; 0 when unknown. */
  line: number;
  /** 1-based column of the function's start; 0 when unknown. */
  column: number;
}

/** A frame: a function as run by one tier. Stacks are made of frames. */
export interface FrameInfo {
  /** 1-based id within this profile. */
  id: number;
  /** Id of the FunctionInfo. */
  function: number;
  tier: Tier;
}

/**
 * All stacks as a trie: stack `s` is stack `parent[s]` with frame `frame[s]` called from its top.
 * Stack 0 is the empty stack (a sample with no frames). parent[s] < s always.
 */
export interface Stacks {
  /** Number of stacks including the empty stack 0. */
  count: number;
  parent: Uint32Array;
  frame: Uint32Array;
}

/** Samples stored by column; index i of every array describes sample i, in file order. */
export interface Samples {
  count: number;
  /** Thread id. */
  thread: Uint32Array;
  /** µs since the profile origin; non-decreasing within one thread. */
  time: Float64Array;
  /** Wall-clock weight: µs since the previous sample of the same thread (saturates at 2^32 - 1). */
  wall: Uint32Array;
  /** CPU weight: µs of the thread's CPU time since its previous sample (saturates at 2^32 - 1). */
  cpu: Uint32Array;
  /** VmState. */
  state: Uint8Array;
  /** Stack id (0 = no frames). */
  stack: Uint32Array;
}

/** Where and why a read stopped before the end of a complete profile. */
export interface Truncation {
  /** Byte offset (in the uncompressed stream) of the first byte not used. */
  offset: number;
  /** What was cut: "header", or the record type name ("samples", ...), or "end" for a missing END. */
  inside: string;
  /** A one-line message for a person, naming the source. */
  message: string;
}

/** A whole profile. */
export interface Profile {
  /** Name of the source it was read from (file path, "<stdin>"), for messages. */
  source: string;
  /** Format version of the source file as [major, minor]. */
  version: [number, number];
  /** Whole-profile metadata, see KNOWN_META. */
  meta: Map<string, MetaValue>;
  processes: ProcessInfo[];
  threads: ThreadInfo[];
  functions: FunctionInfo[];
  frames: FrameInfo[];
  stacks: Stacks;
  samples: Samples;
  /** Present when the source ended before its END record. */
  truncation?: Truncation;
}

/** Metadata keys with a fixed meaning (SPEC.md, "Metadata"). Other keys are free. */
export const KNOWN_META = {
  start_time: "int: wall-clock time of the profile origin, µs since the Unix epoch",
  end_time: "int: when recording ended, µs since the Unix epoch",
  mode: 'string: "cpu" or "wall"',
  period_us: "int: requested sampling period, µs",
  samples: "int: samples taken (achieved)",
  dropped_samples: "int: samples lost (buffer full, signal missed)",
  node_version: "string",
  v8_version: "string",
  platform: "string: e.g. linux",
  arch: "string: e.g. x64",
  argv: "strings: the command line, secrets redacted",
  cwd: "string: working directory",
  "label.*": "string: a user label (vmprof-record --label key=value)",
} as const;

/** Creates an empty profile. */
export function emptyProfile(source = "<memory>"): Profile {
  return {
    source,
    version: [0, 0],
    meta: new Map(),
    processes: [],
    threads: [],
    functions: [],
    frames: [],
    stacks: { count: 1, parent: new Uint32Array(1), frame: new Uint32Array(1) },
    samples: {
      count: 0,
      thread: new Uint32Array(0),
      time: new Float64Array(0),
      wall: new Uint32Array(0),
      cpu: new Uint32Array(0),
      state: new Uint8Array(0),
      stack: new Uint32Array(0),
    },
  };
}

/** The function of a frame id. */
export function frameFunction(p: Profile, frameId: number): FunctionInfo {
  return p.functions[p.frames[frameId - 1].function - 1];
}

/** The frames of a stack, outermost (root) first. */
export function stackFrames(p: Profile, stackId: number): number[] {
  const out: number[] = [];
  for (let s = stackId; s !== 0; s = p.stacks.parent[s]) out.push(p.stacks.frame[s]);
  return out.reverse();
}

/** A display label for a function: its name, or "(anonymous)". */
export function functionLabel(f: FunctionInfo): string {
  return f.name === "" ? "(anonymous)" : f.name;
}

/** "file:line:column" of a function, omitting unknown parts; "" when the file is unknown. */
export function functionLocation(f: FunctionInfo): string {
  if (f.file === "") return "";
  if (f.line === 0) return f.file;
  return f.column === 0 ? `${f.file}:${f.line}` : `${f.file}:${f.line}:${f.column}`;
}

/** A metadata value of the whole profile, or else of its first process that has it. */
export function metaValue(p: Profile, key: string): MetaValue | undefined {
  return p.meta.get(key) ?? p.processes.find((pr) => pr.meta.has(key))?.meta.get(key);
}
