/**
 * Collapsed (folded) stacks for flamegraph.pl, inferno and speedscope: one line per distinct path,
 * "root;...;leaf COUNT", sorted, COUNT in samples or whole µs of the chosen weight. A frame is
 * "name (file:line:column)" (the function and where it starts) when its file is known. With `lines`,
 * a frame whose line is known is "name FILE:LINE" instead: the file and 1-based line it was executing,
 * FILE with "%", " ", ";", CR and LF written as %25, %20, %3B, %0D and %0A, so one frame is one
 * function at one line. Names are made safe: ";" becomes ":", line breaks become spaces, and a frame
 * never ends in " <digits>" (which flamegraph.pl would read as a count).
 */
import { aggregate, defaultWeight, functionInfo, functionLabel, functionLocation, type Profile, type FunctionInfo } from "@vmprof/format";
import type { ExportOptions } from "../select.js";
import { PathFrames } from "./frames.js";

/** Options of toCollapsed beyond the common ones. */
export interface CollapsedOptions extends ExportOptions {
  /** Write each frame of known line as "name FILE:LINE" (see the module comment). */
  lines?: boolean;
}

const safeName = (f: FunctionInfo) => functionLabel(f).replace(/;/g, ":").replace(/[\r\n]+/g, " ").trim() || "(anonymous)";

/** A function as one folded frame (see the module comment). */
export function foldedFrame(f: FunctionInfo): string {
  const name = safeName(f);
  const where = functionLocation(f).replace(/;/g, ":").replace(/[\r\n()]+/g, "_");
  if (where !== "") return `${name} (${where})`;
  return name.replace(/ (\d+)$/, "_$1");
}

/** A function executing `line` (1-based) of `file` as one folded frame: "name FILE:LINE" (see the module comment). */
export function foldedLineFrame(f: FunctionInfo, file: string, line: number): string {
  return `${safeName(f)} ${file.replace(/[% ;\r\n]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`)}:${line}`;
}

/** Yields the collapsed stacks of `p`. */
export function* toCollapsed(p: Profile, o: CollapsedOptions = {}): Generator<string> {
  const agg = aggregate(p, { weight: o.weight ?? defaultWeight(p), selection: o.selection, filter: o.filter });
  const frames = o.lines ? new PathFrames(agg.paths) : undefined;
  const names = new Map<string, string>();
  const sums = new Map<string, number>();
  for (let e = 0; e < agg.stacks.length; e++) {
    const w = agg.weights[e];
    const path = agg.paths.functions(agg.stacks[e], agg.states[e]);
    const frs = frames?.get(agg.stacks[e], agg.states[e]);
    const len = path.length;
    if (len === 0 || w === 0) continue;
    const parts: string[] = [];
    for (let k = 0; k < len; k++) {
      const fr = frs !== undefined && frs[k] !== 0 ? p.frames[frs[k] - 1] : undefined;
      const f = functionInfo(p, path[k]);
      const file = fr?.file ?? f.file;
      const lined = fr !== undefined && fr.line > 0 && file !== "";
      const key = lined ? `${path[k]}:${fr.line}:${fr.file ?? ""}` : String(path[k]);
      let n = names.get(key);
      if (n === undefined) names.set(key, (n = lined ? foldedLineFrame(f, file, fr.line) : foldedFrame(f)));
      parts.push(n);
    }
    const line = parts.join(";");
    sums.set(line, (sums.get(line) ?? 0) + w);
  }
  const lines = [...sums].filter(([, w]) => Math.round(w) > 0).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let k = 0; k < lines.length; k += 4096) {
    yield lines
      .slice(k, k + 4096)
      .map(([l, w]) => `${l} ${Math.round(w)}\n`)
      .join("");
  }
}
