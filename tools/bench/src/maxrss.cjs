// Preloaded into benchmarked runs: at exit of the workload process (not of a recorder around it),
// writes its lifetime in ms and its peak RSS in KiB to $BENCH_RSS_FILE as JSON.
process.on("exit", () => {
  const file = process.env.BENCH_RSS_FILE;
  if (!file || !/workload\.cjs$/.test(process.argv[1] ?? "")) return;
  require("node:fs").writeFileSync(file, JSON.stringify({ ms: performance.now(), rssKiB: process.resourceUsage().maxRSS }));
});
