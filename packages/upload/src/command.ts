/** The `vmprof-upload` command: flags in, one call to upload(), the profile's URL out. */
import { Args, Command, Flags } from "@oclif/core";
import { UploadError, UploadUsageError, parseLabels, upload } from "@vmprof/client";

export default class UploadCommand extends Command {
  static override summary = "Send a profile to vmprof-server (and print its page's URL) or to a Grafana Pyroscope server.";
  static override description = `Reads FILE, or stdin when it is absent or "-": our format, pprof, a Chrome .cpuprofile, speedscope JSON or collapsed stacks. --to vmprof posts it to the server's API as it is; --to pyroscope converts it to pprof and posts it to /ingest with its name, labels, time range, spy name and sample rate. Connection errors and 5xx answers are retried with backoff (5 attempts); a 4xx answer is final: its message is printed and the exit status is 1.`;
  static override examples = [
    "vmprof-upload --url http://127.0.0.1:8000 out.prof",
    "VMPROF_URL=http://profiles.internal:8000 VMPROF_TOKEN=secret vmprof-upload --name api --label env=prod out.prof",
    "vmprof-record -o - -- node app.js | vmprof-upload --url http://127.0.0.1:8000",
    "vmprof-upload --to pyroscope --url http://pyroscope:4040 --name api.cpu --label env=prod out.prof",
  ];
  static override args = { file: Args.string({ ignoreStdin: true, description: 'Profile to send; "-" or absent: stdin.' }) };
  static override flags = {
    url: Flags.string({ summary: "The server's base URL [default: $VMPROF_URL].", env: "VMPROF_URL", required: true }),
    token: Flags.string({ summary: "Bearer token [default: $VMPROF_TOKEN].", env: "VMPROF_TOKEN" }),
    name: Flags.string({ summary: "The profile's name [default: the recorded command; Pyroscope: vmprof-node.cpu]." }),
    label: Flags.string({ summary: "A key=value label (repeatable).", multiple: true, multipleNonGreedy: true }),
    to: Flags.string({ summary: "Which API to speak.", options: ["vmprof", "pyroscope"], default: "vmprof" }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(UploadCommand);
    const log = (line: string) => process.stderr.write(`vmprof-upload: ${line}\n`);
    try {
      const labels = parseLabels(flags.label);
      if (args.file === undefined && process.stdin.isTTY) throw new UploadUsageError("no profile given: name a file, or pipe one in");
      const tty = process.stderr.isTTY === true;
      let shown = -1;
      const result = await upload({
        url: flags.url,
        token: flags.token,
        name: flags.name,
        labels,
        to: flags.to as "vmprof" | "pyroscope",
        input: args.file === undefined || args.file === "-" ? process.stdin : args.file,
        onRetry: log,
        onProgress: tty
          ? (f, bytes) => {
              if (bytes <= 1 << 20) return;
              const pct = Math.floor(f * 100);
              if (pct !== shown) process.stderr.write(`\rvmprof-upload: sending ${(shown = pct)}%${pct === 100 ? "\r\x1b[K" : ""}`);
            }
          : undefined,
      });
      // Pyroscope: one ingest URL per series sent.
      process.stdout.write(`${(result.series?.map((s) => s.url) ?? [result.url]).join("\n")}\n`);
    } catch (e) {
      if (e instanceof UploadUsageError) {
        log(e.message);
        this.exit(2);
      }
      if (e instanceof UploadError) {
        log(e.message);
        this.exit(1);
      }
      throw e;
    }
  }
}
