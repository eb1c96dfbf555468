/** What the report's tests share: the command as a user runs it, and the check of its one-line errors. */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The package's directory (tests run from dist/test). */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = path.join(root, "bin/run.js");
export const fixture = (name: string) => path.join(root, "test/fixtures", name);

/** Runs vmprof-report in the package's directory, stdin from `input` (default: an empty pipe), without NO_COLOR. */
export function run(args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], {
    input: opts.input ?? "",
    env: opts.env ?? { ...process.env, NO_COLOR: "" },
    encoding: "utf8",
    cwd: root,
    timeout: 60_000,
  });
}

/** Each case (arguments, the message, stdin) prints nothing on stdout and one line on stderr matching the message, exit 2. */
export function expectUsageErrors(cases: [string[], RegExp, (string | Buffer)?][]): void {
  for (const [args, message, input] of cases) {
    const r = run(args, { input });
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "", args.join(" "));
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(lines[0], message);
  }
}
