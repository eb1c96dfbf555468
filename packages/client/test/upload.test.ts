/**
 * The client as a library: parseLabels, and what upload() sends to Pyroscope's /ingest for a
 * labelled profile (one request per label set), against an HTTP server in this process that
 * records the requests and decodes the pprof each carries.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { Profile as PProfile } from "pprof-format";
import { ProfileWriter, VmState, memorySink } from "@vmprof/format";
import { UploadUsageError, parseLabels, upload } from "../src/index.js";

test("parseLabels: key=value, the value may be empty or hold '='; no key or no '=' is a usage error naming the flag", () => {
  assert.deepEqual(parseLabels(["env=prod", "q=a=b", "empty="]), { env: "prod", q: "a=b", empty: "" });
  assert.deepEqual(parseLabels(), {});
  for (const bad of ["novalue", "=x", ""]) assert.throws(() => parseLabels([bad]), (e: unknown) => e instanceof UploadUsageError && e.message === `--label: expected key=value, got "${bad}"`);
});

/** What /ingest received: the name parameter, and per pprof sample its function names (leaf last), count and labels. */
interface Ingested {
  name: string;
  samples: { stack: string; count: number; labels: string[] }[];
}

async function ingestServer(): Promise<{ url: string; got: Ingested[]; close: () => void }> {
  const got: Ingested[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const pp = PProfile.decode(gunzipSync(Buffer.concat(chunks)));
      const s = pp.stringTable.strings;
      const fnName = new Map(pp.function.map((f) => [Number(f.id), s[Number(f.name)]]));
      const locName = new Map(pp.location.map((l) => [Number(l.id), fnName.get(Number(l.line[0].functionId))]));
      got.push({
        name: new URL(req.url!, "http://x").searchParams.get("name")!,
        samples: pp.sample.map((x) => ({
          stack: x.locationId.map((id) => locName.get(Number(id))).reverse().join(";"),
          count: Number(x.value[0]),
          labels: x.label.filter((l) => Number(l.str) !== 0 && s[Number(l.key)] !== "thread name").map((l) => `${s[Number(l.key)]}=${s[Number(l.str)]}`),
        })),
      });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, got, close: () => server.close() };
}

/** Two processes: pid 1 labels its samples route=/a (f) or route=/b (g) or nothing (h); pid 2's process label is route=/batch (k). */
function profile(): Uint8Array {
  const sink = memorySink();
  const w = new ProfileWriter(sink);
  w.meta({ mode: "cpu", period_us: 1000, start_time: 1_700_000_000_000_000, "label.team": "core" });
  const P1 = w.addProcess({ pid: 1 });
  const P2 = w.addProcess({ pid: 2 });
  w.meta({ "label.route": "/batch" }, P2);
  const [T1, T2] = [w.addThread({ process: P1, tid: 1 }), w.addThread({ process: P2, tid: 2 })];
  const st = (name: string) => w.stack([w.frame(w.addFunction({ name: "main" })), w.frame(w.addFunction({ name }))]);
  const [f, g, h, k] = [st("f"), st("g"), st("h"), st("k")];
  const [a, b] = [w.labelSet([["route", "/a"]]), w.labelSet([["route", "/b"]])];
  const rows: [number, number, number][] = [[T1, f, a], [T1, g, b], [T1, f, a], [T1, h, 0], [T2, k, 0], [T2, k, 0]];
  rows.forEach(([t, s, l], i) => w.sample(t, 1000 * (i + 1), 1000, 1000, VmState.JS, s, l));
  w.end();
  return sink.bytes();
}

test("Pyroscope: one /ingest per label set, its name the set's labels over the flags' (sorted), its pprof only that set's samples", async () => {
  const srv = await ingestServer();
  try {
    const r = await upload({ url: srv.url, to: "pyroscope", name: "svc.cpu", labels: { team: "flag", env: "prod" }, input: profile(), source: "p.prof" });
    // The profile's label team=core wins over --label team=flag, as a sample's own label would.
    assert.deepEqual(
      srv.got.map((x) => x.name),
      ["svc.cpu{env=prod,route=/a,team=core}", "svc.cpu{env=prod,route=/b,team=core}", "svc.cpu{env=prod,team=core}", "svc.cpu{env=prod,route=/batch,team=core}"],
    );
    assert.deepEqual(
      srv.got.map((x) => x.samples.map((s) => `${s.stack} ${s.count} [${s.labels.join(",")}]`)),
      [["main;f 2 [route=/a,team=core]"], ["main;g 1 [route=/b,team=core]"], ["main;h 1 [team=core]"], ["main;k 2 [route=/batch,team=core]"]],
    );
    assert.deepEqual(
      r.series!.map((s) => [s.labels, s.samples]),
      [
        [{ env: "prod", route: "/a", team: "core" }, 2],
        [{ env: "prod", route: "/b", team: "core" }, 1],
        [{ env: "prod", team: "core" }, 1],
        [{ env: "prod", route: "/batch", team: "core" }, 2],
      ],
    );
    assert.equal(r.url, r.series![0].url);
  } finally {
    srv.close();
  }
});

test("Pyroscope: a profile without label sets or samples is one series named with the flags alone", async () => {
  const srv = await ingestServer();
  try {
    const sink = memorySink();
    const w = new ProfileWriter(sink);
    w.addThread({ process: w.addProcess({ pid: 1 }), tid: 1 });
    w.end();
    const r = await upload({ url: srv.url, to: "pyroscope", labels: { env: "prod" }, input: sink.bytes(), source: "empty.prof" });
    assert.deepEqual(srv.got.map((x) => [x.name, x.samples.length]), [["vmprof-node.cpu{env=prod}", 0]]);
    assert.equal(r.series!.length, 1);
  } finally {
    srv.close();
  }
});
