/**
 * `--open`: shows a profile in speedscope's own viewer, bundled from the `speedscope` npm package and
 * served from a loopback HTTP server (nothing is fetched from the network). The viewer loads the
 * profile from the same server through `#profileURL=`.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Profile } from "@vmprof/format";
import { toSpeedscope } from "./export/speedscope.js";
import type { ExportOptions } from "./select.js";

/** The directory of speedscope's built viewer (index.html and its assets). */
export function viewerDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("speedscope/package.json")), "dist", "release");
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".wasm": "application/wasm",
  ".txt": "text/plain",
};

/** A running viewer: its URL and a way to stop it. */
export interface Viewer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * Serves the viewer and `p` as speedscope JSON on 127.0.0.1 (port 0: any free port). Only the
 * viewer's own files and /profile.speedscope.json are served; request paths never reach the
 * filesystem beyond that fixed list.
 */
export async function serveViewer(p: Profile, o: ExportOptions & { port?: number; title?: string } = {}): Promise<Viewer> {
  const dir = viewerDir();
  const files = new Set(readdirSync(dir));
  const json = Buffer.concat([...toSpeedscope(p, o)].map((c) => (typeof c === "string" ? Buffer.from(c) : c)));
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const name = path === "/" ? "index.html" : path.slice(1);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return;
    }
    if (name === "profile.speedscope.json") {
      res.writeHead(200, { "content-type": "application/json", "content-length": json.length, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : json);
      return;
    }
    if (!files.has(name)) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    const body = await readFile(join(dir, name));
    const ext = name.slice(name.lastIndexOf("."));
    res.writeHead(200, { "content-type": TYPES[ext] ?? "application/octet-stream", "content-length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  const title = encodeURIComponent(o.title ?? p.source);
  const url = `${base}/index.html#profileURL=${encodeURIComponent(`${base}/profile.speedscope.json`)}&title=${title}`;
  return { url, server, close: () => new Promise((r) => server.close(() => r())) };
}

/** Tries to open `url` in the user's browser ($BROWSER, else xdg-open); false when none could start. */
export async function openBrowser(url: string): Promise<boolean> {
  const cmd = process.env.BROWSER || (process.platform === "darwin" ? "open" : "xdg-open");
  return new Promise((resolve) => {
    const child = spawn(cmd, [url], { stdio: "ignore", detached: true });
    child.once("error", () => resolve(false));
    child.once("spawn", () => {
      child.unref();
      resolve(true);
    });
  });
}
