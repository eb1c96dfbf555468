/**
 * @vmprof/format: the profile model, the binary format of SPEC.md, its streaming reader and writer,
 * the queries every view needs, and a deterministic text dump.
 */
export * from "./constants.js";
export * from "./model.js";
export { ProfileFormatError, type ProfileErrorCode } from "./errors.js";
export { ProfileBuilder } from "./builder.js";
export { ProfileWriter, fileSink, memorySink, type Sink, type WriterOptions } from "./writer.js";
export { ProfileDecoder, decodeProfile, decodeStream, readProfileSync } from "./reader.js";
export * from "./query.js";
export { dumpProfile } from "./dump.js";
export { writeProfiles } from "./merge.js";
export { redactArgv, redactEnv, isSecretName, REDACTED } from "./meta.js";
