/**
 * A large bundle for the map tests and the bench: an esbuild bundle, minified, of `modules` generated
 * TypeScript modules of 20 functions each (1,150 modules give a map of about 10 MB), and a profile
 * with one function per minified function and one frame at its Math.sqrt.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildSync } from "esbuild";
import { FunctionKind, ProfileBuilder, Tier, type Profile } from "@vmprof/format";

/** Builds the bundle in a new temporary directory; returns the profile and the map's size in bytes. */
export function bigBundle(modules: number): { dir: string; profile: Profile; mapBytes: number } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "vmprof-bigmap-")));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, "src"));
  const N = modules;
  const imports: string[] = [];
  for (let m = 0; m < N; m++) {
    const body: string[] = [];
    for (let f = 0; f < 20; f++) {
      body.push(`export function work_${m}_${f}(input: number[], factor: number): number {\n  let total = 0;\n  for (const value of input) {\n    total += Math.sqrt(value * factor + ${f}) / (value + ${m + 1});\n  }\n  return total > ${m} ? total - ${f} : total + ${m};\n}\n`);
    }
    fs.writeFileSync(path.join(dir, "src", `m${m}.ts`), body.join("\n"));
    imports.push(`import * as m${m} from "./m${m}.js";`);
  }
  fs.writeFileSync(path.join(dir, "src/main.ts"), `${imports.join("\n")}\nexport const all = [${Array.from({ length: N }, (_, m) => `m${m}`).join(",")}];\n`);
  const out = path.join(dir, "dist/app.js");
  buildSync({ entryPoints: [path.join(dir, "src/main.ts")], bundle: true, minify: true, sourcemap: true, sourcesContent: true, platform: "node", outfile: out, logLevel: "silent" });
  const mapBytes = fs.statSync(`${out}.map`).size;
  // One function per minified `function x(a,b){` and a frame at its Math.sqrt.
  const text = fs.readFileSync(out, "utf8");
  const b = new ProfileBuilder();
  b.meta({ cwd: dir });
  const t = b.addThread({ process: b.addProcess({ pid: 1 }), tid: 1 });
  const lineStarts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lineStarts.push(i + 1);
  const pos = (at: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= at) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: at - lineStarts[lo] + 1 };
  };
  let n = 0;
  for (const m of text.matchAll(/function (\w+)(\(\w+,\w+\))\{/g)) {
    const start = pos(m.index! + 9 + m[1].length);
    const at = pos(text.indexOf("Math.sqrt", m.index!));
    const id = b.addFunction({ kind: FunctionKind.JS, name: m[1], file: out, line: start.line, column: start.column });
    b.sample(t, ++n, 1, 1, 0, b.child(0, b.frame(id, Tier.OPTIMIZED, at.line, at.column)));
  }
  return { dir, profile: b.finish(), mapBytes };
}
