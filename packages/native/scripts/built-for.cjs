// Records which Node the addon was just built for, so the loader can refuse a mismatched Node with
// a clear message instead of crashing inside V8.
const fs = require("node:fs");
const path = require("node:path");
const out = path.join(__dirname, "..", "build", "Release", "built-for.json");
fs.writeFileSync(out, JSON.stringify({ node: process.version, modules: process.versions.modules, v8: process.versions.v8 }) + "\n");
