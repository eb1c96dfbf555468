/**
 * The selection flags every command that selects samples takes, with one set of names and one parser:
 * vmprof-convert and vmprof-report build their flags from SELECTION_FLAGS and turn the values into a
 * weight, a Selection and a PathFilter with parseSelectionFlags. Flags are plain data so that
 * the commands' fast path (parseFlagsFast, no oclif) reads the same specs as oclif does.
 */
import { statSync } from "node:fs";
import type { PathFilter, Selection, Weight } from "@vmprof/format";
import { parseLabel } from "@vmprof/format/labels";
import { ConvertError } from "./errors.js";
import type { SourceOptions } from "./read.js";

/** One flag: its type, and the checks every parser applies. */
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
  /** Largest value of an integer flag. */
  max?: number;
  /** A one-letter alias (`-o`). */
  char?: string;
  /** The value when the flag is not given. */
  default?: boolean | string | number;
  /** Flags that cannot be given with this one. */
  exclusive?: string[];
  helpValue?: string;
}

/** Parsed flag values by name (booleans, strings, integers, or arrays of them). */
export type FlagValues = Record<string, boolean | string | number | (string | number)[] | undefined>;

/**
 * Parses `args` for `specs` the way oclif would, without oclif or node:util's parseArgs (which
 * costs about 1.2 ms to load and run, before a recorded program can start): the fast path of the
 * commands. Takes only the plain forms: `--name value`, `--name=value`, `-c value`, `-cvalue`,
 * `--flag`, `--no-flag`, positionals, and `--` before positionals. Returns undefined whenever oclif
 * must decide (an unknown flag, a flag given twice, a value it would refuse or that looks like a
 * flag, two exclusive flags, --help), so that oclif prints help and every parse error. Defaults are
 * filled in.
 */
export function parseFlagsFast(specs: Record<string, FlagSpec>, args: string[]): { flags: FlagValues; positionals: string[] } | undefined {
  const byChar = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.char) byChar.set(spec.char, name);
  const values = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.length < 2 || a[0] !== "-") {
      positionals.push(a);
      continue;
    }
    let key: string | undefined;
    let value: string | undefined;
    if (a[1] === "-") {
      const eq = a.indexOf("=");
      key = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (eq >= 0) value = a.slice(eq + 1);
    } else {
      key = byChar.get(a[1]);
      if (a.length > 2) value = a.slice(2);
      if (value?.startsWith("=")) return undefined; // -o=x: oclif's reading
    }
    if (key === undefined) return undefined;
    const spec = Object.hasOwn(specs, key) ? specs[key] : undefined;
    const negated = !spec && key.startsWith("no-") && Object.hasOwn(specs, key.slice(3)) && specs[key.slice(3)].allowNo === true;
    if (!spec && !negated) return undefined;
    if (negated || spec!.type === "boolean") {
      if (value !== undefined || values.has(key)) return undefined;
      values.set(key, true);
      continue;
    }
    if (value === undefined) {
      value = args[++i];
      if (value === undefined || (value.length > 1 && value[0] === "-")) return undefined;
    }
    if (spec!.multiple) values.set(key, [...((values.get(key) as string[] | undefined) ?? []), value]);
    else if (values.has(key)) return undefined;
    else values.set(key, value);
  }
  const flags: FlagValues = {};
  for (const [key, value] of values) {
    const name = key.startsWith("no-") && specs[key.slice(3)]?.allowNo ? key.slice(3) : key;
    const spec = specs[name];
    if (flags[name] !== undefined) return undefined; // --x and --no-x
    if (name !== key) {
      flags[name] = false;
      continue;
    }
    if (spec.type === "integer") {
      const ints: number[] = [];
      for (const v of ([] as unknown[]).concat(value)) {
        if (!/^-?\d+$/.test(String(v)) || (spec.min !== undefined && Number(v) < spec.min) || (spec.max !== undefined && Number(v) > spec.max)) return undefined;
        ints.push(Number(v));
      }
      flags[name] = spec.multiple ? ints : ints[0];
    } else if (spec.options && !spec.options.includes(String(value))) {
      return undefined;
    } else {
      flags[name] = value as FlagValues[string];
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (flags[name] !== undefined && spec.exclusive?.some((x) => flags[x] !== undefined)) return undefined;
  }
  for (const [name, spec] of Object.entries(specs)) if (flags[name] === undefined && spec.default !== undefined) flags[name] = spec.default;
  return { flags, positionals };
}

