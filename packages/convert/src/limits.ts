/**
 * Bounds on what reading one input may cost, so a hostile file (a gzip bomb, a pprof or folded line
 * with a count of billions) is refused with a clear line instead of exhausting memory.
 */
import { constants, gunzipSync } from "node:zlib";
import { ConvertError, LimitError } from "./errors.js";

/** What reading one input may cost. */
export interface ImportLimits {
  /** Most samples an import may expand counts into (pprof, collapsed, speedscope "none" weights). */
  maxSamples: number;
  /** Most bytes a gzipped input may inflate to. */
  maxInflated: number;
}

/** The command-line defaults: 50,000,000 samples, 1 GiB inflated. */
export const DEFAULT_LIMITS: ImportLimits = { maxSamples: 50_000_000, maxInflated: 1 << 30 };

/** True when `b` starts with the gzip magic. */
export const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Inflates gzip `bytes` within `maxInflated`. A truncated stream gives what inflates (`tolerant`),
 * else throws ConvertError naming `source` (`what` says which format, for the message).
 */
export function inflate(bytes: Uint8Array, source: string, limits: ImportLimits, what = "", tolerant = false): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: limits.maxInflated, ...(tolerant ? { finishFlush: constants.Z_SYNC_FLUSH } : {}) });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError)
      throw new LimitError(`${source}: ${what}inflates to more than ${limits.maxInflated} bytes`);
    throw new ConvertError(`${source}: ${what}not valid gzip data (${err.message})`);
  }
}
