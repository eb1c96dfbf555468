/**
 * The fast path of vmprof-convert: parses the common command lines with parseFlagsFast and converts
 * without loading oclif. Anything it is not sure of (--help, --open, an unknown flag, a value to
 * refuse) is left to oclif, which prints help and every parse error.
 */
import { FLAGS } from "./command-flags.js";
import { parseFlagsFast } from "./flags.js";
import { runConvert } from "./run.js";

/** Runs the command if the fast path can; resolves to the exit status, or undefined to hand over to oclif. */
export async function runFast(argv: string[]): Promise<number | undefined> {
  const parsed = parseFlagsFast(FLAGS, argv);
  if (!parsed || parsed.flags.open !== undefined || parsed.flags.port !== undefined) return undefined;
  return runConvert(parsed.flags, parsed.positionals);
}
