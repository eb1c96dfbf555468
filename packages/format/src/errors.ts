/** The one error type the reader throws for input that is not a readable profile. */

/** Why a source could not be read. */
export type ProfileErrorCode =
  /** The source holds no bytes at all. */
  | "EMPTY"
  /** The first bytes are not the vmprof magic. */
  | "BAD_MAGIC"
  /** Written by a newer, incompatible major version of the format. */
  | "NEWER_VERSION"
  /** A record is malformed or refers to something not defined before it. */
  | "CORRUPT"
  /** The source could not be opened or read (missing file, permission). */
  | "IO";

/**
 * A typed error: `code` says what went wrong, `source` names the input, `offset` is the byte offset
 * (in the uncompressed stream) where it was found, or -1 when it does not apply. `message` is one line
 * meant for a person and already names the source.
 */
export class ProfileFormatError extends Error {
  override readonly name = "ProfileFormatError";
  constructor(
    readonly code: ProfileErrorCode,
    message: string,
    readonly source: string,
    readonly offset = -1,
  ) {
    super(message);
  }
}
