/**
 * @vmprof/sourcemap: where the code of a profile was written. `resolveSources` finds each script's
 * source map (recorded SCRIPT, the script's comment, `<file>.map`, or given directories), maps every
 * JS function's start and every frame's position with @jridgewell/trace-mapping, and returns the
 * profile with `source` filled beside the generated positions, plus one warning per unusable map.
 */
export { resolveSources, SourceMapCache, type ResolveOptions, type ResolveResult } from "./resolve.js";
export { glanceProfile, mayHaveSourceMaps, type ProfileGlance } from "./scan.js";
export { DEFAULT_MAX_MAP_BYTES } from "./load.js";
export { sourceTextReader } from "./text.js";
