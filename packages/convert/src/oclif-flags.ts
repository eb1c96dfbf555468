/**
 * oclif flags built from FlagSpecs, for the commands (vmprof-convert, vmprof-report, vmprof-record). A separate entry
 * point ("vmprof-convert/oclif-flags"), so the library and vmprof-report's fast path never load oclif.
 */
import { Flags, type Interfaces } from "@oclif/core";
import type { FlagSpec } from "./flags.js";

/** oclif flags for specs (repeatable flags take one value per occurrence, so they never swallow the file argument). */
export function oclifFlags(specs: Record<string, FlagSpec>): Interfaces.FlagInput {
  const out: Interfaces.FlagInput = {};
  for (const [name, s] of Object.entries(specs)) {
    const common = { summary: s.summary, exclusive: s.exclusive, helpValue: s.helpValue, ...(s.char ? { char: s.char as Interfaces.AlphabetLowercase } : {}) };
    if (s.type === "boolean") out[name] = Flags.boolean({ ...common, allowNo: s.allowNo === true, ...(typeof s.default === "boolean" ? { default: s.default } : {}) });
    else if (s.type === "integer")
      out[name] = s.multiple
        ? Flags.integer({ ...common, min: s.min, max: s.max, multiple: true, multipleNonGreedy: true })
        : Flags.integer({ ...common, min: s.min, max: s.max, ...(typeof s.default === "number" ? { default: s.default } : {}) });
    else
      out[name] = s.multiple
        ? Flags.string({ ...common, multiple: true, multipleNonGreedy: true })
        : Flags.string({ ...common, options: s.options, ...(typeof s.default === "string" ? { default: s.default } : {}) });
  }
  return out;
}
