/**
 * vmprof-convert benchmark: on a synthetic profile of N samples (default 10,000,000), the time of
 * `vmprof-convert --to pprof` and `--to speedscope`, side by side with the time `go tool pprof -top`
 * (the pprof project's own reader) takes on our pprof output, medians of RUNS alternating runs, and
 * the ratio (target: our conversion faster than pprof's reading of its result), and the speedscope
 * file's size and time beside pprof's (target: at most 10x the pprof file, under 3 s). The default
 * speedscope order is "auto": time order (consecutive samples of one path merged, so its size follows
 * the profile's runs) unless that would pass what speedscope's viewer opens, then merged by stack; the
 * bench also times `--order time`, the time-ordered file at any size.
 *
 *   node tools/bench/dist/convert.js [samples=10000000] [runs=3]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fileSink } from "@vmprof/format";
import { synthesize, writeSynthetic } from "./synthetic.js";

const N = Number(process.argv[2] ?? 10_000_000);
const RUNS = Number(process.argv[3] ?? 3);
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const convert = join(root, "packages/convert/bin/run.js");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function ms(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "inherit"], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const dir = mkdtempSync(join(tmpdir(), "vmprof-bench-convert-"));
try {
  const file = join(dir, "big.prof");
  writeSynthetic(synthesize(N), fileSink(file));
  const pb = join(dir, "big.pb.gz");
  const ss = join(dir, "big.speedscope.json");
  const ssTime = join(dir, "big-time.speedscope.json");
  const toPprof: number[] = [];
  const toSpeedscope: number[] = [];
  const toSpeedscopeTime: number[] = [];
  const goTop: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    toPprof.push(ms(process.execPath, [convert, "-o", pb, file]));
    goTop.push(ms("go", ["tool", "pprof", "-top", pb]));
    toSpeedscope.push(ms(process.execPath, [convert, "-o", ss, file]));
    toSpeedscopeTime.push(ms(process.execPath, [convert, "--order", "time", "-o", ssTime, file]));
  }
  const mb = (f: string) => (statSync(f).size / 1e6).toFixed(1);
  const go = median(goTop);
  console.log(`${N} samples (${mb(file)} MB), medians of ${RUNS} alternating runs:`);
  console.log(`  vmprof-convert --to pprof        ${median(toPprof).toFixed(0)} ms -> ${mb(pb)} MB   ${(median(toPprof) / go).toFixed(2)}x go tool pprof -top`);
  console.log(`  vmprof-convert --to speedscope   ${median(toSpeedscope).toFixed(0)} ms -> ${mb(ss)} MB   ${(median(toSpeedscope) / go).toFixed(2)}x go tool pprof -top`);
  console.log(`    ... --order time               ${median(toSpeedscopeTime).toFixed(0)} ms -> ${mb(ssTime)} MB`);
  console.log(`  go tool pprof -top (our pprof)   ${go.toFixed(0)} ms`);
  const ratio = statSync(ss).size / statSync(pb).size;
  const ssMs = median(toSpeedscope);
  console.log(`  speedscope beside pprof: ${ratio.toFixed(1)}x the size (target <= 10x), ${(ssMs / 1000).toFixed(2)} s (target < 3 s): ${ratio <= 10 && ssMs < 3000 ? "met" : "NOT met"}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
