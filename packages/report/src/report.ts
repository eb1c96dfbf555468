/**
 * What `vmprof-report` does, as a library call: read the profile (a file, or a stream such as stdin),
 * build the chosen view under the selection and filters, and render it as text or JSON.
 */
import type { Readable } from "node:stream";
import { SelectionError, metaValue, type Aggregate, type PathFilter, type Profile, type Selection, type Weight } from "@vmprof/format";
import { ConvertError, compilePattern, readAnyProfile, type SourceOptions } from "vmprof-convert";
import { renderText } from "./text.js";
import { diskSource, type SourceReader } from "./source.js";
import { ViewError, diffView, flatView, functionView, linesView, sourceView, threadsView, topView, treeView, type View } from "./views.js";

/** Bad input or bad usage: one line for the user, exit status 2. */
export class ReportUsageError extends Error {
  override readonly name = "ReportUsageError";
}

/** Everything the command's flags say. */
export interface ReportOptions {
  /** A path, "-" for `stdin`, or absent for `stdin` (which must then not be a terminal). */
  input?: string;
  /** Where "-" and an absent input read from. */
  stdin: Readable & { isTTY?: boolean };
  view: "top" | "flat" | "tree" | "function" | "diff" | "threads" | "lines" | "source";
  /** The regular expression of --function, --source, or --lines PATTERN. */
  pattern?: string;
  /** --by-line: lines are the unit of top, flat, tree, function and diff. */
  byLine?: boolean;
  /** --by-label KEY: top and flat split by the value of label KEY (ViewOptions.byLabel). */
  byLabel?: string;
  /** Where --lines and --source read a file's text; default: from disk (relative to the profile's cwd), else the source maps' sourcesContent. */
  readSource?: SourceReader;
  /** Source maps: readAnyProfile's `sources` (--source-maps DIR, --no-source-maps). */
  sources?: SourceOptions;
  /** --diff BASE: the base profile's path. */
  base?: string;
  /** What a sample weighs; default: the recording's mode. */
  weight?: Weight;
  /** Processes, threads and time range (µs since the origin); see the convert package's selection flags. */
  selection?: Selection;
  /** Focus, ignore, hide and Node internals. */
  filter?: PathFilter;
  /** Rows (and, in --tree, children per node) shown; text views default to 50, JSON to all. */
  limit?: number;
  minPercent?: number;
  depth?: number;
  json?: boolean;
  color?: boolean;
  /** Terminal width for text; 0 or absent: lines are never cut. */
  width?: number;
  /** --live: follow the input as it grows and redraw the view (top or flat only); see live.ts. */
  live?: LiveOptions;
}

/** --live, --interval and --window. */
export interface LiveOptions {
  /** Seconds between redraws, > 0 (default 1). */
  interval: number;
  /** Only samples of the last `window` seconds of profile time, counted back from the newest sample (by its timestamp); absent: all so far. */
  window?: number;
  /** Redraw in place (alternate screen, cursor codes) and cut the view to the terminal's size; false: one complete view per interval, no cursor codes. */
  terminal: boolean;
}

/** The report's output and the warnings for stderr (a truncated profile). */
export interface ReportResult {
  output: string;
  warnings: string[];
  view: View;
}

/** Text views show this many rows unless --limit says otherwise. */
export const DEFAULT_TEXT_LIMIT = 50;

/** --lines and --source in text show this many functions unless --limit says otherwise. */
export const LINES_TEXT_LIMIT = 10;

async function load(input: string | undefined, o: ReportOptions, warnings: string[]): Promise<Profile> {
  try {
    const r =
      input === undefined || input === "-"
        ? await (input === undefined && o.stdin.isTTY
            ? Promise.reject(new ReportUsageError("no profile given: name a file, or pipe one in (vmprof-record -o - -- node app.js | vmprof-report)"))
            : readAnyProfile(o.stdin, { source: "<stdin>", sources: o.sources }))
        : await readAnyProfile(input, { sources: o.sources });
    for (const w of r.warnings) warnings.push(`warning: ${w}`);
    return r.profile;
  } catch (e) {
    if (e instanceof ConvertError) throw new ReportUsageError(e.message);
    throw e;
  }
}

/**
 * Where --lines and --source read files: from disk (relative to the recording's cwd), else from the
 * profile's source maps' sourcesContent (for a profile read away from its files). Other views read none.
 */
