/**
 * parseFlagsFast, the commands' fast path, against oclif's own parser on the same specs: on every
 * command line it takes, it must read what oclif reads; on the ones oclif refuses, it must hand over
 * (undefined), so that oclif prints the error.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Parser } from "@oclif/core";
import { parseFlagsFast, type FlagSpec } from "../src/flags.js";
import { oclifFlags } from "../src/oclif-flags.js";

/** Specs of every kind the commands use. */
const SPECS: Record<string, FlagSpec> = {
  output: { type: "string", char: "o", summary: "output" },
  to: { type: "string", summary: "format", options: ["pprof", "speedscope"] },
  mode: { type: "string", summary: "mode", options: ["cpu", "wall"], default: "cpu" },
  period: { type: "string", summary: "period", exclusive: ["rate"] },
  rate: { type: "string", summary: "rate" },
  depth: { type: "integer", summary: "depth", min: 1, max: 1024, default: 256 },
  pid: { type: "integer", summary: "pids", multiple: true },
  label: { type: "string", summary: "labels", multiple: true },
  lines: { type: "boolean", summary: "lines", allowNo: true, default: true },
  internals: { type: "boolean", summary: "internals", allowNo: true },
  top: { type: "boolean", summary: "top" },
};

/** What oclif reads: its flags (undefined ones left out) and positionals, or "refused". */
async function viaOclif(argv: string[]): Promise<{ flags: Record<string, unknown>; positionals: string[] } | "refused"> {
  try {
    const r = await Parser.parse(argv, { flags: oclifFlags(SPECS), strict: false, args: {} });
    const flags = Object.fromEntries(Object.entries(r.flags).filter(([, v]) => v !== undefined));
    return { flags, positionals: r.argv as string[] };
  } catch {
    return "refused";
  }
}

const TAKEN: string[][] = [
  [],
  ["in.prof"],
  ["-"],
  ["-o", "out.pb.gz", "in.prof"],
  ["-oout.pb.gz", "in.prof"],
  ["-o", "-", "in.prof"],
  ["--output=x.prof", "--to", "pprof", "a.prof", "b.prof"],
  ["--to=speedscope", "--mode", "wall", "--depth", "12"],
  ["--period", "0.001", "--no-lines", "--internals", "x"],
  ["--pid", "3", "--pid", "4", "--label", "a=b", "--label=c=d", "in.prof"],
  ["--top", "--lines", "in.prof"],
  ["--", "-o", "x"],
  ["in.prof", "--", "--top"],
  ["--label", "k=-v", "--output=-x"],
];

const REFUSED: string[][] = [
  ["--nope"],
  ["-x"],
  ["--to", "svgz"],
  ["--depth", "0"],
  ["--depth", "1025"],
  ["--depth", "1.5"],
  ["--period", "1", "--rate", "2"],
  ["--output"],
];

test("parseFlagsFast reads what oclif reads, defaults included", async () => {
  for (const argv of TAKEN) {
    const fast = parseFlagsFast(SPECS, argv);
    assert.ok(fast, `fast path declined ${JSON.stringify(argv)}`);
    const oclif = await viaOclif(argv);
    assert.notEqual(oclif, "refused", JSON.stringify(argv));
    assert.deepEqual({ flags: fast.flags, positionals: fast.positionals }, oclif, JSON.stringify(argv));
  }
});

test("parseFlagsFast hands every command line oclif refuses over to oclif", async () => {
  for (const argv of REFUSED) {
    assert.equal(await viaOclif(argv), "refused", `oclif takes ${JSON.stringify(argv)}`);
    assert.equal(parseFlagsFast(SPECS, argv), undefined, JSON.stringify(argv));
  }
});

test("parseFlagsFast hands over what it cannot be sure of: a flag given twice, --x with --no-x, a value that looks like a flag, -o=x, a boolean with a value", () => {
  for (const argv of [["--to", "pprof", "--to", "speedscope"], ["--lines", "--no-lines"], ["--no-lines", "--lines"], ["--top", "--top"], ["-o", "--top"], ["-o=x"], ["--top=yes"], ["--help"]]) {
    assert.equal(parseFlagsFast(SPECS, argv), undefined, JSON.stringify(argv));
  }
});
