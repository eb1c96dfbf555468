/**
 * resolveSources: where each function and frame of a profile was written, by the source maps of the
 * scripts it ran. It fills `source` on functions (name from the map's `names` at the function's start,
 * file, line, column) and on frames (the position the frame executed), keeping the generated fields
 * as they are, so that writers store both (SPEC.md FUNCTION_SOURCE, FRAME_SOURCES) and `applySources`
 * shows the source. Problems with maps are warnings, one per map and problem; nothing throws.
 *
 * Bases: the model's lines and columns are 1-based; trace-mapping's decoded segments are 0-based in
 * both, so a frame at (line L, column C) is looked up at (L - 1, C - 1).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodedMappings } from "@jridgewell/trace-mapping";
import { FunctionKind, generatedFunction, generatedPosition, metaValue, type FrameInfo, type FunctionInfo, type Profile, type SourceFunction, type SourcePosition } from "@vmprof/format";
import { DEFAULT_MAX_MAP_BYTES, Problem, dataUrlText, parseMap, readMapFile, type LoadedMap } from "./load.js";
import { MapDirs, declaredLocation, localPath, readScript, sourceMappingUrlOf, type MapLocation } from "./locate.js";

/** Options of resolveSources. */
export interface ResolveOptions {
  /** Directories to look for maps in when a script's own are not found (`--source-maps DIR`). */
  dirs?: readonly string[];
  /** Where relative script names resolve from; default: the profile's `cwd` metadata, else process.cwd(). */
  cwd?: string;
  /** The project: sources outside it (and outside `dirs`) are warned about; default: `cwd`. */
  root?: string;
  /** Maps (and scripts read for their comment) larger than this are not read; bytes. */
  maxMapBytes?: number;
  /** Directories whose scripts are never mapped (the recorder's own preload). */
  ignore?: readonly string[];
  /** Parsed maps and warnings already given, shared between calls (the processes of one recording). */
  cache?: SourceMapCache;
}

/** What resolveSources found. */
export interface ResolveResult {
  /** The profile with `source` filled where a map covers it (generated fields unchanged, not applied). */
  profile: Profile;
  /** One line each: the map and what was wrong with it. */
  warnings: string[];
  /** Functions and frames that got a source by this call. */
  functions: number;
  frames: number;
}

/** Per-source facts of one map, computed once. */
interface SourceFacts {
  file: string;
  outside: boolean;
  missing: boolean;
}

/** A map that could not be used: its label for the warning, and why. */
interface Failure {
  label: string;
  what: string;
}

interface MapState {
  loaded: LoadedMap;
  facts: (SourceFacts | undefined)[];
  outside: Set<string>;
  missing: Set<string>;
  /** The nearest directory with a package.json above the map: its sources may live anywhere in it (tsc's outDir maps point to ../src). */
  packageRoot?: string;
  /** The map is inside node_modules. */
  dependency: boolean;
}

/** Parsed maps by location, and the warnings already given. Reuse one across the profiles of one recording. */
export class SourceMapCache {
  readonly maps = new Map<string, MapState | Failure>();
  readonly warned = new Set<string>();
}

