/**
 * The upload client, as a library call (vmprof-upload and vmprof-record --upload are shells over it):
 * send a profile to vmprof-server's API (the
 * bytes as they are, in any format the server imports) or to Pyroscope's ingest API (converted to
 * pprof, with the name, labels, time range, spy name and sample rate Pyroscope expects; one series
 * per distinct label set of the samples). Connection errors and 5xx answers are retried with
 * exponential backoff; 4xx answers are final.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { defaultWeight, effectiveLabelSets, metaValue, parseLabel, type Profile } from "@vmprof/format";
import type { Readable } from "node:stream";
import { ConvertError, readAnyProfile, toPprof } from "vmprof-convert";

/** A problem with the local input or options: one line, exit status 2. */
export class UploadUsageError extends Error {
  override readonly name = "UploadUsageError";
}

/** The server refused or could not be reached: one line (the server's own message when it sent one), exit 1. */
export class UploadError extends Error {
  override readonly name = "UploadError";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** What to send where. */
export interface UploadOptions {
  /** The server's base URL, e.g. http://127.0.0.1:8000. */
  url: string;
  token?: string;
  /** Profile name; default: from the recorded command line (vmprof) or "vmprof-node.cpu" (Pyroscope). */
  name?: string;
  labels?: Record<string, string>;
  /** "vmprof": our server's API; "pyroscope": Pyroscope's /ingest. */
  to: "vmprof" | "pyroscope";
  /** The profile: a path, its bytes, or a stream (stdin); any format the convert package reads. */
  input: string | Uint8Array | Readable;
  /** Names the input in messages; default: the path, or "<stdin>". */
  source?: string;
  /** Attempts on connection errors and 5xx (default 5). */
  attempts?: number;
  /** First backoff in ms, doubled each retry (default 500). */
  backoffMs?: number;
  /** Told the fraction of the body sent, and the body's size in bytes. */
  onProgress?: (fraction: number, bytes: number) => void;
  /** Told of each retry, one line. */
  onRetry?: (message: string) => void;
  /** Ends the upload early (an attempt in flight, or the wait before the next): it fails with UploadError "cancelled". */
  signal?: AbortSignal;
  /** How long one attempt may take, ms (default 120000). */
  timeoutMs?: number;
}

/** What the server answered. */
export interface UploadResult {
  /** The profile's page (vmprof server), or the first ingest URL used (Pyroscope). */
  url: string;
  id?: string;
  status: number;
  /** Pyroscope: the series sent, one per distinct label set of the samples, in the order sent. */
  series?: PyroscopeSeries[];
}

/** One /ingest request: the samples that carry one label set. */
export interface PyroscopeSeries {
  /** The ingest URL used (its name parameter is the series' name{labels}). */
  url: string;
  /** The series' labels: the --label flags under the samples' own labels (theirs win), sorted by key. */
  labels: Record<string, string>;
  /** Samples in the series. */
  samples: number;
}

interface Answer {
  status: number;
  body: string;
}

/** One HTTP request with a body; rejects on connection errors. */
function send(url: URL, method: string, headers: Record<string, string>, body: Uint8Array, o: Pick<UploadOptions, "onProgress" | "signal" | "timeoutMs">): Promise<Answer> {
  const onProgress = o.onProgress;
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { method, headers: { ...headers, "content-length": String(body.length) }, signal: o.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(o.timeoutMs ?? 120_000, () => req.destroy(new Error("timed out")));
    const CHUNK = 1 << 18;
    let off = 0;
    const pump = () => {
      while (off < body.length) {
        const end = Math.min(off + CHUNK, body.length);
        const more = req.write(body.subarray(off, end));
        off = end;
        onProgress?.(off / body.length, body.length);
        if (!more) {
          req.once("drain", pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** The server's one-line message from a JSON error body, else the status line. */
function messageOf(a: Answer): string {
  try {
    const j = JSON.parse(a.body) as { error?: string; message?: string };
    if (j.error || j.message) return String(j.error ?? j.message);
  } catch {
    // not JSON
  }
  return a.body.trim().split("\n")[0] || `HTTP ${a.status}`;
}

/** Sends with retries: connection errors and 5xx are retried, 4xx are not. */
async function sendWithRetries(url: URL, headers: Record<string, string>, body: Uint8Array, o: UploadOptions): Promise<Answer> {
  const attempts = o.attempts ?? 5;
  let wait = o.backoffMs ?? 500;
  for (let i = 1; ; i++) {
    if (o.signal?.aborted) throw new UploadError("cancelled");
    let problem: string;
    try {
      const a = await send(url, "POST", headers, body, o);
      if (a.status < 500) return a;
      problem = `${url.origin} answered ${a.status}: ${messageOf(a)}`;
      if (i >= attempts) throw new UploadError(problem, a.status);
    } catch (e) {
      if (e instanceof UploadError) throw e;
      const err = e as NodeJS.ErrnoException;
      problem = `cannot reach ${url.origin} (${err.code ?? err.message})`;
      if (i >= attempts) throw new UploadError(problem);
    }
    o.onRetry?.(`${problem}; retrying in ${(wait / 1000).toFixed(1)} s (attempt ${i + 1} of ${attempts})`);
    await new Promise<void>((r) => {
      const t = setTimeout(r, wait * (0.8 + Math.random() * 0.4));
      o.signal?.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
    });
    wait *= 2;
  }
}

function base(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UploadUsageError(`--url: "${url}" is not a URL (e.g. http://127.0.0.1:8000)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new UploadUsageError(`--url: "${url}" is not http or https`);
  return u;
}

/** `path` under the server's base URL (which may itself have a path, e.g. behind a proxy). */
function endpoint(root: URL, path: string): URL {
  return new URL(path, root.href.endsWith("/") ? root : `${root.href}/`);
}

/** Reads the local input whole (bytes kept to send), turning the convert package's user errors into UploadUsageError. */
async function readLocal(o: UploadOptions) {
  try {
    const r = await readAnyProfile(o.input, { source: o.source ?? (typeof o.input === "string" ? undefined : "<stdin>"), whole: true });
    return { ...r, bytes: r.bytes! };
  } catch (e) {
    if (e instanceof ConvertError) throw new UploadUsageError(e.message);
    throw e;
  }
}

/** Uploads one profile. Throws UploadUsageError for bad local input, UploadError when the server refuses or cannot be reached. */
export async function upload(o: UploadOptions): Promise<UploadResult> {
  const root = base(o.url);
  const { profile: p, bytes } = await readLocal(o);
  const headers: Record<string, string> = { "content-type": "application/octet-stream", "user-agent": "vmprof-upload/0.1.0" };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  const labels = o.labels ?? {};

  if (o.to === "vmprof") {
    const url = endpoint(root, "api/profiles");
    if (o.name) url.searchParams.set("name", o.name);
    for (const [k, v] of Object.entries(labels)) url.searchParams.append("label", `${k}=${v}`);
    const a = await sendWithRetries(url, headers, bytes, o);
    if (a.status !== 201 && a.status !== 200) throw new UploadError(`${url.origin} refused the profile (${a.status}): ${messageOf(a)}`, a.status);
    const j = JSON.parse(a.body) as { id: string; url: string };
    return { url: j.url, id: j.id, status: a.status };
  }

  // Pyroscope: pprof, name{labels}, from/until in seconds, spyName, sampleRate in Hz; one series
  // (request) per distinct label set of the samples, all named and checked before the first is sent.
  for (const [k, v] of Object.entries(labels)) {
    if (/[{},=]/.test(k + v)) throw new UploadUsageError(`--label ${k}=${v}: Pyroscope labels cannot contain { } , or =`);
  }
  const { ids, series } = pyroscopeSeries(p, labels, o.source ?? (typeof o.input === "string" ? o.input : "<stdin>"));
  const start = Number(metaValue(p, "start_time") ?? 0);
  let end = Number(metaValue(p, "end_time") ?? 0);
  if (!(end > start)) {
    let last = 0;
    for (let i = 0; i < p.samples.count; i++) last = Math.max(last, p.samples.time[i]);
    end = start + last;
  }
  const from = start > 0 ? Math.floor(start / 1e6) : Math.floor(Date.now() / 1000) - Math.ceil((end - start) / 1e6);
  const until = start > 0 ? Math.max(from + 1, Math.ceil(end / 1e6)) : Math.floor(Date.now() / 1000);
  const periodUs = Number(metaValue(p, "period_us") ?? 0);
  const sent: PyroscopeSeries[] = [];
  let status = 0;
  for (const s of series) {
    const name = `${o.name ?? "vmprof-node.cpu"}{${Object.entries(s.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",")}}`;
    const url = endpoint(root, "ingest");
    url.searchParams.set("name", name);
    url.searchParams.set("from", String(from));
    url.searchParams.set("until", String(until));
    url.searchParams.set("format", "pprof");
    url.searchParams.set("spyName", "vmprof-node");
    if (periodUs > 0) url.searchParams.set("sampleRate", String(Math.round(1e6 / periodUs)));
    const keep = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) keep[i] = ids[i] === s.set ? 1 : 0;
    const pprof = toPprof(p, { weight: defaultWeight(p), samples: keep });
    const a = await sendWithRetries(url, headers, pprof, o);
    if (a.status >= 300) {
      const which = series.length > 1 ? `series ${name} (${sent.length} of ${series.length} sent before it)` : "the profile";
      throw new UploadError(`${url.origin} refused ${which} (${a.status}): ${messageOf(a)}`, a.status);
    }
    status = a.status;
    sent.push({ url: url.href, labels: s.labels, samples: s.samples });
  }
  return { url: sent[0].url, status, series: sent };
}

/**
 * The Pyroscope series of `p`: one per distinct label set of its samples (format's
 * effectiveLabelSets; `ids` gives each sample's `set`), labelled with `flags` under the set's own
 * pairs, sorted by key; a profile without samples is one empty series. Throws UploadUsageError for
 * a label Pyroscope cannot carry.
 */
function pyroscopeSeries(p: Profile, flags: Record<string, string>, source: string): { ids: Uint32Array; series: { set: number; labels: Record<string, string>; samples: number }[] } {
  const { sets, ids } = effectiveLabelSets(p);
  const count = new Array<number>(sets.length).fill(0);
  for (let i = 0; i < ids.length; i++) count[ids[i]]++;
  const used = sets.map((_, set) => set).filter((set) => count[set] > 0 || (p.samples.count === 0 && set === 0));
  const series = used.map((set) => {
    for (const [k, v] of sets[set]) {
      if (/[{},=]/.test(k + v)) throw new UploadUsageError(`${source}: label ${k}=${v}: Pyroscope labels cannot contain { } , or =`);
    }
    const merged = new Map(Object.entries(flags));
    for (const [k, v] of sets[set]) merged.set(k, v);
    return { set, labels: Object.fromEntries([...merged].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))), samples: count[set] };
  });
  return { ids, series };
}

/**
 * Parses `--label key=value` flags (vmprof-record stores them in the profile, vmprof-upload sends
 * them): key non-empty, the value may be empty or hold "=". Throws UploadUsageError naming the flag.
 */
export function parseLabels(values: readonly string[] = []): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const l of values) {
    const pair = parseLabel(l);
    if (!pair) throw new UploadUsageError(`--label: expected key=value, got "${l}"`);
    labels[pair[0]] = pair[1];
  }
  return labels;
}
