/**
 * Reading one source map: from a file or a data: URL, checked (size, JSON, version, mappings) before
 * anything is mapped with it, and parsed by @jridgewell/trace-mapping. A map that fails any check is
 * a Problem (one line for a warning), never an exception.
 */
import fs from "node:fs";
import { FlattenMap, decodedMappings, type TraceMap } from "@jridgewell/trace-mapping";

/** Maps larger than this are not read (a warning says so). Bytes. */
export const DEFAULT_MAX_MAP_BYTES = 128 * 1024 * 1024;

/** A map ready for lookups. */
export interface LoadedMap {
  /** Names the map in warnings: its path, or "the inline map of <script>". */
  label: string;
  /** Where relative sources resolve from: the map's path, or its script's for an inline map; "" none. */
  base: string;
  map: TraceMap;
}

/** Why a map could not be used, for a warning. */
export class Problem {
  constructor(readonly message: string) {}
}

/** The JSON text of a `data:` URL (base64 or URL-encoded), or a Problem. */
export function dataUrlText(url: string): string | Problem {
  const comma = url.indexOf(",");
  if (comma < 0) return new Problem("a data: URL without a comma");
  const head = url.slice(5, comma);
  const body = url.slice(comma + 1);
  if (/;base64$/i.test(head)) return Buffer.from(body, "base64").toString("utf8");
  try {
    return decodeURIComponent(body);
  } catch {
    return new Problem("a data: URL that is not valid URL-encoding");
  }
}

/** The text of a map file, or a Problem (missing, unreadable, over `maxBytes`). */
export function readMapFile(file: string, maxBytes: number): string | Problem {
  let size: number;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return new Problem("not a file");
    size = st.size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return new Problem(code === "ENOENT" ? "not found" : `cannot read it (${code ?? (e as Error).message})`);
  }
  if (size > maxBytes) return new Problem(`${mib(size)}, over the limit of ${mib(maxBytes)}: not read`);
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    return new Problem(`cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;

/** Base64 VLQ, commas and semicolons: anything else in `mappings` is a broken map. */
const MAPPINGS_CHARS = /^[A-Za-z0-9+/,;]*$/;

/**
 * Parses and checks a map's text. `base` is where its relative sources resolve from (an absolute
 * path or URL; "" none). Indexed (sectioned) maps are flattened. Checks every decoded segment, so a
 * map whose mappings point at sources or names it does not have is refused rather than half-used.
 */
export function parseMap(text: string, label: string, base: string, maxBytes: number): LoadedMap | Problem {
  if (text.length > maxBytes) return new Problem(`${mib(text.length)}, over the limit of ${mib(maxBytes)}: not read`);
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text.replace(/^\)\]\}'[^\n]*\n/, ""));
  } catch (e) {
    return new Problem(`not valid JSON (${(e as Error).message})`);
  }
  const why = shapeProblem(json);
  if (why) return new Problem(why);
  let map: TraceMap;
  try {
    map = new FlattenMap(json as never, base || null);
    const lines = decodedMappings(map);
    const nSources = map.sources.length;
    const nNames = map.names.length;
    for (let l = 0; l < lines.length; l++) {
      for (const seg of lines[l]) {
        const bad =
          (seg.length !== 1 && seg.length !== 4 && seg.length !== 5) ||
          !(seg[0] >= 0) ||
          (seg.length >= 4 && (!(seg[1]! >= 0 && seg[1]! < nSources) || !(seg[2]! >= 0) || !(seg[3]! >= 0))) ||
          (seg.length === 5 && !(seg[4]! >= 0 && seg[4]! < nNames));
        if (bad) return new Problem(`bad mappings (generated line ${l + 1}: segment [${seg.join(",")}] with ${nSources} sources and ${nNames} names)`);
      }
    }
  } catch (e) {
    return new Problem(`bad mappings (${(e as Error).message})`);
  }
  return { label, base, map };
}

/** What is wrong with a parsed value as a version-3 map (plain or indexed), or undefined. */
function shapeProblem(json: unknown): string | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "not a source map (not a JSON object)";
  const m = json as Record<string, unknown>;
  if (m.version !== 3) return `not a version 3 source map (version ${JSON.stringify(m.version)})`;
  if (Array.isArray(m.sections)) {
    for (const s of m.sections) {
      const sec = s as { map?: unknown; url?: unknown } | null;
      if (!sec || typeof sec !== "object") return "bad sections (not objects)";
      if (sec.url !== undefined && sec.map === undefined) return "sections by url are not supported";
      const inner = shapeProblem(sec.map);
      if (inner) return `bad section (${inner})`;
    }
    return undefined;
  }
  if (typeof m.mappings !== "string") return "bad mappings (not a string)";
  if (!MAPPINGS_CHARS.test(m.mappings)) return "bad mappings (characters that are not base64 VLQ)";
  if (!Array.isArray(m.sources)) return "no sources list";
  if (m.names !== undefined && !Array.isArray(m.names)) return "bad names (not a list)";
  return undefined;
}
