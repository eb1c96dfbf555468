/** What vmprof-convert does with its parsed flags (both parsers, oclif and the fast path, end here). */
import { convert, type OutputFormat } from "./convert.js";
import { ConvertError } from "./errors.js";
import type { SpeedscopeOrder } from "./export/speedscope.js";
import { parseSelectionFlags, type FlagValues, type SelectionFlagValues } from "./flags.js";

/**
 * Converts `inputs` (profile paths; none or "-": stdin) as the flags say, to stdout or -o. Resolves to
 * the exit status: 0, or 2 after one line on stderr for bad input or bad flags (ConvertError).
 */
export async function runConvert(flags: FlagValues, inputs: string[]): Promise<number> {
  try {
    const { weight, selection, filter, sources } = parseSelectionFlags(flags as SelectionFlagValues);
    await convert({
      input: inputs[0],
      inputs,
      stdin: process.stdin,
      to: flags.to as OutputFormat | undefined,
      output: flags.output as string | undefined,
      weight,
      selection,
      filter,
      lines: flags.lines === true,
      order: flags.order as SpeedscopeOrder | undefined,
      diff: flags.diff as string | undefined,
      sources,
      stdout: process.stdout,
      stderr: process.stderr,
    });
    return 0;
  } catch (e) {
    if (!(e instanceof ConvertError)) throw e;
    process.stderr.write(`vmprof-convert: ${e.message}\n`);
    return 2;
  }
}
