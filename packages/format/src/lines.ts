/**
 * Lines as the unit of a query. A line profile is the profile seen with one "function" per line a
 * function ran at (function, file of the position, line), so every table of tables.ts (top, flat,
 * tree, callers) counts lines with the same path rule and the same once-per-sample counting as it
 * counts functions: a line's total is the weight of samples with its function on the stack at that
 * line (once per sample, recursion included), its self the weight of samples ending there.
 */
import type { Aggregate } from "./aggregate.js";
import { functionIdLimit, stateFunctionId } from "./functions.js";
import type { FrameInfo, FunctionInfo, Profile } from "./model.js";
import { SamplePaths } from "./paths.js";

/** True when at least one frame of `p` has a known line (format 1.1 and later, or an importer that gives lines). */
export function hasLinePositions(p: Profile): boolean {
  return p.frames.some((fr) => fr.line > 0);
}

/** The profile with lines as functions, and the way back to the functions of the original. */
export interface LineProfile {
  /**
   * A profile whose function `u` is a line unit: name, kind and id space of a function, `file` the
   * file of the position (the function's, or the frame's own `file`), `line` the 1-based line it ran
   * at, column 0. The frames of a function whose line is unknown (0) make one unit that is the
   * function as defined (its own file, line and column). Frames, stacks and samples keep their ids
   * (stacks and samples are shared, not copied); each frame points at its unit.
   */
  profile: Profile;
  /** Index: a function id of `profile` (units, then VM states); value: the function id in the original profile. */
  origin: Uint32Array;
  /** Index: a unit id; value: the 1-based line the unit ran at, 0 when unknown (the function-as-defined unit, VM states). */
  line: Uint32Array;
}

/** Builds the line profile of `p` (one pass over its frames). */
export function lineProfile(p: Profile): LineProfile {
  const units: FunctionInfo[] = [];
  const from: number[] = [0];
  const byKey = new Map<string, number>();
  const frames = p.frames.map((fr): FrameInfo => {
    const f = p.functions[fr.function - 1];
    const file = fr.line > 0 ? (fr.file ?? f.file) : f.file;
    const key = `${fr.function}\0${fr.line > 0 ? file : ""}\0${fr.line}`;
    let unit = byKey.get(key);
    if (unit === undefined) {
      unit = units.length + 1;
      byKey.set(key, unit);
      units.push(
        fr.line > 0
          ? { id: unit, kind: f.kind, name: f.name, file, line: fr.line, column: 0 }
          : { id: unit, kind: f.kind, name: f.name, file: f.file, line: f.line, column: f.column },
      );
      from.push(fr.function);
    }
    return { ...fr, function: unit };
  });
  const profile: Profile = { ...p, functions: units, frames };
  const origin = new Uint32Array(functionIdLimit(profile));
  origin.set(from);
  for (let id = units.length + 1; id < origin.length; id++) origin[id] = stateFunctionId(p, id - units.length - 1);
  const line = new Uint32Array(origin.length);
  for (const fr of p.frames) line[frames[fr.id - 1].function] = fr.line;
  return { profile, origin, line };
}

/**
 * The same selected samples as `agg` (same entries, weights and counts: focus and ignore were decided
 * on the original functions) with their paths over the line profile; a unit is hidden when its
 * original function is.
 */
export function lineAggregate(agg: Aggregate, lp: LineProfile): Aggregate {
  const was = agg.paths.hidden;
  let hidden: Uint8Array | undefined;
  if (was) {
    hidden = new Uint8Array(lp.origin.length);
    for (let u = 1; u < hidden.length; u++) hidden[u] = was[lp.origin[u]];
  }
  return { ...agg, paths: new SamplePaths(lp.profile, hidden) };
}
