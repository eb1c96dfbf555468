/**
 * vmprof-report benchmark, two figures:
 * 1. Start-up: `vmprof-report --top` on a tiny profile against `node -e 0`, alternating, medians of
 *    RUNS each, and their ratio (target: at most 2x).
 * 2. Scale: `vmprof-report --top` on a synthetic profile of N samples (default 10,000,000), median
 *    of 3 runs (target: under 2 s), beside the time a fresh node takes to read the same file's bytes.
 *
 *   node tools/bench/dist/report.js [samples=10000000] [runs=15]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fileSink } from "@vmprof/format";
import { synthesize, writeSynthetic } from "./synthetic.js";

const N = Number(process.argv[2] ?? 10_000_000);
const RUNS = Number(process.argv[3] ?? 15);
const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const report = join(root, "packages/report/bin/run.js");
const tiny = join(root, "packages/report/test/fixtures/app.prof");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function ms(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited with ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const bare: number[] = [];
const top: number[] = [];
ms(["-e", "0"]);
ms([report, "--top", tiny]);
for (let i = 0; i < RUNS; i++) {
  bare.push(ms(["-e", "0"]));
  top.push(ms([report, "--top", tiny]));
}
console.log(`start-up, medians of ${RUNS} alternating runs:`);
console.log(`  node -e 0                      ${median(bare).toFixed(1)} ms`);
console.log(`  vmprof-report --top (tiny)     ${median(top).toFixed(1)} ms   ${(median(top) / median(bare)).toFixed(2)}x node -e 0`);

const dir = mkdtempSync(join(tmpdir(), "vmprof-bench-report-"));
try {
  const file = join(dir, "big.prof");
  const sink = fileSink(file);
  writeSynthetic(synthesize(N), sink);
  const readOnly = `require("fs").readFileSync(${JSON.stringify(file)})`;
  const big: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < 3; i++) {
    raw.push(ms(["-e", readOnly]));
    big.push(ms([report, "--top", file]));
  }
  console.log(`scale: ${N} samples, ${(statSync(file).size / 1e6).toFixed(1)} MB, medians of 3 runs:`);
  console.log(`  node reading the file's bytes  ${median(raw).toFixed(0)} ms`);
  console.log(`  vmprof-report --top            ${median(big).toFixed(0)} ms   (${((N / median(big)) * 1000 / 1e6).toFixed(1)} M samples/s)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
