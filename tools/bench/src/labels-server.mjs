// The server of bench:labels: two routes of known CPU cost (/a 7 units, /b 3), each request's work in
// four parts around an await on a timer, a promise chain and setImmediate (as the labels test's
// server). BENCH_LABELS says how requests are labelled:
//   none      not at all
//   vmprof    withLabels({ route }) from @vmprof/native (the program runs under vmprof-record)
//   datadog   @datadog/pprof's time profiler started here, runWithContext({ route }) (AsyncContextFrame)
//   dd-none   @datadog/pprof's time profiler started here, no context
// Prints its port; GET /quit closes it (and, for datadog, encodes its profile, as an agent would).
import http from "node:http";
import { createRequire } from "node:module";

const UNIT = Number(process.env.BENCH_UNIT || 10000);
const mode = process.env.BENCH_LABELS || "none";
function spinA(units) {
  let x = 0;
  for (let i = 0; i < units * UNIT; i++) x += Math.sqrt(i) % 7;
  return x;
}
function spinB(units) {
  let x = 0;
  for (let i = 0; i < units * UNIT; i++) x += Math.sqrt(i) % 7;
  return x;
}
const work = (route, units) => (route === "/a" ? spinA(units) : spinB(units));
async function handle(route) {
  const units = route === "/a" ? 7 : 3;
  let x = work(route, units / 4);
  await new Promise((r) => setTimeout(r, 0));
  x += work(route, units / 4);
  x += await Promise.resolve(units).then((u) => work(route, u / 4));
  await new Promise((r) => setImmediate(r));
  x += work(route, units / 4);
  return x;
}

let label = (route, fn) => fn();
let finish = () => {};
if (mode === "vmprof") {
  const { withLabels } = await import("@vmprof/native");
  label = (route, fn) => withLabels({ route }, fn);
} else if (mode === "datadog" || mode === "dd-none") {
  const require = createRequire(process.env.BENCH_DD_FROM);
  const { time, encodeSync } = require("@datadog/pprof");
  // Contexts on in both (its CPU time needs them, and an agent runs with them); only "datadog" sets one per request.
  time.start({ intervalMicros: 1000, durationMillis: 3600000, withContexts: true, useCPED: true, collectCpuTime: true });
  if (mode === "datadog") label = (route, fn) => time.runWithContext({ route }, fn);
  finish = () => encodeSync(time.stop(false, mode === "datadog" ? ({ context }) => (context?.context ? { route: context.context.route } : {}) : undefined));
}

const server = http.createServer((req, res) => {
  if (req.url === "/quit") {
    finish();
    res.end("bye");
    server.close();
    server.closeIdleConnections?.();
    return;
  }
  label(req.url, () => handle(req.url)).then((x) => res.end(String(x)));
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
