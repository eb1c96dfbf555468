// Records the code names V8 gives on a Node version, for the name parser's tests:
//   node scripts/capture-code-names.cjs 20 22 24 26
// Runs test/fixtures/code-names/program.cjs under the sampler with VMPROF_DEBUG_CODE=1 on each Node
// (20: the Node running this script; others from the cache of scripts/build-abi.cjs) and writes
// test/fixtures/code-names/node-<major>.tsv: one code object a line, "bytecode<TAB>wasm<TAB>script
// name<TAB>V8 name", sorted and unique. Every name of the program's own code is kept; of Node's own
// code and of V8's builtins, a fixed sample (every name whose shape, the tag and the characters before
// the name, is new, then every 40th).
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { nodeHome } = require("./build-abi.cjs");

const root = path.resolve(__dirname, "..");
const fixtures = path.join(root, "test", "fixtures", "code-names");
const program = path.join(fixtures, "program.cjs");

for (const major of process.argv.slice(2)) {
  const node = process.versions.node.split(".")[0] === major ? process.execPath : path.join(nodeHome(major), "bin", "node");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-names-"));
  const preload = path.join(root, "dist", "src", "preload.cjs");
  const r = spawnSync(node, ["--require", preload, program, "600"], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
    env: { ...process.env, VMPROF_DIR: dir, VMPROF_DEBUG_CODE: "1" },
  });
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`Node ${major}: the program failed: ${r.stderr.slice(-2000)}`);
  const rows = new Set();
  for (const line of r.stderr.split("\n")) {
    const m = /^ADD [0-9a-f]+\+\d+ (.*) script=-?\d+ '(.*)' bytecode=(\d) wasm=(\d) positions=\d+$/.exec(line);
    if (m) rows.add(`${m[3]}\t${m[4]}\t${m[2]}\t${m[1]}`);
  }
  const shapes = new Set();
  let n = 0;
  const kept = [...rows].sort().filter((row) => {
    const name = row.split("\t")[3];
    if (name.includes("program.cjs") || row.split("\t")[1] === "1" || /wasm-function/.test(name)) return true;
    const shape = /^[A-Za-z]+:[^A-Za-z0-9_$ ]{0,3}/.exec(name)?.[0] ?? name;
    if (!shapes.has(shape)) {
      shapes.add(shape);
      return true;
    }
    return n++ % 40 === 0;
  });
  const out = path.join(fixtures, `node-${major}.tsv`);
  fs.writeFileSync(out, kept.map((row) => row.replaceAll(program, "/PROGRAM/program.cjs")).join("\n") + "\n");
  console.log(`${out}: ${kept.length} of ${rows.size} names`);
}
