// Preloaded into benchmarked runs: at exit of the workload process (not of a recorder around it),
// writes its lifetime in ms, its peak RSS in KiB and its own CPU time in seconds (user+sys of all its
// threads, so far: a profiler's own exit work that runs after this handler is not in it) to
// $BENCH_RSS_FILE as JSON.
process.on("exit", () => {
  const file = process.env.BENCH_RSS_FILE;
  if (!file || !/workload\.cjs$/.test(process.argv[1] ?? "")) return;
  const u = process.cpuUsage();
  require("node:fs").writeFileSync(file, JSON.stringify({ ms: performance.now(), rssKiB: process.resourceUsage().maxRSS, programCpuS: (u.user + u.system) / 1e6 }));
});