/** The selection flags, by name. */
export const SELECTION_FLAGS: Record<string, FlagSpec> = {
  weight: { type: "string", summary: "What a sample weighs [default: the recording's mode].", options: ["samples", "cpu", "wall"] },
  pid: { type: "integer", summary: "Only this process (repeatable).", multiple: true },
  tid: { type: "integer", summary: "Only this thread id (repeatable).", multiple: true },
  thread: { type: "string", summary: 'Only threads with this name, e.g. "main" or "worker 1" (repeatable).', multiple: true },
  start: { type: "string", summary: "Only samples from this many seconds after the start.", helpValue: "SECONDS" },
  end: { type: "string", summary: "Only samples before this many seconds after the start.", helpValue: "SECONDS" },
  label: {
    type: "string",
    summary: "Only samples carrying this label: their own (withLabels), their process's or the profile's (repeatable: all must match).",
    multiple: true,
    helpValue: "KEY=VALUE",
  },
  focus: { type: "string", summary: "Only samples through a function matching this regular expression.", helpValue: "REGEX" },
  ignore: { type: "string", summary: "Drop samples through a function matching this regular expression.", helpValue: "REGEX" },
  hide: { type: "string", summary: "Remove matching frames, giving their time to their callers.", helpValue: "REGEX" },
  internals: { type: "boolean", summary: "Keep Node's internal (node:) functions; --no-internals folds them into their callers.", allowNo: true },
  native: { type: "boolean", summary: "Keep native frames (of a recording made with vmprof-record --native); --no-native folds them into their JS callers.", allowNo: true },
  "source-maps": {
    type: "string",
    summary: "Resolve source maps again, also looking in DIR (repeatable or comma-separated): for a profile recorded elsewhere.",
    multiple: true,
    helpValue: "DIR",
    exclusive: ["no-source-maps"],
  },
  "no-source-maps": { type: "boolean", summary: "Show the generated code (the JavaScript that ran), not the source the maps give.", exclusive: ["source-maps"] },
};

/** Parsed values of the selection flags (as oclif or parseFlagsFast give them). */
export interface SelectionFlagValues {
  weight?: string;
  pid?: number[];
  tid?: number[];
  thread?: string[];
  start?: string;
  end?: string;
  label?: string[];
  focus?: string;
  ignore?: string;
  hide?: string;
  internals?: boolean;
  native?: boolean;
  "source-maps"?: string[];
  "no-source-maps"?: boolean;
}

/** What the selection flags say. */
export interface SelectionOptions {
  weight?: Weight;
  selection: Selection;
  filter: PathFilter;
  /** What reading does with source maps: readAnyProfile's `sources` option. */
  sources: SourceOptions;
}

/** Compiles a user's pattern: a regular expression, or ConvertError with a message naming the flag. */
export function compilePattern(flag: string, pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (e) {
    const why = (e as Error).message.split(": ").pop();
    throw new ConvertError(`${flag}: "${pattern}" is not a valid regular expression (${why})`);
  }
}

function seconds(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || x < 0) throw new ConvertError(`--${flag}: expected a number of seconds >= 0, got "${v}"`);
  return x;
}

/** One --label value as a pair; ConvertError for one without "=" or with an empty key. */
function labelFlag(text: string): [string, string] {
  const pair = parseLabel(text);
  if (!pair) throw new ConvertError(`--label: expected key=value, got "${text}"`);
  return pair;
}

/**
 * Turns selection flag values into options. `names` are the flag names the user typed for the time
 * range (an alias such as vmprof-report's --from/--to), so messages name them. Throws ConvertError.
 */
export function parseSelectionFlags(v: SelectionFlagValues, names: { start: string; end: string } = { start: "start", end: "end" }): SelectionOptions {
  const from = seconds(names.start, v.start);
  const to = seconds(names.end, v.end);
  if (from !== undefined && to !== undefined && to <= from) throw new ConvertError(`--${names.end} (${to}) must be after --${names.start} (${from})`);
  const pattern = (flag: string, p: string | undefined) => (p === undefined ? undefined : compilePattern(`--${flag}`, p));
  return {
    weight: v.weight as Weight | undefined,
    selection: {
      pids: v.pid,
      tids: v.tid,
      threadNames: v.thread,
      from: from !== undefined ? from * 1e6 : undefined,
      to: to !== undefined ? to * 1e6 : undefined,
      labels: v.label?.map(labelFlag),
    },
    filter: { focus: pattern("focus", v.focus), ignore: pattern("ignore", v.ignore), hide: pattern("hide", v.hide), hideInternals: v.internals === false, hideNative: v.native === false },
    sources: sourceOptions(v),
  };
}

/** --source-maps DIR (repeatable, comma-separated) and --no-source-maps as readAnyProfile's `sources`. */
export function sourceOptions(v: SelectionFlagValues): SourceOptions {
  if (v["no-source-maps"] === true) return { apply: false };
  const dirs = (v["source-maps"] ?? []).flatMap((d) => d.split(",")).map((d) => d.trim()).filter((d) => d !== "");
  if (v["source-maps"] !== undefined && dirs.length === 0) throw new ConvertError("--source-maps: expected a directory");
  for (const d of dirs) {
    let dir = false;
    try {
      dir = statSync(d).isDirectory();
    } catch {
      throw new ConvertError(`--source-maps: ${d}: no such directory`);
    }
    if (!dir) throw new ConvertError(`--source-maps: ${d} is not a directory`);
  }
  return dirs.length > 0 ? { dirs } : {};
}

/**
 * The whole of a command's bin script (vmprof-convert, vmprof-report, vmprof-record): runs `fast` on
 * the command line's arguments and sets the exit status to what it resolves to; when it resolves to
 * undefined, hands over to oclif (help, and every parse error), which is only loaded then. `dir` is
 * the bin script's import.meta.url, from which oclif finds the command's package.
 */
export async function runCommandLine(fast: (argv: string[]) => Promise<number | undefined>, dir: string): Promise<void> {
  const status = await fast(process.argv.slice(2));
  if (status !== undefined) {
    process.exitCode = status;
    return;
  }
  const { execute } = await import("@oclif/core");
  await execute({ dir });
}
