/** The `vmprof-convert` command: flags in, one library call (convert or serveViewer), bytes out. */
import { Args, Command, Flags } from "@oclif/core";
import type { PathFilter, Selection, Weight } from "@vmprof/format";
import { OUTPUT_FORMATS, convert, readInputs, type OutputFormat } from "./convert.js";
import type { SpeedscopeOrder } from "./export/speedscope.js";
import { ConvertError } from "./errors.js";
import { SELECTION_FLAGS, parseSelectionFlags, type SelectionFlagValues } from "./flags.js";
import { oclifFlags } from "./oclif-flags.js";
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
    to: Flags.string({ summary: "Output format [default: from the -o file's name].", options: [...OUTPUT_FORMATS] }),
    output: Flags.string({ char: "o", summary: 'Write here instead of stdout ("-": stdout).', helpValue: "FILE" }),
    open: Flags.boolean({ summary: "Show the profile in speedscope's bundled viewer, served on 127.0.0.1; prints the URL and serves until interrupted.", exclusive: ["to", "output"] }),
    diff: Flags.string({
      summary: "A differential flame graph against this base profile (any readable format): widths from INPUT, each frame red where its share grew, blue where it shrank. SVG only.",
      helpValue: "BASE",
    }),
    lines: Flags.boolean({ summary: 'Collapsed stacks: write each frame as "NAME FILE:LINE", the line it was executing (other formats carry lines already).' }),
    order: Flags.string({
      summary:
        "speedscope: samples in time order (time), or one per distinct stack with their summed weight (merged: every view but Time Order is the same, and the file grows with stacks, not samples). Default auto: merged only when time order would exceed 256 MiB, past what speedscope's viewer opens.",
      options: ["auto", "time", "merged"],
    }),
    port: Flags.integer({ summary: "--open: port to serve on [default: any free port].", min: 0, max: 65535, dependsOn: ["open"] }),
    ...oclifFlags(SELECTION_FLAGS),
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(ConvertCommand);
    const inputs = argv as string[];
    try {
      const { weight, selection, filter, sources } = parseSelectionFlags(flags as SelectionFlagValues);
      if (flags.open) {
        if (flags.diff !== undefined) throw new ConvertError("--diff writes an SVG; it does not go with --open");
        await this.open(inputs.length > 1 ? inputs : [args.input], { weight, selection, filter, sources, port: flags.port });
        return;
      }
      await convert({
        input: args.input,
        inputs,
        stdin: process.stdin,
        to: flags.to as OutputFormat | undefined,
        output: flags.output,
        weight,
        selection,
        filter,
        lines: flags.lines,
        order: flags.order as SpeedscopeOrder | undefined,
        diff: flags.diff,
        sources,
        stdout: process.stdout,
        stderr: process.stderr,
      });
    } catch (e) {
      if (!(e instanceof ConvertError)) throw e;
      process.stderr.write(`vmprof-convert: ${e.message}\n`);
      this.exit(2);
    }
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
