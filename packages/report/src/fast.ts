/**
 * The fast path of vmprof-report: parses the common command lines with parseFlagsFast and runs the report
 * without loading oclif. Anything it is not sure of (--help, an unknown flag, a value to refuse, two
 * views at once) is left to oclif, which prints help and every parse error.
 */
import { parseFlagsFast } from "vmprof-convert/flags";
import { FLAGS, FlagError, processTerminal, toOptions, type FlagValues, type Terminal } from "./flags.js";
import { printReport } from "./report.js";

/** Parses argv as oclif would for the flags of FLAGS; undefined when oclif must decide. */
export function parseFast(argv: string[]): { flags: FlagValues; args: string[] } | undefined {
  const parsed = parseFlagsFast(FLAGS, argv);
  if (!parsed || parsed.positionals.length > (parsed.flags.lines ? 2 : 1)) return undefined;
  return { flags: parsed.flags, args: parsed.positionals };
}

/** Runs the command if the fast path can; resolves to the exit status, or undefined to hand over to oclif. */
export async function runFast(argv: string[], term: Terminal = processTerminal()): Promise<number | undefined> {
  const parsed = parseFast(argv);
  if (!parsed) return undefined;
  try {
    return await printReport(toOptions(parsed.flags, parsed.args, term), process.stdout, process.stderr);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`vmprof-report: ${e.message}\n`);
    return 2;
  }
}
