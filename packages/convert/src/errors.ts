/** A user error: bad input, bad usage, an output that cannot hold the selection. One line, exit status 2. */
export class ConvertError extends Error {
  override readonly name = "ConvertError";
}
