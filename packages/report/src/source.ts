/**
 * Where --lines and --source get a file's text: from disk by default, or from any reader a caller
 * gives (the source maps' sourcesContent, for a profile read away from its files).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** A file's whole text by the name frames give it (a path or a URL), or undefined when it cannot be had. */
export type SourceReader = (file: string) => string | undefined;

/**
 * Reads files from disk: file:// URLs as paths, relative paths against `cwd` (the recording's working
 * directory; default: this process's). Other URLs (node:, http:) and unreadable files give undefined.
 */
export function diskSource(cwd?: string): SourceReader {
  return (file) => {
    let f = file;
    if (f.startsWith("file://")) {
      try {
        f = fileURLToPath(f);
      } catch {
        return undefined;
      }
    } else if (f === "" || /^[a-z][a-z0-9+.-]*:/i.test(f)) return undefined;
    try {
      return fs.readFileSync(path.resolve(cwd || process.cwd(), f), "utf8");
    } catch {
      return undefined;
    }
  };
}

/** A reader that reads each file at most once, splitting it into lines (index 0 is line 1). */
export function sourceLines(read: SourceReader): (file: string) => string[] | undefined {
  const cache = new Map<string, string[] | undefined>();
  return (file) => {
    if (!cache.has(file)) cache.set(file, read(file)?.split(/\r?\n/));
    return cache.get(file);
  };
}
