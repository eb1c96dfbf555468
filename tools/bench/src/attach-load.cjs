// The load of bench:attach, in a process of its own: CONCURRENCY keep-alive clients request
// http://127.0.0.1:PORT/ in a loop for SECONDS, then print every request as [start epoch ms, latency
// ms] (JSON), and the failures.
//   node attach-load.cjs PORT SECONDS CONCURRENCY
const http = require("node:http");

const [port, seconds, concurrency] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const end = performance.now() + seconds * 1000;
const requests = [];
let failures = 0;
const now = () => performance.timeOrigin + performance.now();

function one() {
  return new Promise((resolve) => {
    const start = now();
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
      res.resume();
      res.on("end", () => {
        if (res.statusCode === 200) requests.push([start, now() - start]);
        else failures++;
        resolve();
      });
    });
    req.on("error", () => {
      failures++;
      resolve();
    });
  });
}

async function client() {
  while (performance.now() < end) await one();
}

Promise.all(Array.from({ length: concurrency }, client)).then(() => {
  agent.destroy();
  process.stdout.write(JSON.stringify({ requests, failures }));
});