/** Fills `source` on the functions and frames of `p` that a source map covers. Never throws for bad maps. */
export function resolveSources(p: Profile, o: ResolveOptions = {}): ResolveResult {
  const cache = o.cache ?? new SourceMapCache();
  const warnings: string[] = [];
  const warn = (label: string, what: string) => {
    const line = `${label}: ${what}`;
    if (cache.warned.has(line)) return;
    cache.warned.add(line);
    warnings.push(line);
  };
  const metaCwd = metaValue(p, "cwd");
  const cwd = o.cwd ?? (typeof metaCwd === "string" && metaCwd !== "" ? metaCwd : process.cwd());
  const roots = [path.resolve(o.root ?? cwd), ...(o.dirs ?? []).map((d) => path.resolve(d))];
  const maxBytes = o.maxMapBytes ?? DEFAULT_MAX_MAP_BYTES;
  const dirs = o.dirs && o.dirs.length > 0 ? new MapDirs(o.dirs) : undefined;
  const declaredByScript = new Map(p.scripts.map((s) => [s.file, s.sourceMapUrl]));
  const touched = new Set<MapState>();

  const load = (loc: MapLocation, scriptPath: string | undefined, script: string): MapState | Failure => {
    const key = loc.kind === "file" ? loc.path : `${script}\0${loc.url}`;
    let state = cache.maps.get(key);
    if (state) return state;
    const label = loc.kind === "file" ? `${loc.path} (the source map of ${script})` : `the inline source map of ${script}`;
    const text = loc.kind === "file" ? readMapFile(loc.path, maxBytes) : dataUrlText(loc.url);
    const parsed = text instanceof Problem ? text : parseMap(text, loc.kind === "file" ? loc.path : label, loc.kind === "file" ? loc.path : (scriptPath ?? ""), maxBytes);
    const mapDir = path.dirname(loc.kind === "file" ? loc.path : (scriptPath ?? cwd));
    state = parsed instanceof Problem
      ? { label, what: parsed.message }
      : { loaded: parsed, facts: [], outside: new Set(), missing: new Set(), packageRoot: packageRootOf(mapDir), dependency: mapDir.split(path.sep).includes("node_modules") };
    cache.maps.set(key, state);
    return state;
  };

  /** The map of a script, or undefined (warned when the script declared one that cannot be used). */
  const mapOfScript = new Map<string, MapState | undefined>();
  const ignored = (o.ignore ?? []).map((d) => path.resolve(d));
  const mapFor = (script: string): MapState | undefined => {
    if (mapOfScript.has(script)) return mapOfScript.get(script);
    const scriptPath = localPath(script, cwd);
    if (scriptPath !== undefined && ignored.some((d) => within(scriptPath, d))) {
      mapOfScript.set(script, undefined);
      return undefined;
    }
    const candidates: MapLocation[] = [];
    const failures: Failure[] = [];
    const declare = (url: string) => {
      const loc = declaredLocation(url, scriptPath);
      if ("problem" in loc) failures.push({ label: script, what: `its source map is ${loc.problem}` });
      else candidates.push(loc);
    };
    const recorded = declaredByScript.get(script);
    if (recorded !== undefined) declare(recorded);
    else if (scriptPath !== undefined) {
      const text = readScript(scriptPath, maxBytes);
      const url = text !== undefined ? sourceMappingUrlOf(text) : undefined;
      if (url !== undefined) declare(url);
    }
    const sibling = scriptPath !== undefined ? `${scriptPath}.map` : undefined;
    if (sibling !== undefined && !candidates.some((c) => c.kind === "file" && c.path === sibling)) candidates.push({ kind: "file", path: sibling, declared: false });
    if (dirs) {
      const base = path.basename(scriptPath ?? script.replace(/[?#].*$/, ""));
      for (const f of dirs.find(base)) candidates.push({ kind: "file", path: f, declared: false });
    }
    let found: MapState | undefined;
    for (const loc of candidates) {
      // An undeclared map that does not exist is the common case of a script without a map: no warning.
      if (loc.kind === "file" && !loc.declared && !fs.existsSync(loc.path)) continue;
      const state = load(loc, scriptPath, script);
      if (!("what" in state)) {
        found = state;
        break;
      }
      failures.push(state);
    }
    // A dependency's missing or broken map is not the user's to fix: its scripts just stay generated.
    const dependency = scriptPath !== undefined && scriptPath.split(path.sep).includes("node_modules");
    if (!found && !dependency) for (const f of failures) warn(f.label, `${f.what}; generated positions kept`);
    mapOfScript.set(script, found);
    return found;
  };

  const factsOf = (st: MapState, index: number): SourceFacts => {
    let f = st.facts[index];
    if (f) return f;
    const m = st.loaded.map;
    const resolved = m.resolvedSources[index] ?? "";
    const raw = m.sources[index] ?? "";
    let file = raw ?? resolved;
    let local: string | undefined;
    if (resolved.startsWith("file:")) {
      try {
        local = fileURLToPath(resolved);
      } catch {
        local = undefined;
      }
    } else if (path.isAbsolute(resolved)) local = path.normalize(resolved);
    let outside = false;
    let missing = false;
    if (local !== undefined) {
      file = local;
      outside = !roots.some((r) => within(local!, r)) && !(st.packageRoot !== undefined && within(local, st.packageRoot));
      missing = !fs.existsSync(local) && !(typeof m.sourcesContent?.[index] === "string");
    }
    f = { file, outside, missing };
    st.facts[index] = f;
    if (outside) st.outside.add(file);
    if (missing) st.missing.add(file);
    return f;
  };

  /**
   * The segment covering 0-based (line, column): the last at or before the column, else (`orFirst`)
   * the line's first. A function's start takes no such fallback: a script's top level (line 1,
   * column 1) would otherwise take its first module's place.
   */
  const segmentAt = (st: MapState, line: number, column: number, orFirst: boolean): readonly number[] | undefined => {
    const lines = decodedMappings(st.loaded.map);
    const segs = lines[line];
    if (!segs || segs.length === 0) return undefined;
    let lo = 0;
    let hi = segs.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (segs[mid][0] <= column) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0 && !orFirst) return undefined;
    const seg = segs[best < 0 ? 0 : best];
    return seg.length >= 4 ? seg : undefined;
  };

  /**
   * The original name of a function from the map's `names`: V8's start of a function is its
   * parameter list (`(` or an arrow's parameter), so its name is the identifier just before it: the
   * last segment strictly before the start, when it carries a name. Anonymous functions (V8 gave no
   * name, not even an inferred one) get none, so a callback never takes its caller's name.
   */
  const nameBefore = (st: MapState, line: number, column: number): string => {
    const segs = decodedMappings(st.loaded.map)[line];
    if (!segs) return "";
    let best: readonly number[] | undefined;
    for (let lo = 0, hi = segs.length - 1; lo <= hi; ) {
      const mid = (lo + hi) >> 1;
      if (segs[mid][0] < column) {
        best = segs[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best && best.length === 5 ? (st.loaded.map.names[best[4]] ?? "") : "";
  };

  let nFunctions = 0;
  let nFrames = 0;
  const functions = p.functions.map((f): FunctionInfo => {
    const gen = generatedFunction(f);
    const { generated: _g, ...rest } = f;
    const base: FunctionInfo = { ...rest, name: gen.name, file: gen.file, line: gen.line, column: gen.column };
    if (f.kind !== FunctionKind.JS || gen.file === "" || gen.file.startsWith("node:") || gen.line === 0) return base;
    const st = mapFor(gen.file);
    if (!st) return base;
    let seg = segmentAt(st, gen.line - 1, Math.max(0, gen.column - 1), false);
    // A script's top level whose map has a single source (tsc's output of one module) is that source's.
    if (!seg && gen.name === "" && gen.line === 1 && gen.column <= 1 && st.loaded.map.sources.length === 1) seg = [0, 0, 0, 0];
    if (!seg) return base;
    touched.add(st);
    const facts = factsOf(st, seg[1]);
    const name = gen.name !== "" ? nameBefore(st, gen.line - 1, gen.column - 1) : "";
    const source: SourceFunction = { name, file: facts.file, line: seg[2] + 1, column: seg[3] + 1 };
    nFunctions++;
    return { ...base, source };
  });
  const frames = p.frames.map((fr): FrameInfo => {
    const gen = generatedPosition(fr);
    const { generated: _g, file: _f, ...rest } = fr;
    const base: FrameInfo = { ...rest, line: gen.line, column: gen.column };
    const fn = functions[fr.function - 1];
    if (fn.kind !== FunctionKind.JS || gen.line === 0 || fn.file === "" || fn.file.startsWith("node:")) return base;
    const st = mapFor(fn.file);
    if (!st) return base;
    const seg = segmentAt(st, gen.line - 1, Math.max(0, gen.column - 1), true);
    if (!seg) return base;
    touched.add(st);
    const facts = factsOf(st, seg[1]);
    const source: SourcePosition = { file: fn.source && fn.source.file === facts.file ? "" : facts.file, line: seg[2] + 1, column: seg[3] + 1 };
    nFrames++;
    return { ...base, source };
  });
  for (const st of touched) {
    // A dependency's map is used as it is: its missing or far-away sources are not the user's to fix.
    if (st.dependency) continue;
    if (st.outside.size > 0) warn(st.loaded.label, `${count(st.outside.size, "source")} outside ${roots[0]} (${example(st.outside)}); used as they are`);
    if (st.missing.size > 0) warn(st.loaded.label, `${count(st.missing.size, "source")} not found and not in its sourcesContent (${example(st.missing)})`);
  }
  const profile: Profile = { ...p, functions, frames, sourcesApplied: false };
  return { profile, warnings, functions: nFunctions, frames: nFrames };
}

/** True when `file` is `dir` or inside it. */
function within(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

/** The nearest directory at or above `dir` holding a package.json, or undefined. */
function packageRootOf(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "package.json"))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
const example = (s: Set<string>) => {
  const first = s.values().next().value as string;
  return s.size === 1 ? first : `e.g. ${first}`;
};
