/**
 * A throwaway PostgreSQL cluster for tests: Debian's PostgreSQL (the `postgresql` package, binaries in
 * /usr/lib/postgresql/VERSION/bin), initdb'd into a temporary directory, listening on a free loopback
 * port with its unix socket in that directory, trust authentication for the user "vmprof". As root the
 * cluster runs as the unprivileged user "postgres" (or "nobody"): PostgreSQL refuses to run as root.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** The newest installed PostgreSQL's bin directory; throws, saying what to install, when there is none. */
export function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, "bin/pg_ctl"))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error("no PostgreSQL under /usr/lib/postgresql: install Debian's postgresql package (tools/scripts/env.sh does)");
  return path.join(root, versions[0], "bin");
}

/** A free TCP port on 127.0.0.1 (free when asked; nothing holds it afterwards). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A running cluster: its URL for vmprof-server, and stop/start/remove. */
export interface Cluster {
  /** postgres://vmprof@127.0.0.1:PORT/vmprof */
  url: string;
  port: number;
  /** Stops the server (fast shutdown: sessions are terminated, transactions rolled back). */
  stop(): void;
  /** Starts it again on the same port and data. */
  start(): void;
  /** Stops it (immediately) and deletes its directory. */
  remove(): void;
}

/** Creates and starts a cluster in a fresh temporary directory. */
export async function startCluster(): Promise<Cluster> {
  const bin = postgresBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-pg-test-"));
  const data = path.join(dir, "data");
  let runAs: string[] = [];
  if (process.getuid?.() === 0) {
    const user = ["postgres", "nobody"].find((u) => spawnSync("id", ["-u", u]).status === 0);
    if (!user) throw new Error("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as");
    const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }));
    const gid = Number(execFileSync("id", ["-g", user], { encoding: "utf8" }));
    fs.chownSync(dir, uid, gid);
    runAs = ["runuser", "-u", user, "--"];
  }
  const run = (cmd: string, args: string[]) => {
    const full = [...runAs, path.join(bin, cmd), ...args];
    const r = spawnSync(full[0], full.slice(1), { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}${fs.existsSync(path.join(dir, "log")) ? fs.readFileSync(path.join(dir, "log"), "utf8") : ""}`);
  };
  run("initdb", ["-D", data, "-U", "vmprof", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`;
  const start = () => run("pg_ctl", ["-D", data, "-o", opts, "-l", path.join(dir, "log"), "-w", "-t", "60", "start"]);
  start();
  // The database the servers use (the bootstrap one is "postgres").
  run("createdb", ["-h", dir, "-p", String(port), "-U", "vmprof", "vmprof"]);
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    const full = [...runAs, path.join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"];
    spawnSync(full[0], full.slice(1), { timeout: 60_000 });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", remove);
  return {
    url: `postgres://vmprof@127.0.0.1:${port}/vmprof`,
    port,
    stop: () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]),
    start,
    remove,
  };
}
