/** Helpers of the convert tests: the real commands, the real consumers (go tool pprof, Chromium). */
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, "../..");
/** The commands as a user runs them. */
export const CONVERT = path.join(pkg, "bin/run.js");
export const REPORT = path.resolve(pkg, "../report/bin/run.js");
export const RECORD = path.resolve(pkg, "../record/bin/run.cjs");
/** Checked-in profiles: app.prof has 3 processes/threads and a function named <img src=x onerror=alert(1)>. */
export const APP = path.resolve(pkg, "../report/test/fixtures/app.prof");
/** A CPU-bound test program of the record package. */
export const WORKLOAD = path.resolve(pkg, "../record/test/fixtures/workload.cjs");

/** A fresh temporary directory, removed at exit. */
export function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-convert-test-"));
  process.on("exit", () => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Runs a node script (one of the commands) and waits for it. */
export function node(script: string, args: string[], opts: { input?: string | Buffer; cwd?: string; encoding?: "buffer" } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [script, ...args], {
    input: opts.input ?? "",
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: "1" },
    encoding: "utf8",
    timeout: 120_000,
    maxBuffer: 1 << 28,
  });
}

/** Runs vmprof-convert; asserts nothing. */
export const convert = (args: string[], opts: { input?: string | Buffer; cwd?: string } = {}) => node(CONVERT, args, opts);

/** Runs a program from PATH (go, chromium) and returns its result; throws when it cannot start. */
export function tool(cmd: string, args: string[], opts: { timeout?: number; cwd?: string } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: opts.timeout ?? 120_000, cwd: opts.cwd, maxBuffer: 1 << 28 });
  if (r.error) throw new Error(`${cmd} could not run (${r.error.message}): tools/scripts/setup.sh installs it`);
  return r;
}

/** Headless Chromium as notes/formats.md says works here (software WebGL). */
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--enable-unsafe-swiftshader",
  "--use-gl=angle",
  "--use-angle=swiftshader",
  "--virtual-time-budget=8000",
  "--window-size=1400,900",
];

/** Headless Chromium; `args` add the page and the output. */
export function chromium(args: string[]): SpawnSyncReturns<string> {
  return tool("chromium", [...CHROMIUM_FLAGS, ...args]);
}

/** Headless Chromium's stdout, without blocking the event loop (for pages served by the test itself). */
export function chromiumAsync(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("chromium", [...CHROMIUM_FLAGS, ...args], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.once("error", (e) => reject(new Error(`chromium could not run (${e.message}): tools/scripts/setup.sh installs it`)));
    child.once("exit", () => resolve(out));
  });
}
