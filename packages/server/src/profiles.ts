/**
 * Turning an upload into what the store keeps: the profile read by the convert package (any format it
 * imports), re-encoded in our format and gzipped, with its facts and a summary for the pages.
 */
import { gzipSync } from "node:zlib";
import {
  FunctionKind,
  THREAD_KIND_NAMES,
  aggregate,
  defaultWeight,
  functionInfo,
  functionKindName,
  functionLabel,
  functionTable,
  hasLinePositions,
  isStateFunction,
  lineAggregate,
  lineProfile,
  memorySink,
  metaValue,
  writeProfiles,
  type Aggregate,
  type FunctionKindName,
  type FunctionTable,
  type Profile,
} from "@vmprof/format";
import { ConvertError, LimitError, UnknownFormatError, exportProfile, readAnyProfile, type ImportLimits, type InputFormat, type OutputFormat } from "vmprof-convert";
import type { ProfileRecord } from "./store.js";

/** A request the server refuses: its HTTP status and one line for the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One row of a summary's top table. Percentages are 0-100 of the total weight. */
export interface TopRow {
  name: string;
  file: string;
  line: number;
  kind: FunctionKindName;
  selfPercent: number;
  totalPercent: number;
}

/** One hot line of a function: where it is and its shares of the profile's total weight. */
export interface HotLine {
  file: string;
  line: number;
  selfPercent: number;
  totalPercent: number;
}

/** A top function's hottest lines. */
export interface FunctionLines {
  name: string;
  file: string;
  line: number;
  lines: HotLine[];
}

/** What a profile page shows without reading the profile: facts and the top functions. */
export interface Summary {
  weight: string;
  mode: string;
  nodeVersion: string;
  processes: { pid: number; name: string }[];
  threads: { pid: number; tid: number; name: string; kind: string }[];
  top: TopRow[];
  /** The hot lines of the top JS functions (HOT_LINE_FUNCTIONS × HOT_LINES); absent when the profile has no line positions (or was summarized before lines existed). */
  hotLines?: FunctionLines[];
}

/** Functions and lines per function in a summary's hot lines. */
export const HOT_LINE_FUNCTIONS = 10;
export const HOT_LINES = 5;

/** The hottest lines (by self, then total) of the top JS functions by total weight, as vmprof-report --lines. */
function hotLines(p: Profile, agg: Aggregate, t: FunctionTable): FunctionLines[] | undefined {
  if (!hasLinePositions(p)) return undefined;
  const lp = lineProfile(p);
  const lt = functionTable(lp.profile, lineAggregate(agg, lp));
  const total = agg.total || 1;
  const out: FunctionLines[] = [];
  const index = new Map<number, FunctionLines>();
  for (const id of t.ids) {
    if (out.length === HOT_LINE_FUNCTIONS) break;
    const f = functionInfo(p, id);
    if (isStateFunction(p, id) || f.kind !== FunctionKind.JS) continue;
    const entry = { name: functionLabel(f), file: f.file, line: f.line, lines: [] };
    index.set(id, entry);
    out.push(entry);
  }
  const units = lt.ids.filter((u) => index.has(lp.origin[u]) && lp.line[u] > 0);
  units.sort((a, b) => lt.self[b] - lt.self[a] || lt.total[b] - lt.total[a]);
  for (const u of units) {
    const entry = index.get(lp.origin[u])!;
    if (entry.lines.length === HOT_LINES) continue;
    entry.lines.push({ file: lp.profile.functions[u - 1].file, line: lp.line[u], selfPercent: (lt.self[u] / total) * 100, totalPercent: (lt.total[u] / total) * 100 });
  }
  return out.filter((e) => e.lines.length > 0);
}

const ACCEPTED = "vmprof, pprof, cpuprofile, speedscope, collapsed";

/** What reading one upload may cost by default: 20,000,000 samples, 1 GiB inflated (see ServerOptions). */
export const SERVER_LIMITS: ImportLimits = { maxSamples: 20_000_000, maxInflated: 1 << 30 };

/** Rows in a summary's top table. */
export const TOP_ROWS = 40;

