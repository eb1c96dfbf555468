// The main job on the bundled example: record examples/app.js with vmprof-record, then print vmprof's
// top view of the profile (cumulative share per function) and a summary. The top view is computed with
// the format package's queries until vmprof-report exists (issue 4).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { aggregate, functionIdLimit, functionInfo, functionLocation, functionTotals, readProfile } from "@vmprof/format";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = mkdtempSync(join(tmpdir(), "vmprof-example-"));
const path = join(dir, "example.prof");
try {
  const record = ["packages/record/bin/run.js", "-o", path, "--", process.execPath, "examples/app.js"];
  console.log(`$ vmprof-record -o ${path} -- node examples/app.js`);
  const r = spawnSync(process.execPath, record, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`vmprof-record exited with ${r.status}`);

  const p = await readProfile(path);
  const agg = aggregate(p);
  const t = functionTotals(p, agg);
  const ids = [...Array(functionIdLimit(p)).keys()].filter((id) => (100 * t.total[id]) / agg.total >= 0.5).sort((a, b) => t.total[b] - t.total[a]);
  console.log("vmprof output:\n% of snapshots:  name:");
  for (const id of ids) {
    const info = functionInfo(p, id);
    console.log(` ${((100 * t.total[id]) / agg.total).toFixed(1).padStart(5)}%          ${info.name || "<anonymous>"}    ${functionLocation(info).replace(root + "/", "")}`);
  }
  const seconds = (Number(p.meta.get("end_time")) - Number(p.meta.get("start_time"))) / 1e6;
  console.log(`\n${agg.samples} samples in ${seconds.toFixed(2)} s (${(agg.samples / seconds).toFixed(0)}/s), mode ${p.meta.get("mode")}, period ${p.meta.get("period_us")} µs, dropped ${p.meta.get("dropped_samples")}, timer ${p.meta.get("timer")}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
