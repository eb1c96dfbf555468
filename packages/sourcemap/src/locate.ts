/**
 * Finding the source map of a generated script. In order: the map its SCRIPT record declared (the
 * script's `//# sourceMappingURL=` as V8 saw it, resolved against the script's location); else the
 * last such comment in the script's file on disk; else `<file>.map` beside it; else, with `dirs`
 * (`--source-maps DIR`, for profiles recorded elsewhere), a map in those directories named after the
 * script's basename, or whose `file` field names it.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** A script's map, where it was found: a file, or a data: URL. `declared`: the script named it (a missing one is warned about). */
export type MapLocation = { kind: "file"; path: string; declared: boolean } | { kind: "data"; url: string; declared: true };

/** The local path of a script name (an absolute path, a file: URL, or a path relative to `cwd`); undefined when it is not local. */
export function localPath(file: string, cwd: string): string | undefined {
  if (file.startsWith("file:")) {
    try {
      return fileURLToPath(file);
    } catch {
      return undefined;
    }
  }
  if (path.isAbsolute(file)) return file;
  // URLs (http:, webpack:, node:, data:...) and V8's placeholders are not files.
  if (/^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(file) || file.startsWith("<") || file.startsWith("evalmachine.")) return undefined;
  return path.resolve(cwd, file);
}

/** The value of the last `sourceMappingURL` comment of a script's text, or undefined. */
export function sourceMappingUrlOf(text: string): string | undefined {
  const at = text.lastIndexOf("sourceMappingURL=");
  if (at < 3) return undefined;
  // Only a comment: `//# `, `//@ ` or `/*# ` right before it.
  const before = text.slice(Math.max(0, at - 4), at);
  if (!/(\/\/|\/\*)[#@]\s?$/.test(before)) return undefined;
  const m = /^[^\s*'"]+/.exec(text.slice(at + 17, at + 17 + 64 * 1024 * 1024));
  return m ? m[0] : undefined;
}

/** Where a declared URL (from SCRIPT or a comment) points, relative to the script at `scriptPath`. */
export function declaredLocation(url: string, scriptPath: string | undefined): MapLocation | { problem: string } {
  if (url.startsWith("data:")) return { kind: "data", url, declared: true };
  if (url.startsWith("file:")) {
    try {
      return { kind: "file", path: fileURLToPath(url), declared: true };
    } catch {
      return { problem: `a file: URL that is not a path (${url})` };
    }
  }
  if (/^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(url)) return { problem: `a URL that is not fetched (${url})` };
  let p = url;
  try {
    p = decodeURIComponent(url);
  } catch {
    /* a literal % in a path */
  }
  if (path.isAbsolute(p)) return { kind: "file", path: p, declared: true };
  if (scriptPath === undefined) return { problem: `relative to a script that is not a local file (${url})` };
  return { kind: "file", path: path.resolve(path.dirname(scriptPath), p), declared: true };
}

/** Reads a script's text to find its comment; undefined when it is unreadable. Scripts over `maxBytes` are not read. */
export function readScript(file: string, maxBytes: number): string | undefined {
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > maxBytes) return undefined;
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * The maps found in `--source-maps` directories, indexed once: by file name, and (read only when
 * a name does not match) by the `file` field near the start of each map.
 */
export class MapDirs {
  private byName?: Map<string, string[]>;
  private byFileField?: Map<string, string[]>;

  constructor(readonly dirs: readonly string[]) {}

  /** Map files for a script's basename: `<basename>.map` first, then maps whose `file` is the basename. */
  find(scriptBase: string): string[] {
    const byName = this.names();
    const direct = byName.get(`${scriptBase}.map`) ?? [];
    if (direct.length > 0) return direct;
    this.byFileField ??= this.fileFields();
    return this.byFileField.get(scriptBase) ?? [];
  }

  private names(): Map<string, string[]> {
    if (this.byName) return this.byName;
    const out = new Map<string, string[]>();
    let budget = 100_000; // entries walked, so a DIR of / cannot hang the command
    const walk = (dir: string, depth: number) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (--budget < 0) return;
        const full = path.join(dir, e.name);
        if (e.isDirectory() && depth < 16 && e.name !== ".git") walk(full, depth + 1);
        else if (e.isFile() && e.name.endsWith(".map")) out.set(e.name, [...(out.get(e.name) ?? []), full]);
      }
    };
    for (const d of this.dirs) walk(path.resolve(d), 0);
    return (this.byName = out);
  }

  private fileFields(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const head = Buffer.alloc(4096);
    for (const files of this.names().values()) {
      for (const f of files) {
        let n = 0;
        try {
          const fd = fs.openSync(f, "r");
          try {
            n = fs.readSync(fd, head, 0, head.length, 0);
          } finally {
            fs.closeSync(fd);
          }
        } catch {
          continue;
        }
        const m = /"file"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(head.toString("utf8", 0, n));
        if (!m) continue;
        const base = path.basename(m[1]);
        out.set(base, [...(out.get(base) ?? []), f]);
      }
    }
    return out;
  }
}
