/**
 * Function ids as views see them: the profile's functions, then one pseudo-function per VM state
 * ("(garbage collector)", "(idle)"...) so that a sample taken outside JS has a leaf to count. Their
 * ids follow the real functions: `stateFunctionId(profile, state)`.
 */
import { FUNCTION_KIND_NAMES, FunctionKind, VM_STATE_NAMES } from "./constants.js";
import type { FunctionInfo, Profile } from "./model.js";
import { functionLabel } from "./model.js";

/** Labels of the VM-state pseudo-functions, indexed by VmState. */
export const STATE_LABELS = ["(unknown)", "(garbage collector)", "(compiler)", "(parser)", "(native)", "(idle)", "(other)"] as const;

/** The pseudo-function id standing for a VM state. */
export function stateFunctionId(p: Profile, state: number): number {
  return p.functions.length + 1 + state;
}

/** Number of function ids including the state pseudo-functions; arrays indexed by id have this length. */
export function functionIdLimit(p: Profile): number {
  return p.functions.length + 1 + VM_STATE_NAMES.length;
}

/** True for the VM-state pseudo-function ids. */
export function isStateFunction(p: Profile, id: number): boolean {
  return id > p.functions.length;
}

/** Describes any function id, real or pseudo. */
export function functionInfo(p: Profile, id: number): FunctionInfo {
  if (id >= 1 && id <= p.functions.length) return p.functions[id - 1];
  const state = id - p.functions.length - 1;
  return { id, kind: FunctionKind.OTHER, name: STATE_LABELS[state] ?? "(?)", file: "", line: 0, column: 0 };
}

/** What kind of function an id is, by name: "js", "native", "builtin", "other", or "state" for a VM state. */
export type FunctionKindName = (typeof FUNCTION_KIND_NAMES)[number] | "state";

/** The kind name of any function id ("other" for 0, the root). */
export function functionKindName(p: Profile, id: number): FunctionKindName {
  if (id === 0) return "other";
  if (isStateFunction(p, id)) return "state";
  return FUNCTION_KIND_NAMES[functionInfo(p, id).kind] ?? "other";
}

/**
 * A function's identity across profiles: kind, name, file, line and column (ids differ between
 * profiles). Two functions with the same key are the same function.
 */
export function functionKey(f: { kind?: number; name: string; file?: string; line?: number; column?: number }): string {
  return `${f.kind ?? 0}\0${f.name}\0${f.file ?? ""}\0${f.line ?? 0}\0${f.column ?? 0}`;
}

/**
 * Function ids whose name matches: a RegExp is tested against the name and against
 * "name file:line"; a string must equal the name or "name file:line".
 */
export function findFunctions(p: Profile, pattern: string | RegExp): number[] {
  const out: number[] = [];
  for (let id = 1; id < functionIdLimit(p); id++) {
    const f = functionInfo(p, id);
    const name = functionLabel(f);
    const long = f.file ? `${name} ${f.file}:${f.line}` : name;
    const hit = typeof pattern === "string" ? pattern === name || pattern === long : pattern.test(name) || pattern.test(long);
    if (hit) out.push(id);
  }
  return out;
}

/** Marks (index: function id) the functions, real or pseudo, that `pattern` matches. */
export function matchFunctions(p: Profile, pattern: RegExp): Uint8Array {
  const mask = new Uint8Array(functionIdLimit(p));
  for (const id of findFunctions(p, pattern)) mask[id] = 1;
  return mask;
}
