/**
 * Collapsed (folded) stacks for flamegraph.pl, inferno and speedscope: one line per distinct path,
 * "root;...;leaf COUNT", sorted, COUNT in samples or whole µs of the chosen weight. A frame is
 * "name (file:line:column)" when its file is known. Names are made safe: ";" becomes ":", line breaks
 * become spaces, and a frame never ends in " <digits>" (which flamegraph.pl would read as a count).
 */
import { aggregate, defaultWeight, forEachPath, functionInfo, functionLabel, functionLocation, type Profile, type FunctionInfo } from "@vmprof/format";
import type { ExportOptions } from "../select.js";

/** A function as one folded frame (see the module comment). */
export function foldedFrame(f: FunctionInfo): string {
  const name = functionLabel(f).replace(/;/g, ":").replace(/[\r\n]+/g, " ").trim() || "(anonymous)";
  const where = functionLocation(f).replace(/;/g, ":").replace(/[\r\n()]+/g, "_");
  if (where !== "") return `${name} (${where})`;
  return name.replace(/ (\d+)$/, "_$1");
}

/** Yields the collapsed stacks of `p`. */
export function* toCollapsed(p: Profile, o: ExportOptions = {}): Generator<string> {
  const agg = aggregate(p, { weight: o.weight ?? defaultWeight(p), selection: o.selection, filter: o.filter });
  const names = new Map<number, string>();
  const sums = new Map<string, number>();
  forEachPath(agg, (path, w) => {
    const len = path.length;
    if (len === 0 || w === 0) return;
    const parts: string[] = [];
    for (let k = 0; k < len; k++) {
      let n = names.get(path[k]);
      if (n === undefined) names.set(path[k], (n = foldedFrame(functionInfo(p, path[k]))));
      parts.push(n);
    }
    const line = parts.join(";");
    sums.set(line, (sums.get(line) ?? 0) + w);
  });
  const lines = [...sums].filter(([, w]) => Math.round(w) > 0).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let k = 0; k < lines.length; k += 4096) {
    yield lines
      .slice(k, k + 4096)
      .map(([l, w]) => `${l} ${Math.round(w)}\n`)
      .join("");
  }
}
