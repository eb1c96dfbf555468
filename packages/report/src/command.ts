/** The `vmprof-report` command as oclif sees it: help, parse errors, then the same run as the fast path. */
import { Args, Command } from "@oclif/core";
import { oclifFlags } from "vmprof-convert/oclif-flags";
import { FLAGS, FlagError, processTerminal, toOptions, type FlagValues } from "./flags.js";
import { printReport } from "./report.js";

export default class ReportCommand extends Command {
  static override summary = "Print where time goes in a profile: top, flat, tree, callers/callees, diff, lines, source.";
  static override description = `Reads a profile from FILE, or from stdin when it is a pipe or FILE is "-": ours, or pprof, a Chrome .cpuprofile, speedscope JSON or collapsed stacks (found from the content). Percentages are of the selected samples, weighted by CPU time for a cpu-mode recording and by wall time for a wall-mode one (--weight to choose). VM states show as their own entries: (garbage collector), (idle), (compiler), (native)...`;
  static override examples = [
    "vmprof-report out.prof",
    "vmprof-record -o - -- node app.js | vmprof-report --top",
    "vmprof-report --flat --limit 20 out.prof",
    "vmprof-report --tree --min-percent 5 --depth 8 out.prof",
    "vmprof-report --function '^parse$' out.prof",
    "vmprof-report --diff before.prof after.prof",
    "vmprof-report --thread main --start 2 --end 5 --no-internals --json out.prof",
    "vmprof-report --threads out.prof",
    "vmprof-report --lines out.prof",
    "vmprof-report --lines '^parse$' out.prof",
    "vmprof-report --source '^parse$' out.prof",
    "vmprof-report --top --by-line out.prof",
    "vmprof-record -o - -- node server.js | vmprof-report --top --live",
    "vmprof-report --flat --live --window 10 growing.prof",
  ];
  static override args = {
    file: Args.string({ ignoreStdin: true, description: 'Profile to read; "-" or absent: stdin. With --lines PATTERN FILE, the pattern.' }),
    profile: Args.string({ ignoreStdin: true, description: "With --lines PATTERN FILE, the profile.", hidden: true }),
  };
  static override flags = oclifFlags(FLAGS);

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ReportCommand);
    const term = processTerminal();
    try {
      process.exitCode = await printReport(toOptions(flags as FlagValues, [args.file, args.profile], term), process.stdout, process.stderr);
    } catch (e) {
      if (!(e instanceof FlagError)) throw e;
      process.stderr.write(`vmprof-report: ${e.message}\n`);
      this.exit(2);
    }
  }
}
