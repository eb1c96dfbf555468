/**
 * The preload: `vmprof-record` puts `--require <this file>` in NODE_OPTIONS, so it runs first in the
 * program's process, in each of its worker threads, and in every Node child process that inherits
 * the environment. Configured by the environment:
 *   VMPROF_DIR        directory where each process writes <pid>.prof (unset: do nothing)
 *   VMPROF_PERIOD_US  sampling period, µs          VMPROF_MODE       cpu | wall
 *   VMPROF_MAX_DEPTH  frames kept per sample       VMPROF_CHILDREN   0: only the first process
 *   VMPROF_NO_ARGV    1: do not record argv        VMPROF_ALLOW_UNPROFILED  1: run on without the sampler
 *   VMPROF_META       JSON [key, value][]: more metadata for the profile (the recorder's command, labels)
 * It never writes to the program's stdout or stderr; problems go to <dir>/error-<pid>.txt, where the
 * recorder reads them. When the profile is complete it writes <dir>/<pid>.done ({samples, threads,
 * mapped: the program's scripts that declared a source map}),
 * so the recorder can take a single process's file as it is, without reading it.
 */
import fs = require("node:fs");
import path = require("node:path");
import addon = require("./addon.cjs");
import type Meta = require("@vmprof/format/meta");

// Found without require.resolve's 2-4 ms (addon.findExport).
const metaPath = addon.resolveExport(__dirname, "@vmprof/format", "./meta");
const meta = require(metaPath) as typeof Meta;

function run(): void {
  const env = process.env;
  const dir = env.VMPROF_DIR;
  if (!dir) return;
  let native: addon.Addon | undefined;
  let loadError: Error | undefined;
  try {
    native = addon.loadAddon();
  } catch (e) {
    loadError = e as Error;
  }
  // The addon tells a worker thread from the main one; without it, node:worker_threads does.
  const mainThread = native ? native.isMainThread() : (require("node:worker_threads") as typeof import("node:worker_threads")).isMainThread;
  if (!mainThread) {
    if (native?.isEnabled()) native.addThread(addon.workerName(), 1);
    return; // a failed load is reported by the main thread
  }
  if (env.VMPROF_CHILDREN === "0") {
    try {
      fs.mkdirSync(path.join(dir, "root"));
    } catch {
      return; // not the first process: children are not profiled
    }
  }
  if (!native) {
    fs.writeFileSync(path.join(dir, `error-${process.pid}.txt`), `${loadError?.message}\n`);
    if (env.VMPROF_ALLOW_UNPROFILED === "1") return;
    process.exit(2);
  }
  const file = path.join(dir, `${process.pid}.prof`);
  const fd = fs.openSync(file, "w");
  const periodUs = Number(env.VMPROF_PERIOD_US) || Math.round(addon.DEFAULT_PERIOD * 1e6);
  const mode = env.VMPROF_MODE === "wall" ? "wall" : "cpu";
  const maxDepth = Number(env.VMPROF_MAX_DEPTH) || addon.DEFAULT_MAX_DEPTH;
  const entries = addon.processMeta(env.VMPROF_NO_ARGV === "1" ? undefined : meta.redactArgv(addon.commandLine()));
  if (env.VMPROF_META) entries.push(...(JSON.parse(env.VMPROF_META) as [string, addon.MetaValue][]));
  const lines = env.VMPROF_LINES !== "0";
  const nativeFrames = env.VMPROF_NATIVE === "1";
  try {
    native.start(fd, { periodUs, mode, maxDepth, lines, native: nativeFrames }, entries, addon.processName());
  } catch (e) {
    // A sampler that cannot start (libunwind missing for --native) is the recorder's usage error.
    fs.writeFileSync(path.join(dir, `error-${process.pid}.txt`), `${(e as Error).message}\n`);
    if (env.VMPROF_ALLOW_UNPROFILED === "1") return;
    process.exit(2);
  }
  native.addThread("main", 0);
  native.installTerminationHandlers();
  process.on("exit", () => {
    const stats = native.stop();
    fs.closeSync(fd);
    if (stats.error) fs.writeFileSync(path.join(dir, `error-${process.pid}.txt`), `writing ${file}: ${stats.error}\n`);
    else {
      // Scripts of the program that declared source maps (ours, the sampler's own, left out): none
      // spares the recorder from looking for maps at all.
      const own = [path.resolve(__dirname, "../..") + path.sep, path.dirname(metaPath) + path.sep];
      const mapped = stats.scripts.filter((f) => !own.some((d) => f.startsWith(d) || f.startsWith(`file://${d}`))).length;
      fs.writeFileSync(path.join(dir, `${process.pid}.done`), JSON.stringify({ samples: stats.samples, threads: stats.threads, mapped }));
    }
  });
}

try {
  run();
} catch (e) {
  // The profiler must never break the program: report and run on unprofiled.
  const dir = process.env.VMPROF_DIR;
  if (dir) {
    try {
      fs.writeFileSync(path.join(dir, `error-${process.pid}.txt`), `${(e as Error).message}\n`);
    } catch {
      /* nothing more to do */
    }
  }
}
