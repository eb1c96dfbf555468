/**
 * The text of source files as source maps hold it (`sourcesContent`): what `vmprof-report --source`
 * prints when a profile is read away from the files it was recorded from.
 */
import type { Profile } from "@vmprof/format";
import { generatedFunction } from "@vmprof/format";
import { resolveSources, SourceMapCache, type ResolveOptions } from "./resolve.js";

/** The profile as its generated code ran, with no sources (what resolveSources maps from). */
function generatedOnly(p: Profile): Profile {
  const functions = p.functions.map((f) => ({ id: f.id, kind: f.kind, ...generatedFunction(f) }));
  const frames = p.frames.map((fr) => ({ id: fr.id, function: fr.function, tier: fr.tier, line: fr.generated?.line ?? fr.line, column: fr.generated?.column ?? fr.column }));
  return { ...p, functions, frames, sourcesApplied: false };
}

/**
 * A reader of source files' text from the maps of `p`'s scripts: `read(file)` gives the
 * `sourcesContent` of the source that resolveSources names `file` (an absolute path or the map's
 * source string), or undefined when no map of the profile carries it. Maps are found and parsed at
 * the first call, never more than once; their problems are not reported here (reading the profile did).
 */
export function sourceTextReader(p: Profile, o: Pick<ResolveOptions, "dirs" | "cwd"> = {}): (file: string) => string | undefined {
  let texts: Map<string, string> | undefined;
  return (file) => {
    if (!texts) {
      texts = new Map();
      const cache = new SourceMapCache();
      resolveSources(generatedOnly(p), { ...o, cache });
      for (const st of cache.maps.values()) {
        if (!("loaded" in st)) continue;
        const content = st.loaded.map.sourcesContent;
        st.facts.forEach((facts, i) => {
          const text = content?.[i];
          if (facts && typeof text === "string" && !texts!.has(facts.file)) texts!.set(facts.file, text);
        });
      }
    }
    return texts.get(file);
  };
}
