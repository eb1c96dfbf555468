// The main job on the bundled example: record examples/app.js with vmprof-record, then print vmprof's
// top view of the profile with vmprof-report.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = mkdtempSync(join(tmpdir(), "vmprof-example-"));
const path = join(dir, "example.prof");
const run = (label, args) => {
  console.log(`$ ${label}`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`${label} exited with ${r.status}`);
};
try {
  run(`vmprof-record -o ${path} -- node examples/app.js`, ["packages/record/bin/run.cjs", "-o", path, "--", process.execPath, "examples/app.js"]);
  run(`vmprof-report --top ${path}`, ["packages/report/bin/run.js", "--top", "--limit", "25", path]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
