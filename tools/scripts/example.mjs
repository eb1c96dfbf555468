// The main job on a bundled example. Until vmprof-record exists (issue 3), it writes a small profile
// of vmprof's own example program (main -> f -> h -> g) with the format package, reads it back, and
// prints its text dump and vmprof's top view computed by the format's queries.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ProfileWriter, Tier, VmState, aggregate, dumpProfile, fileSink, functionIdLimit, functionInfo,
  functionLocation, functionTotals, readProfile,
} from "@vmprof/format";

const dir = mkdtempSync(join(tmpdir(), "vmprof-example-"));
const path = join(dir, "example.prof");
try {
  const w = new ProfileWriter(fileSink(path));
  w.meta({ start_time: Date.now() * 1000, mode: "cpu", period_us: 990, node_version: process.version, argv: ["node", "x.js"] });
  const proc = w.addProcess({ pid: process.pid, ppid: process.ppid, name: "node x.js" });
  const thread = w.addThread({ process: proc, tid: process.pid, name: "main" });
  const fn = (name, line) => w.addFunction({ name, file: "x.js", line, column: 1 });
  const [main, f, h, g] = [fn("", 1), fn("f", 9), fn("h", 6), fn("g", 2)];
  const M = w.frame(main, Tier.INTERPRETED);
  const F = w.frame(f, Tier.OPTIMIZED);
  const H = w.frame(h, Tier.OPTIMIZED);
  const stacks = [w.stack([M, F]), w.stack([M, F, H]), w.stack([M, F, H, w.frame(g, Tier.OPTIMIZED)])];
  // x.py's shares: f self 45%, h self 41%, g 14%.
  for (let i = 0; i < 1000; i++) {
    const k = i % 100 < 45 ? 0 : i % 100 < 86 ? 1 : 2;
    w.sample(thread, (i + 1) * 990, 990, 985, VmState.JS, stacks[k]);
  }
  w.end({ end_time: Date.now() * 1000, samples: 1000, dropped_samples: 0 });

  const p = await readProfile(path);
  console.log(dumpProfile(p));
  const agg = aggregate(p);
  const t = functionTotals(p, agg);
  const ids = [...Array(functionIdLimit(p)).keys()].filter((id) => t.total[id] > 0).sort((a, b) => t.total[b] - t.total[a]);
  console.log("vmprof output:\n% of snapshots:  name:");
  for (const id of ids) {
    const info = functionInfo(p, id);
    console.log(` ${((100 * t.total[id]) / agg.total).toFixed(1).padStart(5)}%          ${info.name || "<module>"}    ${functionLocation(info)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
