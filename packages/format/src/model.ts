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
  /**
   * Where the function was written, by a source map (SPEC.md FUNCTION_SOURCE), as recorded; `name`
   * is "" when the map gives no original name.
   */
  source?: SourceFunction;
  /** After `applySources`: the generated function (what ran) that the fields above now replace. */
  generated?: SourceFunction;
}

/** A function's name and place in one file (source or generated code). Lines and columns 1-based, 0 unknown. */
export interface SourceFunction {
  name: string;
  file: string;
  line: number;
  column: number;
}

/** A position in a file; 1-based line and column, 0 unknown; file "" means its function's file. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** A frame: a function as run by one tier. Stacks are made of frames. */
export interface FrameInfo {
  /** 1-based id within this profile. */
  id: number;
  /** Id of the FunctionInfo. */
  function: number;
  tier: Tier;
  /** 1-based line the frame was executing (in its function's file); 0 when unknown. */
  line: number;
  /** 1-based column the frame was executing; 0 when unknown. */
  column: number;
  /** Set only when the position above is in another file than its function's (after applySources). */
  file?: string;
  /** The position in the source the code was generated from (SPEC.md FRAME_SOURCES), as recorded. */
  source?: SourcePosition;
  /** After `applySources`: the generated position that line/column/file now replace. */
  generated?: SourcePosition;
}

/** A script that declared a source map (SPEC.md SCRIPT). */
export interface ScriptInfo {
  /** The script's name as functions' `file` gives it. */
  file: string;
  /** Its `//# sourceMappingURL=` value: a URL or path relative to the script, or a data: URL. */
  sourceMapUrl: string;
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
  /** Wall-clock weight: µs since the previous sample of the same thread (at most 2^32 - 1; the decoder saturates larger ones). */
  wall: Uint32Array;
  /** CPU weight: µs of the thread's CPU time since its previous sample (at most 2^32 - 1; the decoder saturates larger ones). */
  cpu: Uint32Array;
  /** VmState. */
  state: Uint8Array;
  /** Stack id (0 = no frames). */
  stack: Uint32Array;
  /** Label set id (0 = the sample carries no labels of its own; profile and process labels still apply). */
  labels: Uint32Array;
}

/** One label set (SPEC.md LABELS): key=value pairs, keys unique and non-empty, sorted by key. */
export type LabelSet = readonly (readonly [key: string, value: string])[];

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
  /** Scripts that declared a source map, in file order. */
  scripts: ScriptInfo[];
  /** True once `applySources` put source positions in place of the generated ones. */
  sourcesApplied?: boolean;
  stacks: Stacks;
  /** Label sets by id: `labelSets[id - 1]`. */
  labelSets: LabelSet[];
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
  native_frames: 'string: "libunwind" when the recording has native frames (vmprof-record --native)',
  native_mappings:
    'strings, per process: the executable file mappings that held a sampled native pc, "START END OFFSET BUILD_ID FILE" (hex; BUILD_ID "-" when none)',
  native_symbolized: "int: native pcs named by an ELF symbol",
  sample_cost_ns: "int: the sampled thread's time per sample in the sampler's signal handler (stack sample, native unwind if any, copy), ns (mean)",
  native_unsymbolized: "int: native pcs named by file+offset or (unknown native)",
  "label.*": "string: a label of every sample of the profile, or of the process (vmprof-record --label key=value)",
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
    scripts: [],
    labelSets: [],
    stacks: { count: 1, parent: new Uint32Array(1), frame: new Uint32Array(1) },
    samples: {
      count: 0,
      thread: new Uint32Array(0),
      time: new Float64Array(0),
      wall: new Uint32Array(0),
      cpu: new Uint32Array(0),
      state: new Uint8Array(0),
      stack: new Uint32Array(0),
      labels: new Uint32Array(0),
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
export function functionLocation(f: { file: string; line: number; column: number }): string {
  if (f.file === "") return "";
  if (f.line === 0) return f.file;
  return f.column === 0 ? `${f.file}:${f.line}` : `${f.file}:${f.line}:${f.column}`;
}

/** A metadata value of the whole profile, or else of its first process that has it. */
export function metaValue(p: Profile, key: string): MetaValue | undefined {
  return p.meta.get(key) ?? p.processes.find((pr) => pr.meta.has(key))?.meta.get(key);
}

/** "file:line" (or "file:line:column" when `column`) of a frame's position; "" when its line is unknown. */
export function frameLocation(p: Profile, frameId: number, column = false): string {
  const fr = p.frames[frameId - 1];
  if (fr.line === 0) return "";
  const file = fr.file ?? p.functions[fr.function - 1].file;
  return column && fr.column !== 0 ? `${file}:${fr.line}:${fr.column}` : `${file}:${fr.line}`;
}

/**
 * The profile as the user wrote it: a copy whose functions and frames that a source map covers show
 * their source name, file, line and column, with the generated ones kept in `generated` (writers
 * store both). Functions the map gives no name keep their generated name. Returns `p` itself when
 * nothing is mapped or sources are already applied. Sample and stack arrays are shared, not copied.
 */
export function applySources(p: Profile): Profile {
  if (p.sourcesApplied || (!p.functions.some((f) => f.source) && !p.frames.some((fr) => fr.source))) return p;
  const functions = p.functions.map((f): FunctionInfo => {
    const s = f.source;
    if (!s) return f;
    return {
      ...f,
      name: s.name !== "" ? s.name : f.name,
      file: s.file,
      line: s.line,
      column: s.column,
      generated: { name: f.name, file: f.file, line: f.line, column: f.column },
    };
  });
  const frames = p.frames.map((fr): FrameInfo => {
    const s = fr.source;
    const mapped = functions[fr.function - 1].generated !== undefined;
    if (!s && !mapped) return fr;
    const generated: SourcePosition = { file: "", line: fr.line, column: fr.column };
    // A frame of a mapped function whose own position has no mapping: its line is unknown in the source.
    if (!s) return { ...fr, line: 0, column: 0, generated };
    const file = s.file !== "" && s.file !== functions[fr.function - 1].file ? s.file : undefined;
    return { ...fr, line: s.line, column: s.column, ...(file ? { file } : {}), generated };
  });
  return { ...p, functions, frames, sourcesApplied: true };
}

/** The function as it ran (generated code): its own fields, or `generated` after applySources. */
export function generatedFunction(f: FunctionInfo): SourceFunction {
  return f.generated ?? { name: f.name, file: f.file, line: f.line, column: f.column };
}

/** The frame's generated position (file "" = its function's generated file). */
export function generatedPosition(fr: FrameInfo): SourcePosition {
  return fr.generated ?? { file: "", line: fr.line, column: fr.column };
}
