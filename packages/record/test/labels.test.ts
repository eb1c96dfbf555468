/**
 * Labels per sample (withLabels) on a real HTTP server under a real local load, on every supported
 * Node: the routes' shares by label are the routes' known costs, and every sample of a route's work
 * carries that route's label, whichever continuation it ran in (after an await on a timer, in a
 * promise chain, after setImmediate), while eight requests of both routes are in flight at once.
 */
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { test } from "node:test";
import { SampleLabels, VmState, type Profile } from "@vmprof/format";
import { fixture, nodeBinary, read, recordAsync, tempDir } from "./helpers.js";

const dir = tempDir();
const SERVER = fixture("labels-server.mjs");
const REQUESTS = 200;
const CONCURRENCY = 8;

/** Records the server while `REQUESTS` requests (half /a, half /b) are made, CONCURRENCY at a time. */
async function recordServer(node: string, file: string): Promise<Profile> {
  const rec = recordAsync(["-o", file, "--", node, SERVER, "40000"]);
  let stderr = "";
  rec.stderr.on("data", (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => rec.on("close", resolve));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      rec.stdout.once("data", (d) => {
        const m = /^(\d+)\n/.exec(String(d));
        if (m) resolve(Number(m[1]));
        else reject(new Error(`the server printed ${JSON.stringify(String(d))}, not its port`));
      });
      rec.once("close", () => reject(new Error(`the server ended before listening: ${stderr}`)));
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const get = (p: string) =>
      new Promise<void>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port, path: p, agent }, (r) => {
          r.resume();
          r.on("end", () => (r.statusCode === 200 ? resolve() : reject(new Error(`${p}: ${r.statusCode}`))));
        }).on("error", reject);
      });
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) await get(next++ % 2 === 0 ? "/a" : "/b");
      }),
    );
    await get("/quit");
    agent.destroy();
  } catch (e) {
    // A failed run must not leave the server running (the test process would never end).
    rec.kill("SIGTERM");
    throw e;
  }
  assert.equal(await exited, 0, stderr);
  return read(file);
}

/** For each sample, the names of the functions on its stack. */
function stackNames(p: Profile, i: number): Set<string> {
  const names = new Set<string>();
  for (let s = p.samples.stack[i]; s !== 0; s = p.stacks.parent[s]) names.add(p.functions[p.frames[p.stacks.frame[s] - 1].function - 1].name);
  return names;
}

for (const major of ["20", "22", "24", "26"]) {
  test(`Node ${major}: an HTTP server's routes by label: shares as their costs (70/30) within 3 points, labels through await, timers and promise chains, none leaking between concurrent requests`, async (t) => {
    const p = await recordServer(nodeBinary(major), path.join(dir, `labels-${major}.prof`));
    const labels = new SampleLabels(p);
    const route = (i: number) => labels.of(i).get("route");
    // Every JS sample in a route's own work (spinA for /a, spinB for /b), by the continuation it ran in.
    const parts = ["syncPart", "afterTimer", "inThen", "afterImmediate"];
    const seen = new Map<string, { right: number; wrong: number; none: number }>();
    const byLabel = { a: 0, b: 0 };
    for (let i = 0; i < p.samples.count; i++) {
      const r = route(i);
      // CPU time per route by label, every state (GC and compiler time on behalf of a request count for it).
      if (r === "/a") byLabel.a += p.samples.cpu[i];
      else if (r === "/b") byLabel.b += p.samples.cpu[i];
      if (p.samples.state[i] !== VmState.JS) continue;
      const names = stackNames(p, i);
      const want = names.has("spinA") ? "/a" : names.has("spinB") ? "/b" : undefined;
      if (!want) continue;
      for (const part of parts) {
        if (!names.has(part)) continue;
        const key = `${want} ${part}`;
        const e = seen.get(key) ?? { right: 0, wrong: 0, none: 0 };
        if (r === want) e.right++;
        else if (r === undefined) e.none++;
        else e.wrong++;
        seen.set(key, e);
      }
    }
    const shareA = (100 * byLabel.a) / (byLabel.a + byLabel.b);
    const table = [...seen].map(([k, e]) => `${k}: ${e.right} right, ${e.wrong} wrong, ${e.none} none`).join("; ");
    t.diagnostic(`route /a ${shareA.toFixed(1)} % of labelled CPU time; ${table}`);
    for (const want of ["/a", "/b"]) {
      for (const part of parts) {
        const e = seen.get(`${want} ${part}`);
        assert.ok(e && e.right >= 20, `${want} ${part}: too few samples (${table})`);
        // Labels survive the continuation and never leak into a concurrent request of the other route.
        assert.equal(e.wrong, 0, `${want} ${part}: samples labelled with the other route (${table})`);
        assert.ok(e.none <= 0.01 * e.right, `${want} ${part}: samples without a label (${table})`);
      }
    }
    assert.ok(Math.abs(shareA - 70) <= 3, `route /a has ${shareA.toFixed(1)} % of the labelled CPU time, its cost is 70 % (${table})`);
    // The profile defines each label set once.
    assert.deepEqual(p.labelSets.map((s) => s.map(([k, v]) => `${k}=${v}`).join(",")).sort(), ["route=/a", "route=/b"]);
  });
}
