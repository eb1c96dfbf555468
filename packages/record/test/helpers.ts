/** Helpers of the record tests: run the real command on real programs and read what it wrote. */
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { aggregate, functionIdLimit, functionInfo, functionTable, readProfileSync, type Profile, type Weight } from "@vmprof/format";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The command as a user runs it. */
export const BIN = path.resolve(here, "../../bin/run.cjs");
/** Test programs. */
export const FIXTURES = path.resolve(here, "../../test/fixtures");
export const fixture = (name: string) => path.join(FIXTURES, name);

/** A fresh temporary directory, removed at exit. */
export function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-record-test-"));
  process.on("exit", () => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Runs vmprof-record with `args` and waits for it. */
export function record(args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<Buffer> {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd, input: opts.input ?? "", env: opts.env ?? process.env, timeout: 60_000 });
}

/** Starts vmprof-record without waiting, for tests that signal it. */
export function recordAsync(args: string[], cwd?: string) {
  return spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
}

/** Cumulative and self shares (percent of the chosen weight) by function name. */
export function shares(p: Profile, weight: Weight = "samples", threads?: number[], fromUs?: number): Map<string, { total: number; self: number }> {
  const agg = aggregate(p, { weight, selection: { ...(threads ? { tids: threads } : {}), ...(fromUs !== undefined ? { from: fromUs } : {}) } });
  const t = functionTable(p, agg);
  const out = new Map<string, { total: number; self: number }>();
  for (let id = 1; id < functionIdLimit(p); id++) {
    const name = functionInfo(p, id).name;
    const prev = out.get(name) ?? { total: 0, self: 0 };
    out.set(name, { total: prev.total + (100 * t.total[id]) / agg.total, self: prev.self + (100 * t.self[id]) / agg.total });
  }
  return out;
}

/** Share of one function (0 when absent). */
export function share(s: Map<string, { total: number; self: number }>, name: string, kind: "total" | "self" = "total"): number {
  return s.get(name)?.[kind] ?? 0;
}

/** Reads a profile the recorder wrote. */
export function read(file: string): Profile {
  return readProfileSync(file);
}

/** Runs `node --cpu-prof` (this Node, or the binary `node`) on a program and returns V8's own shares by function name (percent of samples). */
export function cpuProfShares(program: string, args: string[], dir: string, node = process.execPath): Map<string, { total: number; self: number }> {
  const r = spawnSync(node, ["--cpu-prof", "--cpu-prof-interval", "1000", "--cpu-prof-dir", dir, program, ...args]);
  if (r.status !== 0) throw new Error(`node --cpu-prof failed: ${r.stderr}`);
  return cpuProfileShares(path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))!));
}

/** Shares by function name (percent of samples) of a Chrome .cpuprofile file. */
export function cpuProfileShares(file: string): Map<string, { total: number; self: number }> {
  const cp = JSON.parse(fs.readFileSync(file, "utf8")) as {
    nodes: { id: number; callFrame: { functionName: string }; children?: number[] }[];
    samples: number[];
  };
  const byId = new Map(cp.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of cp.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out = new Map<string, { total: number; self: number }>();
  const bump = (name: string, key: "total" | "self") => {
    const e = out.get(name) ?? { total: 0, self: 0 };
    e[key] += 100 / cp.samples.length;
    out.set(name, e);
  };
  for (const s of cp.samples) {
    bump(byId.get(s)!.callFrame.functionName, "self");
    const seen = new Set<string>();
    for (let id: number | undefined = s; id !== undefined; id = parent.get(id)) {
      const name = byId.get(id)!.callFrame.functionName;
      if (!seen.has(name)) bump(name, "total");
      seen.add(name);
    }
  }
  return out;
}

/** The native build's script for other Node versions; its nodeHome(major) says where each Node is kept. */
export const BUILD_ABI = path.resolve(path.dirname(createRequire(import.meta.url).resolve("@vmprof/native/preload")), "../../scripts/build-abi.cjs");

/** The binary of Node `major`: this one when it is that major, else the one the native build fetched. */
export function nodeBinary(major: string): string {
  if (process.versions.node.split(".")[0] === major) return process.execPath;
  const { nodeHome } = createRequire(import.meta.url)(BUILD_ABI) as { nodeHome: (major: string) => string };
  return path.join(nodeHome(major), "bin", "node");
}
