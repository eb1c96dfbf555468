/**
 * The fast path of vmprof-record: `vmprof-record [FLAGS] -- COMMAND...` parsed by parseFlagsFast, the
 * program started without loading oclif. Anything else (no `--`, --help, an unknown flag, a value
 * oclif would refuse) is left to oclif, which prints help and every parse error.
 */
import { parseFlagsFast, runCommandLine } from "vmprof-convert/flags";
import { FLAGS } from "./flags.js";
import { runRecord } from "./run.js";

/** Runs the command if the fast path can; resolves to the exit status, or undefined to hand over to oclif. */
export async function runFast(argv: string[]): Promise<number | undefined> {
  const dashes = argv.indexOf("--");
  if (dashes < 0 || dashes === argv.length - 1) return undefined;
  const parsed = parseFlagsFast(FLAGS, argv.slice(0, dashes));
  if (!parsed || parsed.positionals.length > 0) return undefined;
  return runRecord(parsed.flags, argv.slice(dashes + 1));
}

/** The whole command line: the fast path, else oclif (`bin`: the bin script's URL, for oclif to find the package). */
export function main(bin: string): Promise<void> {
  return runCommandLine(runFast, bin);
}
