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
  /**
   * Past the first million, most samples an import may expand counts into per byte of (inflated)
   * input: the model holds a row per sample (about 25 bytes, and as much again to aggregate), so a
   * 69-byte pprof whose one sample counts 49,000,000 would cost 2 GB. Real profiles stay far below:
   * pprof and collapsed stacks of real recordings count at most tens of samples per byte. Default 1000.
   */
  maxSamplesPerByte?: number;
}

/** The command-line defaults: 50,000,000 samples, 1 GiB inflated, 1000 samples per byte past the first million. */
export const DEFAULT_LIMITS: ImportLimits = { maxSamples: 50_000_000, maxInflated: 1 << 30, maxSamplesPerByte: 1000 };

/** How many samples an input of `bytes` (inflated) may expand into under `limits`. */
export function sampleBudget(limits: ImportLimits, bytes: number): number {
  return Math.min(limits.maxSamples, Math.max(1_000_000, (limits.maxSamplesPerByte ?? 1000) * bytes));
}

/** The one line for an input whose counts pass its sample budget. */
export function sampleBudgetMessage(source: string, counted: string, limits: ImportLimits, bytes: number): string {
  const budget = sampleBudget(limits, bytes);
  return budget < limits.maxSamples
    ? `${source}: ${counted} more than ${budget} samples in ${bytes} bytes (more than ${limits.maxSamplesPerByte ?? 1000} per byte past the first million: an expansion this large is refused)`
    : `${source}: ${counted} more than ${limits.maxSamples} samples`;
}
