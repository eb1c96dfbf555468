/** Helpers of the server tests: a real vmprof-server process on loopback with a real SQLite file. */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, "../..");
export const SERVER = path.join(pkg, "bin/run.js");
/** Checked-in profile with 3 threads and a function named <img src=x onerror=alert(1)>. */
export const APP = path.resolve(pkg, "../report/test/fixtures/app.prof");
/** The recorder, and a program with known hot lines (record's tests). */
export const RECORD = path.resolve(pkg, "../record/bin/run.cjs");
export const LINES_PROGRAM = path.resolve(pkg, "../record/test/fixtures/lines.cjs");
export const TRUNCATED = path.resolve(pkg, "../report/test/fixtures/truncated.prof");

/** A fresh temporary directory, removed at exit. */
export function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-server-test-"));
  process.on("exit", () => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A running server: its base URL (ending in /), the process, its stderr so far, and stop(). */
export interface Running {
  url: string;
  child: ChildProcess;
  stderr(): string;
  /** SIGTERM, then resolves to the exit code. */
  stop(): Promise<number | null>;
}

/** Starts vmprof-server with `args` (port 0 unless given) and waits for its URL line. */
export async function startServer(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [SERVER, ...(args.includes("--port") ? [] : ["--port", "0"]), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(out.split("\n")[0]);
    });
    child.once("exit", (code) => reject(new Error(`vmprof-server exited ${code}: ${err}`)));
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    url,
    child,
    stderr: () => err,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Runs a command script with node and waits. */
export function node(script: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [script, ...args], { input: opts.input ?? "", env: opts.env ?? process.env, cwd: opts.cwd, encoding: "utf8", timeout: 120_000 });
}

/** Headless Chromium (software WebGL, as notes/formats.md says works here). */
export function chromium(args: string[]): SpawnSyncReturns<string> {
  const r = spawnSync(
    "chromium",
    ["--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--use-gl=angle", "--use-angle=swiftshader", "--virtual-time-budget=8000", "--window-size=1300,1000", ...args],
    { encoding: "utf8", timeout: 120_000, maxBuffer: 1 << 26 },
  );
  if (r.error) throw new Error(`chromium could not run (${r.error.message}): tools/scripts/setup.sh installs it`);
  return r;
}
