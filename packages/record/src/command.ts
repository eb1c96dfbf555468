/** The `vmprof-record` command: flags in, one call to record(), exit status out. */
import { Command, Flags } from "@oclif/core";
import { DEFAULT_MAX_DEPTH, DEFAULT_PERIOD } from "@vmprof/native";
import { parseLabels, upload, UploadError, UploadUsageError } from "@vmprof/client";
import { record, RecordUsageError } from "./record.js";

export default class RecordCommand extends Command {
  static override summary = "Run a program under the vmprof sampler and write one profile.";
  static override description = `Every Node process the program starts (unless --no-children) and every worker thread is sampled; the program's stdin, stdout, stderr, environment and exit status pass through. Without -o the profile goes to vmprof-<pid>.prof in the current directory.`;
  static override usage = "[-o FILE] [--mode cpu|wall] [--period SECONDS | --rate HZ] -- COMMAND [ARGS...]";
  static override examples = [
    "vmprof-record -o out.prof -- node app.js",
    "vmprof-record -o - -- node app.js | vmprof-report --top",
    "vmprof-record --mode wall --rate 200 -o server.prof -- npm start",
    "vmprof-record --label build=1234 --no-children -- npx tsx app.ts",
    "vmprof-record --upload http://127.0.0.1:8000 -o out.prof -- node app.js",
  ];
  static override strict = false;
  static override flags = {
    output: Flags.string({ char: "o", summary: 'Where to write the profile; "-" for stdout (the program\'s stdout then goes to stderr).' }),
    period: Flags.string({ summary: `Sampling period in seconds [default: ${DEFAULT_PERIOD}].`, exclusive: ["rate"] }),
    rate: Flags.string({ summary: "Sampling rate in Hz (instead of --period)." }),
    mode: Flags.string({ summary: "cpu: where CPU time goes (idle not sampled); wall: wall-clock time, idle and waits shown.", options: ["cpu", "wall"], default: "cpu" }),
    "max-depth": Flags.integer({ summary: "Frames kept per sample (the innermost ones).", min: 1, max: 1024, default: DEFAULT_MAX_DEPTH }),
    label: Flags.string({ summary: "A key=value label stored in the profile's metadata (repeatable).", multiple: true }),
    argv: Flags.boolean({ summary: "Store the command lines (secret-looking values redacted).", default: true, allowNo: true }),
    children: Flags.boolean({ summary: "Also profile Node child processes of the program.", default: true, allowNo: true }),
    "allow-unprofiled": Flags.boolean({ summary: "Run the program unprofiled if the sampler cannot load for its Node version." }),
    upload: Flags.string({ summary: "Then upload the profile to this vmprof-server (token from $VMPROF_TOKEN); prints its page's URL on stderr.", helpValue: "URL" }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(RecordCommand);
    const log = (line: string) => process.stderr.write(`vmprof-record: ${line}\n`);
    const fail = (msg: string): never => {
      log(msg);
      return this.exit(2);
    };
    let periodUs = Math.round(DEFAULT_PERIOD * 1e6);
    if (flags.period !== undefined) {
      const s = Number(flags.period);
      if (!(s > 0) || !Number.isFinite(s)) fail(`--period: expected a positive number of seconds, got "${flags.period}"`);
      periodUs = Math.round(s * 1e6);
    }
    if (flags.rate !== undefined) {
      const hz = Number(flags.rate);
      if (!(hz > 0) || !Number.isFinite(hz)) fail(`--rate: expected a positive number of Hz, got "${flags.rate}"`);
      periodUs = Math.round(1e6 / hz);
    }
    if (periodUs < 50) fail(`the sampling period must be at least 50 µs (a rate of at most 20000 Hz)`);
    let labels: Record<string, string> = {};
    try {
      labels = parseLabels(flags.label);
    } catch (e) {
      if (!(e instanceof UploadUsageError)) throw e;
      fail(e.message);
    }
    if (flags.upload !== undefined && flags.output === "-") fail("--upload needs a file to send: use -o FILE (or no -o) instead of -o -");
    try {
      const result = await record({
        command: argv as string[],
        output: flags.output,
        periodUs,
        mode: flags.mode as "cpu" | "wall",
        maxDepth: flags["max-depth"],
        labels,
        argv: flags.argv,
        children: flags.children,
        allowUnprofiled: flags["allow-unprofiled"],
        log,
      });
      if (flags.output === undefined && result.output) {
        log(`wrote ${result.samples} samples (${result.processes} process${result.processes === 1 ? "" : "es"}, ${result.threads} thread${result.threads === 1 ? "" : "s"}) to ${result.output}`);
      }
      // The upload never changes the exit status: that is the program's. A failed upload says so and
      // leaves the profile on disk.
      if (flags.upload !== undefined && result.output) {
        try {
          const sent = await upload({
            url: flags.upload,
            token: process.env.VMPROF_TOKEN,
            labels,
            to: "vmprof",
            input: result.output,
            onRetry: log,
          });
          log(`uploaded: ${sent.url}`);
        } catch (e) {
          if (!(e instanceof UploadError || e instanceof UploadUsageError)) throw e;
          log(`upload failed: ${e.message} (the profile stays in ${result.output})`);
        }
      }
      process.exitCode = result.exitCode;
    } catch (e) {
      if (e instanceof RecordUsageError) fail(e.message);
      throw e;
    }
  }
}
