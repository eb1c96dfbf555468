/**
 * Reads one file in a fresh process, as a command would, and prints the milliseconds it took:
 *   node read-one.js vmprof FILE | node read-one.js cpuprofile FILE
 */
import { readFileSync } from "node:fs";
import { readProfileSync } from "@vmprof/format";

const [kind, file] = process.argv.slice(2);
const t = performance.now();
const count = kind === "vmprof" ? readProfileSync(file).samples.count : JSON.parse(readFileSync(file, "utf8")).samples.length;
console.log(JSON.stringify({ ms: performance.now() - t, count }));
