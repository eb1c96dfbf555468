/**
 * A glance at a profile file without decoding it: the files of its JS functions and its SCRIPT
 * records, read from the record framing (SPEC.md section 3) while every other record (samples,
 * stacks, frames) is skipped by its length. The recorder uses it to tell, at almost no cost, that a
 * profile has nothing a source map could map, and leave the file as it is.
 */
import fs from "node:fs";
import { FunctionKind, HEADER_SIZE, MAGIC, RecordType } from "@vmprof/format";
import { declaredLocation, localPath, sourceMappingUrlOf } from "./locate.js";

/** What the glance found. */
export interface ProfileGlance {
  /** Format version [major, minor] from the header. */
  version: [number, number];
  /** Distinct files of JS functions (node: modules left out). */
  files: Set<string>;
  /** SCRIPT records: the scripts that declared a source map. */
  scripts: number;
  /** The scan stopped early (a cut or unreadable record): decode to know more. */
  incomplete: boolean;
}

/** Glances at an uncompressed profile; undefined when it is not our format. */
export function glanceProfile(bytes: Uint8Array): ProfileGlance | undefined {
  if (bytes.length < HEADER_SIZE || !MAGIC.every((x, i) => bytes[i] === x)) return undefined;
  const out: ProfileGlance = { version: [bytes[8], bytes[9]], files: new Set(), scripts: 0, incomplete: false };
  const dec = new TextDecoder();
  let pos = HEADER_SIZE;
  const uv = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (pos >= bytes.length) throw new RangeError("cut");
      const b = bytes[pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new RangeError("varint");
  };
  try {
    while (pos < bytes.length) {
      const type = bytes[pos++];
      if (type === 0) break;
      const len = uv();
      const end = pos + len;
      if (end > bytes.length) throw new RangeError("cut");
      if (type === RecordType.FUNCTION) {
        const kind = bytes[pos++];
        const nameLen = uv();
        pos += nameLen;
        const fileLen = uv();
        if (pos + fileLen > end) throw new RangeError("record");
        if (kind === FunctionKind.JS && fileLen > 0) {
          const file = dec.decode(bytes.subarray(pos, pos + fileLen));
          if (!file.startsWith("node:")) out.files.add(file);
        }
      } else if (type === RecordType.SCRIPT) out.scripts++;
      else if (type === RecordType.END) break;
      pos = end;
    }
  } catch {
    out.incomplete = true;
  }
  return out;
}

/**
 * Whether any script of the glance may have a source map: a SCRIPT record, a `<file>.map` beside one
 * of its files, or (in 1.0 files, whose recorder wrote no SCRIPT records) a `sourceMappingURL`
 * comment at the end of one of its files. `cwd` resolves relative script names.
 */
export function mayHaveSourceMaps(g: ProfileGlance, cwd: string): boolean {
  if (g.scripts > 0 || g.incomplete) return true;
  const scriptsRecorded = g.version[0] > 1 || g.version[1] >= 1;
  const tail = Buffer.alloc(4096);
  for (const file of g.files) {
    const p = localPath(file, cwd);
    if (p === undefined) continue;
    if (fs.existsSync(`${p}.map`)) return true;
    if (scriptsRecorded) continue;
    // A 1.0 file's sampler did not say which scripts declared a map: look at the end of each script.
    let n = 0;
    let size = 0;
    try {
      const fd = fs.openSync(p, "r");
      try {
        size = fs.fstatSync(fd).size;
        n = fs.readSync(fd, tail, 0, tail.length, Math.max(0, size - tail.length));
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      continue;
    }
    const text = tail.toString("latin1", 0, n);
    // A comment at the end, or a last line longer than what was read (an inline map's data: URL).
    const url = sourceMappingUrlOf(text);
    if (url !== undefined) {
      // A declared map file that is not there maps nothing (TypeScript's own lib declares maps it does not ship).
      const loc = declaredLocation(url, p);
      if (!("problem" in loc) && (loc.kind === "data" || fs.existsSync(loc.path))) return true;
    } else if (text.includes("sourceMappingURL=") || (size > n && !text.includes("\n"))) return true;
  }
  return false;
}
