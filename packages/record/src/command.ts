/** The `vmprof-record` command under oclif: help and parse errors; the work is runRecord()'s. */
import { Command } from "@oclif/core";
import { oclifFlags } from "vmprof-convert/oclif-flags";
import { FLAGS } from "./flags.js";
import { runRecord } from "./run.js";

export default class RecordCommand extends Command {
  static override summary = "Run a program under the vmprof sampler and write one profile.";
  static override description = `Every Node process the program starts (unless --no-children) and every worker thread is sampled; the program's stdin, stdout, stderr, environment and exit status pass through. Without -o the profile goes to vmprof-<pid>.prof in the current directory.`;
  static override usage = "[-o FILE] [--mode cpu|wall] [--period SECONDS | --rate HZ] [--upload URL [--every SECONDS]] -- COMMAND [ARGS...]";
  static override examples = [
    "vmprof-record -o out.prof -- node app.js",
    "vmprof-record -o - -- node app.js | vmprof-report --top",
    "vmprof-record --mode wall --rate 200 -o server.prof -- npm start",
    "vmprof-record --label build=1234 --no-children -- npx tsx app.ts",
    "vmprof-record --upload http://127.0.0.1:8000 -o out.prof -- node app.js",
    "vmprof-record --every 10 --upload http://127.0.0.1:8000 -- node server.js",
    "vmprof-record --pid 4242 --every 15 --upload http://pyroscope:4040 --to pyroscope --name api.cpu",
  ];
  static override strict = false;
  static override flags = oclifFlags(FLAGS);

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(RecordCommand);
    process.exitCode = await runRecord(flags, argv as string[]);
  }
}
