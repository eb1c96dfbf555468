/** A user error: bad input, bad usage, an output that cannot hold the selection. One line, exit status 2. */
export class ConvertError extends Error {
  override get name(): string {
    return "ConvertError";
  }
}

/** An input over the import limits (too many samples, inflates too far): a ConvertError a server answers with 413. */
export class LimitError extends ConvertError {
  override get name(): string {
    return "LimitError";
  }
}

/** An input in none of the formats we read: a ConvertError a server answers with 415. */
export class UnknownFormatError extends ConvertError {
  override get name(): string {
    return "UnknownFormatError";
  }
}
