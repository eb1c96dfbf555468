/**
 * The command's flags as plain data, read by two parsers: oclif (command.ts: help, and every error
 * message) and a fast path (fast.ts) that runs the common case without loading oclif, whose start-up
 * alone would triple the time of a report on a small profile. Both turn flags into ReportOptions with
 * toOptions(), so they cannot disagree on meaning.
 */
import type { Readable } from "node:stream";
import type { Weight } from "@vmprof/format";
import type { ReportOptions } from "./report.js";

/** One flag: its type, and the checks both parsers apply. */
export interface FlagSpec {
  type: "boolean" | "string" | "integer";
  summary: string;
  /** Repeatable; the value is an array. */
  multiple?: boolean;
  /** Allowed values of a string flag. */
  options?: string[];
  /** Smallest value of an integer flag. */
  min?: number;
  /** A boolean with a --no- form. */
  allowNo?: boolean;
  /** Flags that cannot be given with this one. */
  exclusive?: string[];
  helpValue?: string;
}

const VIEWS = ["top", "flat", "tree", "function", "diff"];
const others = (v: string) => VIEWS.filter((x) => x !== v);

/** Every flag of vmprof-report. */
export const FLAGS: Record<string, FlagSpec> = {
  top: { type: "boolean", summary: "Cumulative share per function, highest first (the default view).", exclusive: others("top") },
  flat: { type: "boolean", summary: "Self and cumulative share per function, highest self first, with JIT tiers.", exclusive: others("flat") },
  tree: { type: "boolean", summary: "The call tree: share of the total and of the parent per node.", exclusive: others("tree") },
  function: { type: "string", summary: "Callers and callees of each function matching this regular expression.", helpValue: "REGEX", exclusive: others("function") },
  diff: { type: "string", summary: "Change in share per function against this base profile.", helpValue: "BASE", exclusive: others("diff") },
  "min-percent": { type: "string", summary: "--tree: hide nodes under this share of the total [default: 1]." },
  depth: { type: "integer", summary: "--tree: show at most this many levels.", min: 1 },
  pid: { type: "integer", summary: "Only this process (repeatable).", multiple: true },
  tid: { type: "integer", summary: "Only this thread id (repeatable).", multiple: true },
  thread: { type: "string", summary: 'Only threads with this name, e.g. "main" or "worker 1" (repeatable).', multiple: true },
  from: { type: "string", summary: "Only samples from this many seconds after the start." },
  to: { type: "string", summary: "Only samples before this many seconds after the start." },
  weight: { type: "string", summary: "What a sample weighs [default: the recording's mode].", options: ["samples", "cpu", "wall"] },
  focus: { type: "string", summary: "Only samples through a function matching this regular expression.", helpValue: "REGEX" },
  ignore: { type: "string", summary: "Drop samples through a function matching this regular expression.", helpValue: "REGEX" },
  hide: { type: "string", summary: "Remove matching frames, giving their time to their callers.", helpValue: "REGEX" },
  internals: { type: "boolean", summary: "Show Node's internal (node:) functions; --no-internals folds them into their callers.", allowNo: true },
  limit: { type: "integer", summary: "Rows shown [default: 50 in text, all in JSON]; in --tree, children per node.", min: 1 },
  json: { type: "boolean", summary: "Print the view as JSON (its shape is in the README)." },
  color: { type: "boolean", summary: "Colour the output [default: on a terminal, unless NO_COLOR is set].", allowNo: true },
};

/** Parsed flag values by name (booleans, strings, integers, or arrays of them). */
export type FlagValues = Record<string, boolean | string | number | (string | number)[] | undefined>;

/** A flag value the parser accepted but the command refuses: one line, exit 2. */
export class FlagError extends Error {
  override readonly name = "FlagError";
}

function seconds(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (String(v).trim() === "" || !Number.isFinite(x) || x < 0) throw new FlagError(`--${flag}: expected a number of seconds >= 0, got "${v}"`);
  return x;
}

/** Where the process's streams are: for the default colour and width. */
export interface Terminal {
  stdin: Readable & { isTTY?: boolean };
  stdoutIsTTY: boolean;
  columns: number;
  env: NodeJS.ProcessEnv;
}

/** This process's streams as a Terminal. */
export function processTerminal(): Terminal {
  return { stdin: process.stdin, stdoutIsTTY: process.stdout.isTTY === true, columns: process.stdout.columns ?? 0, env: process.env };
}

/** The report's options from parsed flags and the file argument. Throws FlagError for bad values. */
export function toOptions(f: FlagValues, file: string | undefined, term: Terminal): ReportOptions {
  const minPercent = f["min-percent"] === undefined ? 1 : Number(f["min-percent"]);
  if (!Number.isFinite(minPercent) || minPercent < 0 || minPercent > 100 || String(f["min-percent"] ?? "1").trim() === "")
    throw new FlagError(`--min-percent: expected a number from 0 to 100, got "${f["min-percent"]}"`);
  const view = f.flat ? "flat" : f.tree ? "tree" : f.function !== undefined ? "function" : f.diff !== undefined ? "diff" : "top";
  const nums = (v: unknown) => (v === undefined ? undefined : (v as number[]));
  return {
    input: file,
    stdin: term.stdin,
    view,
    pattern: f.function as string | undefined,
    base: f.diff as string | undefined,
    weight: f.weight as Weight | undefined,
    pids: nums(f.pid),
    tids: nums(f.tid),
    threads: f.thread as string[] | undefined,
    from: seconds("from", f.from),
    to: seconds("to", f.to),
    focus: f.focus as string | undefined,
    ignore: f.ignore as string | undefined,
    hide: f.hide as string | undefined,
    internals: f.internals !== false,
    limit: f.limit as number | undefined,
    minPercent,
    depth: f.depth as number | undefined,
    json: f.json === true,
    color: (f.color as boolean | undefined) ?? (term.stdoutIsTTY && !term.env.NO_COLOR),
    width: term.stdoutIsTTY ? term.columns : 0,
  };
}
