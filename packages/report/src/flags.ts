/**
 * The command's flags as plain data, read by two parsers: oclif (command.ts: help, and every error
 * message) and a fast path (fast.ts) that runs the common case without loading oclif, whose start-up
 * alone would triple the time of a report on a small profile. Both turn flags into ReportOptions with
 * toOptions(), so they cannot disagree on meaning.
 */
import type { Readable } from "node:stream";
import { ConvertError, SELECTION_FLAGS, parseSelectionFlags, type FlagSpec, type FlagValues, type SelectionFlagValues } from "vmprof-convert";
import type { ReportOptions } from "./report.js";

export type { FlagSpec, FlagValues };

const VIEWS = ["top", "flat", "tree", "function", "diff", "threads", "lines", "source"];
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
  threads: { type: "boolean", summary: "The processes and threads the selection covers: pid, parent, tid, name, samples, duration.", exclusive: others("threads") },
  lines: {
    type: "boolean",
    summary: "Per function, the lines it was sampled at: self and total share and the line's text. The top functions, or with PATTERN before FILE (--lines PATTERN FILE) those matching.",
    exclusive: others("lines"),
  },
  source: { type: "string", summary: "The source of each function matching this regular expression, with the share of each line in the margin.", helpValue: "REGEX", exclusive: others("source") },
  "by-line": { type: "boolean", summary: 'Lines are the unit of --top, --flat, --tree, --function and --diff: a row is "function file:line".' },
  "by-label": {
    type: "string",
    summary: '--top and --flat: a section per value of label KEY, heaviest first, with its share of the total; rows are the functions of that value\'s samples, shares of the whole selection; samples without KEY go under "(no KEY)".',
    helpValue: "KEY",
  },
  ...SELECTION_FLAGS,
  from: { ...SELECTION_FLAGS.start, summary: "Same as --start (the name vmprof-report used first)." },
  to: { ...SELECTION_FLAGS.end, summary: "Same as --end (the name vmprof-report used first)." },
  limit: { type: "integer", summary: "Rows shown [default: 50 in text, all in JSON]; in --tree, children per node.", min: 1 },
  json: { type: "boolean", summary: "Print the view as JSON (its shape is in the README)." },
  color: { type: "boolean", summary: "Colour the output [default: on a terminal, unless NO_COLOR is set].", allowNo: true },
  live: {
    type: "boolean",
    summary: "Follow a profile that is still being written (a pipe, or a growing file) and redraw --top or --flat every second until it ends; Ctrl-C stops.",
  },
  window: { type: "string", summary: "--live: only samples of the last SECONDS of profile time (before the newest sample) [default: all so far].", helpValue: "SECONDS" },
  interval: { type: "string", summary: "--live: seconds between redraws [default: 1].", helpValue: "SECONDS" },
};


/** A flag value the parser accepted but the command refuses: one line, exit 2. */
export class FlagError extends Error {
  override readonly name = "FlagError";
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

/** A number of seconds > 0 from a flag's text (--window, --interval); FlagError naming the flag otherwise. */
function positiveSeconds(flag: string, v: unknown, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (String(v).trim() === "" || !Number.isFinite(x) || x <= min) throw new FlagError(`--${flag}: expected a number of seconds > ${min}, got "${v}"`);
  return x;
}

/** --live, --window and --interval as ReportOptions' `live`; FlagError for a view or flag live mode cannot show. */
function liveOptions(f: FlagValues, view: ReportOptions["view"], term: Terminal): ReportOptions["live"] {
  if (!f.live) {
    for (const flag of ["window", "interval"]) if (f[flag] !== undefined) throw new FlagError(`--${flag} applies to --live only`);
    return undefined;
  }
  if (view !== "top" && view !== "flat") throw new FlagError(`--live shows --top or --flat, not --${view}`);
  if (f.json) throw new FlagError("--live prints text views; --json reads a whole profile (drop --live)");
  if (f["source-maps"] !== undefined) throw new FlagError("--source-maps DIR resolves maps over a whole profile; not with --live (the maps a profile holds are shown)");
  return { interval: positiveSeconds("interval", f.interval, 0.05) ?? 1, window: positiveSeconds("window", f.window), terminal: term.stdoutIsTTY };
}

/**
 * The report's options from parsed flags and the positional arguments: [FILE], or with --lines
 * [PATTERN FILE] (a flag's optional value neither parser has). Throws FlagError for bad values.
 */
export function toOptions(f: FlagValues, args: (string | undefined)[], term: Terminal): ReportOptions {
  const minPercent = f["min-percent"] === undefined ? 1 : Number(f["min-percent"]);
  if (!Number.isFinite(minPercent) || minPercent < 0 || minPercent > 100 || String(f["min-percent"] ?? "1").trim() === "")
    throw new FlagError(`--min-percent: expected a number from 0 to 100, got "${f["min-percent"]}"`);
  const view = f.flat ? "flat" : f.tree ? "tree" : f.threads ? "threads" : f.lines ? "lines" : f.function !== undefined ? "function" : f.source !== undefined ? "source" : f.diff !== undefined ? "diff" : "top";
  if (f["by-line"] && ["lines", "source", "threads"].includes(view)) throw new FlagError(`--by-line applies to --top, --flat, --tree, --function and --diff, not --${view}`);
  const byLabel = f["by-label"] as string | undefined;
  if (byLabel !== undefined && view !== "top" && view !== "flat") throw new FlagError(`--by-label applies to --top and --flat, not --${view}`);
  if (byLabel !== undefined && byLabel.trim() === "") throw new FlagError("--by-label: expected a label key");
  const given = args.filter((a): a is string => a !== undefined);
  if (given.length > 2 || (given.length === 2 && view !== "lines")) throw new FlagError(`unexpected argument "${given[given.length - 1]}" (one profile at a time; only --lines takes PATTERN FILE)`);
  const file = given.length === 2 ? given[1] : given[0];
  const pattern = view === "lines" ? (given.length === 2 ? given[0] : undefined) : ((f.function ?? f.source) as string | undefined);
  // --from and --to are the old names of --start and --end: messages name what was typed.
  const values = { ...(f as SelectionFlagValues), start: (f.start ?? f.from) as string | undefined, end: (f.end ?? f.to) as string | undefined };
  const names = { start: f.start === undefined && f.from !== undefined ? "from" : "start", end: f.end === undefined && f.to !== undefined ? "to" : "end" };
  let selected;
  try {
    selected = parseSelectionFlags(values, names);
  } catch (e) {
    if (e instanceof ConvertError) throw new FlagError(e.message);
    throw e;
  }
  const live = liveOptions(f, view, term);
  return {
    ...(live ? { live } : {}),
    input: file,
    stdin: term.stdin,
    view,
    pattern,
    byLine: f["by-line"] === true,
    ...(byLabel !== undefined ? { byLabel } : {}),
    base: f.diff as string | undefined,
    ...selected,
    limit: f.limit as number | undefined,
    minPercent,
    depth: f.depth as number | undefined,
    json: f.json === true,
    color: (f.color as boolean | undefined) ?? (term.stdoutIsTTY && !term.env.NO_COLOR),
    width: term.stdoutIsTTY ? term.columns : 0,
  };
}