async function sourceReader(p: Profile, o: ReportOptions): Promise<SourceReader | undefined> {
  if (o.view !== "lines" && o.view !== "source") return undefined;
  const cwd = metaValue(p, "cwd");
  const disk = diskSource(typeof cwd === "string" ? cwd : undefined);
  if (!p.sourcesApplied) return disk;
  const { sourceTextReader } = await import("@vmprof/sourcemap");
  const mapped = sourceTextReader(p, { dirs: o.sources?.dirs });
  return (file) => disk(file) ?? mapped(file);
}

/** Compiles the --function, --source or --lines pattern; ReportUsageError for a bad one. */
function compiledPattern(o: ReportOptions): RegExp | undefined {
  try {
    return o.pattern !== undefined ? compilePattern(`--${o.view}`, o.pattern) : undefined;
  } catch (e) {
    throw new ReportUsageError((e as Error).message);
  }
}

/**
 * The view `o.view` of `p` under the options' weight, selection, filters and limit (text views
 * default to DEFAULT_TEXT_LIMIT rows). `base` is --diff's base profile, `readSource` where --lines and
 * --source read files, `aggregate` the selection already aggregated (ViewOptions.aggregate). Throws ReportUsageError for a selection the profile cannot satisfy (an unknown
 * pid or thread) or a view it cannot show. The live view calls this on every redraw.
 */
export function buildView(p: Profile, o: ReportOptions, extra: { pattern?: RegExp; base?: Profile; readSource?: SourceReader; aggregate?: Aggregate } = {}): View {
  const limit = o.limit ?? (o.json ? undefined : DEFAULT_TEXT_LIMIT);
  const common = { weight: o.weight, selection: o.selection ?? {}, filter: o.filter ?? {}, byLine: o.byLine, byLabel: o.byLabel, limit, aggregate: extra.aggregate };
  const lines = { ...common, limit: o.limit ?? (o.json ? undefined : LINES_TEXT_LIMIT), readSource: extra.readSource };
  const pattern = extra.pattern;
  try {
    if (o.view === "flat") return flatView(p, common);
    if (o.view === "tree") return treeView(p, { ...common, limit: o.limit, minPercent: o.minPercent, depth: o.depth });
    if (o.view === "function") return functionView(p, pattern!, common);
    if (o.view === "diff") return diffView(p, extra.base!, common);
    if (o.view === "threads") return threadsView(p, common);
    if (o.view === "lines") return linesView(p, pattern, lines);
    if (o.view === "source") return sourceView(p, pattern!, lines);
    return topView(p, common);
  } catch (e) {
    if (e instanceof SelectionError || e instanceof ViewError) throw new ReportUsageError(e.message);
    throw e;
  }
}

/** The view as the command prints it: JSON, or text (colour and width as the options say, paths relative to the recorded cwd). */
export function renderView(view: View, p: Profile, o: Pick<ReportOptions, "json" | "color" | "width">): string {
  return o.json
    ? JSON.stringify(view, null, 2) + "\n"
    : renderText(view, { color: o.color, width: o.width, cwd: String(metaValue(p, "cwd") ?? "") || undefined });
}

/** Runs the report. Throws ReportUsageError for anything the user can fix. */
export async function report(o: ReportOptions): Promise<ReportResult> {
  const pattern = compiledPattern(o);
  const warnings: string[] = [];
  const p = await load(o.input, o, warnings);
  const base = o.view === "diff" ? await load(o.base, o, warnings) : undefined;
  for (const q of [base, p]) if (q?.truncation) warnings.push(`warning: ${q.truncation.message}; showing what it holds`);
  const view = buildView(p, o, { pattern, base, readSource: o.readSource ?? (await sourceReader(p, o)) });
  return { output: renderView(view, p, o), warnings, view };
}

/**
 * Runs the report and prints it: the output to `out`, warnings and a usage error (one line, prefixed
 * "vmprof-report: ") to `err`. Resolves to the exit status: 0, or 2 for a usage error.
 */
export async function printReport(o: ReportOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  if (o.live) return (await import("./live.js")).runLive(o, o.live, out, err);
  try {
    const result = await report(o);
    for (const w of result.warnings) err.write(`vmprof-report: ${w}\n`);
    await new Promise<void>((resolve) => out.write(result.output, () => resolve()));
    return 0;
  } catch (e) {
    if (!(e instanceof ReportUsageError)) throw e;
    err.write(`vmprof-report: ${e.message}\n`);
    return 2;
  }
}
