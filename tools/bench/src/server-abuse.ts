/**
 * vmprof-server under abuse, on loopback: the latency of listing profiles (p50, p99 of sequential
 * GET /api/profiles) idle and while, at the same time, unauthenticated 95 MB uploads are sent in a
 * loop, 50 slow clients dribble request headers, 4 clients download a large profile's speedscope
 * export in a loop, and legitimate uploads go on; the server's peak RSS before and after, and how
 * many legitimate uploads were stored. Targets (issue 19): RSS bounded, list p99 under 50 ms, every
 * legitimate upload stored.
 *
 *   node tools/bench/dist/server-abuse.js [seconds=15] [junk,slow,download]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { memorySink } from "@vmprof/format";
import { synthesize, writeSynthetic } from "./synthetic.js";

const SECONDS = Number(process.argv[2] ?? 15);
/** Which abuses run (default all): junk (unauthenticated uploads), slow (slow clients), download. */
const ABUSES = new Set((process.argv[3] ?? "junk,slow,download").split(","));
const TOKEN = "bench-token";
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const dir = mkdtempSync(join(tmpdir(), "vmprof-bench-abuse-"));
const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/octet-stream" };

function start(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(root, "packages/server/bin/run.js"), "--db", join(dir, "db"), "--port", "0", "--token", TOKEN], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((res, rej) => {
    child.stdout!.once("data", (d) => res({ url: String(d).split("\n")[0].match(/http:\/\/\S+/)![0], child }));
    child.once("exit", (c) => rej(new Error(`server exited ${c}`)));
  });
}
const rssMiB = (pid: number) => {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)![1]);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
};
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/**
 * Sequential list requests until `until`, each on a connection of its own, from a process of its own
 * (the abuse's clients, in this one, must not delay the probe): their latencies in ms.
 */
function listLatencies(url: string, until: number): Promise<number[]> {
  const probe = `
    const http = require("node:http");
    const until = ${until}, out = [];
    (async () => {
      while (Date.now() < until) {
        const t0 = performance.now();
        await new Promise((res, rej) => http.get(new URL("/api/profiles?limit=20", ${JSON.stringify(url)}), { agent: false }, (r) => { r.resume(); r.on("end", res); }).on("error", rej));
        out.push(performance.now() - t0);
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
  const c = spawn(process.execPath, ["-e", probe], { stdio: ["ignore", "pipe", "inherit"] });
  let text = "";
  c.stdout!.on("data", (d) => (text += d));
  return new Promise((res) => c.once("exit", () => res(JSON.parse(text || "[]") as number[])));
}

const { url, child } = await start();
try {
  const small = memorySink();
  writeSynthetic(synthesize(5_000, 2), small);
  const big = memorySink();
  writeSynthetic(synthesize(400_000, 3), big);
  const up = await fetch(new URL("/api/profiles?name=big", url), { method: "POST", body: big.bytes(), headers: auth });
  const bigId = ((await up.json()) as { id: string }).id;
  const before = rssMiB(child.pid!);

  const idle = await listLatencies(url, Date.now() + 3000);

  const end = Date.now() + SECONDS * 1000;
  const junk = new Uint8Array(95 << 20);
  let rejected = 0;
  let downloads = 0;
  let legitSent = 0;
  let legitStored = 0;
  const loop = async (f: () => Promise<void>) => {
    while (Date.now() < end) await f();
  };
  const slow: ReturnType<typeof connect>[] = [];
  const u = new URL(url);
  for (let i = 0; i < (ABUSES.has("slow") ? 50 : 0); i++) {
    const s = connect(Number(u.port), u.hostname);
    s.on("error", () => {});
    s.write("POST /api/profiles HTTP/1.1\r\nHost: x\r\n");
    slow.push(s);
  }
  const dribble = setInterval(() => slow.forEach((s) => s.writable && s.write("X-A: b\r\n")), 500);
  const probe = listLatencies(url, end);
  await Promise.all([
    ...Array.from({ length: ABUSES.has("junk") ? 8 : 0 }, () =>
      loop(async () => {
        const r = await fetch(new URL("/api/profiles", url), { method: "POST", body: junk, headers: { "content-type": "application/octet-stream" } }).catch(() => undefined);
        if (r?.status === 401) rejected++;
        await r?.arrayBuffer().catch(() => undefined);
      }),
    ),
    ...Array.from({ length: ABUSES.has("download") ? 4 : 0 }, () =>
      loop(async () => {
        const r = await fetch(new URL(`/api/profiles/${bigId}/download?format=speedscope`, url));
        await r.arrayBuffer();
        downloads++;
      }),
    ),
    loop(async () => {
      legitSent++;
      const r = await fetch(new URL("/api/profiles?name=legit", url), { method: "POST", body: small.bytes(), headers: auth });
      if (r.status === 201) legitStored++;
      await r.arrayBuffer();
    }),
  ]);
  const busy = await probe;
  clearInterval(dribble);
  slow.forEach((s) => s.destroy());
  const after = rssMiB(child.pid!);
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(`vmprof-server under abuse for ${SECONDS} s (loopback):`);
  console.log(`  list latency idle: p50 ${ms(pct(idle, 0.5))}, p99 ${ms(pct(idle, 0.99))} (${idle.length} requests)`);
  console.log(`  list latency under abuse: p50 ${ms(pct(busy, 0.5))}, p99 ${ms(pct(busy, 0.99))} (${busy.length} requests; target p99 < 50 ms)`);
  console.log(`  meanwhile: ${rejected} unauthenticated 95 MB uploads answered 401, ${slow.length} slow clients, ${downloads} speedscope downloads of a 400,000-sample profile, ${legitStored}/${legitSent} legitimate uploads stored`);
  console.log(`  server RSS: ${before.rss.toFixed(0)} MiB before, ${after.rss.toFixed(0)} MiB after, peak ${after.peak.toFixed(0)} MiB`);
} finally {
  child.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
