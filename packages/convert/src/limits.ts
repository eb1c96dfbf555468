/**
 * Bounds on what reading one input may cost, so a hostile file (a gzip bomb, a pprof or folded line
 * with a count of billions) is refused with a clear line instead of exhausting memory.
 */

/** What reading one input may cost. */
export interface ImportLimits {
  /** Most samples an import may expand counts into (pprof, collapsed, speedscope "none" weights). */
  maxSamples: number;
  /** Most bytes a gzipped input may inflate to. */
  maxInflated: number;
}

/** The command-line defaults: 50,000,000 samples, 1 GiB inflated. */
export const DEFAULT_LIMITS: ImportLimits = { maxSamples: 50_000_000, maxInflated: 1 << 30 };
