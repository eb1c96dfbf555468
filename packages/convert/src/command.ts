/** The `vmprof-convert` command: flags in, one library call (convert or serveViewer), bytes out. */
import { Args, Command, Flags } from "@oclif/core";
import type { PathFilter, Selection, Weight } from "@vmprof/format";
import { FLAGS } from "./command-flags.js";
import { readInputs } from "./convert.js";
import { ConvertError } from "./errors.js";
import { parseSelectionFlags, type FlagValues, type SelectionFlagValues } from "./flags.js";
import { oclifFlags } from "./oclif-flags.js";
import { runConvert } from "./run.js";
import { openBrowser, serveViewer } from "./open.js";
import type { SourceOptions } from "./read.js";

export default class ConvertCommand extends Command {
  static override summary = "Convert a profile: to speedscope, pprof, Chrome .cpuprofile, collapsed stacks or an SVG flame graph, and from pprof, .cpuprofile, speedscope or collapsed stacks to ours.";
  static override description = `Reads INPUT, or stdin when it is absent or "-"; its format is found from the content (a vmprof profile, pprof gzipped or not, a Chrome .cpuprofile, a speedscope file, collapsed stacks). Writes stdout, or the -o file through a temporary file renamed into place, so a failed conversion leaves nothing behind. The output format is --to, or else the -o file's name: .speedscope.json, .pb.gz/.pprof, .cpuprofile, .collapsed/.folded, .svg, .prof. Weights follow the recording's mode (CPU time for a cpu-mode recording) unless --weight says otherwise.`;
  static override examples = [
    "vmprof-convert --to speedscope out.prof > out.speedscope.json",
    "vmprof-convert -o out.pb.gz out.prof && go tool pprof -top out.pb.gz",
    "vmprof-convert -o main.cpuprofile --tid 4242 out.prof",
    "vmprof-convert --to collapsed out.prof | flamegraph.pl > out.svg",
    "vmprof-convert --to collapsed --lines out.prof",
    "vmprof-convert -o flame.svg --no-internals out.prof",
    "vmprof-convert --to svg --diff before.prof after.prof > diff.svg",
    "vmprof-convert -o app.prof CPU.20251124.cpuprofile",
    "vmprof-convert --open out.prof",
    "vmprof-convert --source-maps ./dist -o out.pb.gz prod.prof",
  ];
  static override args = { input: Args.string({ ignoreStdin: true, description: 'Profile to read; "-" or absent: stdin. Several: merged into one profile, then converted.' }) };
  static override strict = false;
  static override flags = {
    ...oclifFlags(FLAGS),
    port: Flags.integer({ summary: FLAGS.port.summary, min: 0, max: 65535, dependsOn: ["open"] }),
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(ConvertCommand);
    const inputs = argv as string[];
    if (flags.open) {
      try {
        const { weight, selection, filter, sources } = parseSelectionFlags(flags as SelectionFlagValues);
        if (flags.diff !== undefined) throw new ConvertError("--diff writes an SVG; it does not go with --open");
        await this.open(inputs.length > 1 ? inputs : [args.input], { weight, selection, filter, sources, port: flags.port as number | undefined });
      } catch (e) {
        if (!(e instanceof ConvertError)) throw e;
        process.stderr.write(`vmprof-convert: ${e.message}\n`);
        this.exit(2);
      }
      return;
    }
    const status = await runConvert(flags as FlagValues, inputs.length > 0 ? inputs : args.input !== undefined ? [args.input] : []);
    if (status !== 0) this.exit(status);
  }

  private async open(inputs: (string | undefined)[], o: { weight?: Weight; selection: Selection; filter: PathFilter; sources: SourceOptions; port?: number }): Promise<void> {
    const { profile } = await readInputs(inputs, { stdin: process.stdin, sources: o.sources, stderr: process.stderr });
    const viewer = await serveViewer(profile, o).catch((e: NodeJS.ErrnoException) => {
      throw new ConvertError(`cannot serve on 127.0.0.1${o.port ? `:${o.port}` : ""} (${e.code ?? e.message})`);
    });
    process.stdout.write(`${viewer.url}\n`);
    const opened = process.env.VMPROF_NO_BROWSER ? false : await openBrowser(viewer.url);
    process.stderr.write(`vmprof-convert: ${opened ? "opened a browser; " : "open the URL above in a browser; "}serving on 127.0.0.1 until interrupted (Ctrl-C)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => void viewer.close().then(resolve);
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
  }
}