/** The summary of a profile: facts and the TOP_ROWS functions of highest cumulative share (vmprof-report --top's table). */
export function summarize(p: Profile): Summary {
  const weight = defaultWeight(p);
  const agg = aggregate(p, { weight });
  const t = functionTable(p, agg);
  const total = agg.total || 1;
  const top = t.ids.slice(0, TOP_ROWS).map((id): TopRow => {
    const f = functionInfo(p, id);
    return {
      name: functionLabel(f),
      file: f.file,
      line: f.line,
      kind: functionKindName(p, id),
      selfPercent: (t.self[id] / total) * 100,
      totalPercent: (t.total[id] / total) * 100,
    };
  });
  return {
    weight,
    mode: String(metaValue(p, "mode") ?? ""),
    nodeVersion: String(metaValue(p, "node_version") ?? ""),
    processes: p.processes.map((pr) => ({ pid: pr.pid, name: pr.name })),
    threads: p.threads.map((th) => ({ pid: p.processes[th.process - 1].pid, tid: th.tid, name: th.name, kind: THREAD_KIND_NAMES[th.kind] })),
    top,
    hotLines: hotLines(p, agg, t),
  };
}

/** A parsed upload, ready for Store.insert. */
export interface Parsed {
  record: Omit<ProfileRecord, "id" | "size">;
  data: Uint8Array;
  profile: Profile;
}

/**
 * Reads an uploaded body (format found from the content) into a record and the bytes to store.
 * Throws HttpError: 400 empty, 415 not a format we read (naming the accepted ones), 400 broken or
 * truncated, naming what is wrong.
 */
export async function parseUpload(
  body: Uint8Array,
  o: { name?: string; labels?: Record<string, string>; source: string; format?: InputFormat; limits?: ImportLimits },
): Promise<Parsed> {
  if (body.length === 0) throw new HttpError(400, "empty body: no profile");
  let profile: Profile;
  let format: InputFormat;
  try {
    ({ profile, format } = await readAnyProfile(body, { source: o.source, format: o.format, limits: o.limits ?? SERVER_LIMITS }));
  } catch (e) {
    if (e instanceof UnknownFormatError) throw new HttpError(415, `unsupported profile format; accepted: ${ACCEPTED}`);
    if (e instanceof LimitError) throw new HttpError(413, e.message);
    if (e instanceof ConvertError) throw new HttpError(400, e.message);
    throw e;
  }
  if (profile.truncation) throw new HttpError(400, `${profile.truncation.message}: upload a complete profile`);
  if (profile.samples.count === 0) throw new HttpError(400, `${o.source}: the profile has no samples`);
  // Our own format is stored as uploaded (it was just decoded whole); others encoded once.
  let ours: Uint8Array = body;
  if (format !== "vmprof") {
    const sink = memorySink();
    writeProfiles([profile], sink);
    ours = sink.bytes();
  }
  const start = Number(metaValue(profile, "start_time") ?? 0);
  const end = Number(metaValue(profile, "end_time") ?? 0);
  let last = 0;
  for (let i = 0; i < profile.samples.count; i++) last = Math.max(last, profile.samples.time[i]);
  const argv = metaValue(profile, "argv");
  const name = o.name || (Array.isArray(argv) ? argv.slice(0, 3).join(" ") : "") || "profile";
  return {
    profile,
    data: ours[0] === 0x1f && ours[1] === 0x8b ? ours : gzipSync(ours, { level: 1 }),
    record: {
      name,
      labels: o.labels ?? {},
      uploadedAt: Date.now(),
      startTime: start,
      durationUs: end > start && start > 0 ? end - start : last,
      samples: profile.samples.count,
      sourceFormat: format,
      summary: summarize(profile),
    },
  };
}

/** A stored profile (our format, gzipped) exported to `format` (not "vmprof": that is the stored bytes). */
export async function exportStored(data: Uint8Array, name: string, format: OutputFormat): Promise<Uint8Array> {
  const { profile } = await readAnyProfile(data, { source: name, format: "vmprof" });
  const chunks = [...exportProfile(profile, format)].map((c) => (typeof c === "string" ? Buffer.from(c) : c));
  return Buffer.concat(chunks);
}
