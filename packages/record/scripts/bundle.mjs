// Bundles vmprof-record's fast path (dist/src/fast.js and what it imports statically) into one
// CommonJS file, dist/src/fast.cjs, that bin/run.cjs loads with require(). Why: Node starts an ES
// module graph slowly (each node: builtin imported from ESM gets a facade that reads every export,
// which loads fs streams; each CommonJS file imported from ESM is lexed for its exports; each
// specifier goes through the ESM resolver), and every millisecond before the program starts is the
// recorder's own cost. What the fast path imports only when it needs it (oclif, the HTTP client,
// source maps, the format's reader, attach) stays outside, loaded by import() as before.
import { build } from "esbuild";

const LAZY = new Set(["@oclif/core", "@vmprof/client", "@vmprof/sourcemap", "@vmprof/format", "./attach.js"]);

await build({
  entryPoints: ["dist/src/fast.js"],
  outfile: "dist/src/fast.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  logLevel: "warning",
  // import.meta.url of the bundled modules is the bundle's own.
  banner: { js: 'const __bundle_url = require("node:url").pathToFileURL(__filename).href;' },
  define: { "import.meta.url": "__bundle_url" },
  plugins: [
    {
      name: "lazy",
      setup(b) {
        b.onResolve({ filter: /.*/ }, (args) => (LAZY.has(args.path) ? { path: args.path, external: true } : undefined));
      },
    },
  ],
});
