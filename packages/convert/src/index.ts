/**
 * vmprof-convert as a library: read a profile in any supported format (our own, pprof, Chrome
 * .cpuprofile, speedscope, collapsed stacks) into the model, and export the model as speedscope,
 * pprof, .cpuprofile, collapsed stacks, an SVG flame graph, or our own format.
 */
export { ConvertError, LimitError, UnknownFormatError } from "./errors.js";
export { IMPORTERS, INPUT_FORMATS, UNKNOWN_FORMAT, Input, readAnyProfile, type Importer, type InputFormat, type ReadOptions, type ReadResult, type SourceOptions } from "./read.js";
export { DEFAULT_LIMITS, type ImportLimits } from "./limits.js";
export { OUTPUT_FORMATS, convert, exportProfile, readInputs, formatFromName, outputFormat, writeAtomically, type ConvertOptions, type ConvertResult, type OutputFormat } from "./convert.js";
export type { ExportOptions } from "./select.js";
export { SELECTION_FLAGS, compilePattern, parseFlagsFast, parseSelectionFlags, sourceOptions, type FlagSpec, type FlagValues, type SelectionFlagValues, type SelectionOptions } from "./flags.js";
export { toSpeedscope, EXPORTER } from "./export/speedscope.js";
export { toPprof } from "./export/pprof.js";
export { toCpuprofile, type CpuprofileOptions } from "./export/cpuprofile.js";
export { toCollapsed, foldedFrame, foldedLineFrame, type CollapsedOptions } from "./export/collapsed.js";
export { toSvg, xmlEscape, type SvgOptions } from "./export/svg.js";
export { serveViewer, openBrowser, viewerDir, type Viewer } from "./open.js";
