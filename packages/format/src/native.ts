/**
 * Native frames' mappings: where the files that native functions come from were mapped in each
 * process, from the per-process `native_mappings` metadata a recording with native frames writes
 * (SPEC.md, META). Exporters that speak addresses (pprof's Mapping) read them here.
 */
import type { Profile } from "./model.js";

/** One executable file mapping of a recorded process that held a sampled native pc. */
export interface NativeMapping {
  /** The process's OS pid. */
  pid: number;
  /** Mapped address range [start, end) in that process. */
  start: bigint;
  end: bigint;
  /** Offset in the file of `start`, bytes. */
  offset: bigint;
  /** GNU build id, lower-case hex; "" when the file has none. */
  buildId: string;
  /** The file's path as the process saw it ("[vdso]" for the vDSO). */
  file: string;
}

/**
 * Parses one `native_mappings` entry: "START END OFFSET BUILD_ID FILE", numbers in hex, BUILD_ID "-"
 * when none; FILE is the rest of the line (it may hold spaces). Undefined when malformed.
 */
export function parseNativeMapping(pid: number, text: string): NativeMapping | undefined {
  const m = /^([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) (\S+) (.+)$/.exec(text);
  if (!m) return undefined;
  return { pid, start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), offset: BigInt(`0x${m[3]}`), buildId: m[4] === "-" ? "" : m[4], file: m[5] };
}

/** The native mappings of every process of `p`, in process order (none for a recording without native frames). */
export function nativeMappings(p: Profile): NativeMapping[] {
  const out: NativeMapping[] = [];
  for (const pr of p.processes) {
    const v = pr.meta.get("native_mappings");
    if (!Array.isArray(v)) continue;
    for (const text of v) {
      const m = parseNativeMapping(pr.pid, text);
      if (m) out.push(m);
    }
  }
  return out;
}
