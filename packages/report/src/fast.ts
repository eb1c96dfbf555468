/**
 * The fast path of vmprof-report: parses the common command lines with node:util and runs the report
 * without loading oclif. Anything it is not sure of (--help, an unknown flag, a value to refuse, two
 * views at once) is left to oclif, which prints help and every parse error.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { FLAGS, FlagError, processTerminal, toOptions, type FlagValues, type Terminal } from "./flags.js";
import { printReport } from "./report.js";

/** Parses argv as oclif would for the flags of FLAGS; undefined when oclif must decide. */
export function parseFast(argv: string[]): { flags: FlagValues; file?: string } | undefined {
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, spec] of Object.entries(FLAGS)) {
    options[name] = { type: spec.type === "boolean" ? "boolean" : "string", multiple: spec.multiple === true };
    if (spec.allowNo) options[`no-${name}`] = { type: "boolean" };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch {
    return undefined;
  }
  if (parsed.positionals.length > 1) return undefined;
  const flags: FlagValues = {};
  for (const [key, value] of Object.entries(parsed.values)) {
    const name = key.startsWith("no-") && FLAGS[key.slice(3)]?.allowNo ? key.slice(3) : key;
    const spec = FLAGS[name];
    if (name !== key) {
      if (flags[name] !== undefined) return undefined;
      flags[name] = false;
      continue;
    }
    if (spec.type === "integer") {
      const ints: number[] = [];
      for (const v of ([] as unknown[]).concat(value)) {
        if (!/^-?\d+$/.test(String(v)) || (spec.min !== undefined && Number(v) < spec.min)) return undefined;
        ints.push(Number(v));
      }
      flags[name] = spec.multiple ? ints : ints[0];
    } else if (spec.options && !spec.options.includes(String(value))) {
      return undefined;
    } else {
      flags[name] = value as FlagValues[string];
    }
  }
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (flags[name] !== undefined && spec.exclusive?.some((x) => flags[x] !== undefined)) return undefined;
  }
  return { flags, file: parsed.positionals[0] };
}

/** Runs the command if the fast path can; resolves to the exit status, or undefined to hand over to oclif. */
export async function runFast(argv: string[], term: Terminal = processTerminal()): Promise<number | undefined> {
  const parsed = parseFast(argv);
  if (!parsed) return undefined;
  try {
    return await printReport(toOptions(parsed.flags, parsed.file, term), process.stdout, process.stderr);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`vmprof-report: ${e.message}\n`);
    return 2;
  }
}
