// The in-process half of bench:sample-cost (sample-cost.ts runs it): one process runs the workload in
// segments of argv[3] rounds, argv[2] times over a round-robin of profilers, each started just before
// its segment and stopped (its profile made) just after:
//   off                      no profiler
//   vmprof@1k, vmprof@10     @vmprof/native enable({period}) / disable(), profile written to /dev/null
//   cpu-prof@1k, cpu-prof@10 V8's CpuProfiler through node:inspector (what --cpu-prof runs), profile
//                            serialized as --cpu-prof does
//   datadog@1k, datadog@10   @datadog/pprof's time profiler (CPU time and contexts on), profile encoded
// and prints one JSON line per segment: variant, CPU µs of the whole process (every thread), CPU µs of
// the profilers' own threads (vmprof-sampler and vmprof-writer; V8's v8:ProfEvntProc, which both
// signals and processes; read from /proc/self/task/*/schedstat, ns), wall µs, wall µs and main thread
// CPU µs of the rounds alone (between the profiler's start and its stop), samples taken. Same
// process, same JIT state, alternating: the machine's drift hits all alike.
const fs = require("node:fs");
const inspector = require("node:inspector");
const { round } = require(process.env.BENCH_WORKLOAD);
const { time, encodeSync } = require(process.env.BENCH_DATADOG);

const REPS = Number(process.argv[2] || 6);
const ROUNDS = Number(process.argv[3] || 8);

// CPU ns so far of each thread whose name is one of the profilers' (threads come and go: by tid).
function profilerThreads() {
  const out = new Map();
  for (const tid of fs.readdirSync("/proc/self/task")) {
    try {
      const comm = fs.readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
      if (!/^(vmprof-|v8:Prof)/.test(comm)) continue;
      out.set(tid, Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[0]));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

// CPU ns so far of this (the sampled, main) thread: its work, our signal handler and the kernel's
// delivery of the signal.
const mainThreadNs = () => Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]);

async function main() {
  const vmprof = await import(process.env.BENCH_NATIVE);
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
  await post("Profiler.enable");
  const devnull = fs.openSync("/dev/null", "w");
  const variants = {
    off: { start: async () => {}, stop: async () => 0 },
    "vmprof@1k": { start: async () => vmprof.enable(devnull, { period: 0.001 }), stop: async () => vmprof.disable().samples },
    "vmprof@10": { start: async () => vmprof.enable(devnull, { period: 0.1 }), stop: async () => vmprof.disable().samples },
    "cpu-prof@1k": {
      start: async () => { await post("Profiler.setSamplingInterval", { interval: 1000 }); await post("Profiler.start"); },
      stop: async () => { const { profile } = await post("Profiler.stop"); JSON.stringify(profile); return profile.samples.length; },
    },
    "cpu-prof@10": {
      start: async () => { await post("Profiler.setSamplingInterval", { interval: 100000 }); await post("Profiler.start"); },
      stop: async () => { const { profile } = await post("Profiler.stop"); JSON.stringify(profile); return profile.samples.length; },
    },
    "datadog@1k": {
      start: async () => time.start({ intervalMicros: 1000, durationMillis: 3600000, withContexts: true, collectCpuTime: true }),
      stop: async () => { const p = time.stop(); encodeSync(p); return p.sample.reduce((n, s) => n + Number(s.value[0]), 0); },
    },
    "datadog@10": {
      start: async () => time.start({ intervalMicros: 100000, durationMillis: 3600000, withContexts: true, collectCpuTime: true }),
      stop: async () => { const p = time.stop(); encodeSync(p); return p.sample.reduce((n, s) => n + Number(s.value[0]), 0); },
    },
  };
  for (let i = 0; i < 3; i++) round(); // warm the JIT
  for (let rep = 0; rep < REPS; rep++) {
    for (const [name, v] of Object.entries(variants)) {
      const c0 = process.cpuUsage();
      const w0 = process.hrtime.bigint();
      await v.start();
      const m0 = mainThreadNs();
      const r0 = process.hrtime.bigint();
      for (let k = 0; k < ROUNDS; k++) round();
      const roundsUs = Number(process.hrtime.bigint() - r0) / 1000;
      const mainUs = (mainThreadNs() - m0) / 1000;
      const before = profilerThreads();  // threads end at stop: read them just before
      const samples = await v.stop();
      let threadsUs = 0;
      for (const ns of before.values()) threadsUs += ns / 1000;
      const c = process.cpuUsage(c0);
      const wallUs = Number(process.hrtime.bigint() - w0) / 1000;
      console.log(JSON.stringify({ name, cpuUs: c.user + c.system, threadsUs, wallUs, roundsUs, mainUs, samples }));
    }
  }
}
main();
