/**
 * @vmprof/format: the profile model, the binary format of SPEC.md, its streaming reader and writer,
 * the query layer every view and exporter uses (select, aggregate, tables over one path rule), and a
 * deterministic text dump.
 */
export * from "./constants.js";
export * from "./model.js";
export { ProfileFormatError, type ProfileErrorCode } from "./errors.js";
export { ProfileBuilder } from "./builder.js";
export { ProfileWriter, fileSink, memorySink, type Sink, type WriterOptions } from "./writer.js";
export { ProfileDecoder, decodeProfile, decodeStream, readProfileSync } from "./reader.js";
export * from "./keys.js";
export * from "./functions.js";
export * from "./select.js";
export * from "./paths.js";
export * from "./native.js";
export * from "./aggregate.js";
export * from "./tables.js";
export * from "./lines.js";
export * from "./labels.js";
export * from "./compare.js";
export { dumpProfile } from "./dump.js";
export { ProfileMerger, writeProfiles } from "./merge.js";
export { redactArgv, redactEnv, isSecretName, REDACTED } from "./meta.cjs";
export { WindowCutter, WindowSource, type Window } from "./window.js";
