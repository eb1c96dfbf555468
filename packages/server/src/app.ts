/**
 * The HTTP server: the profile API, Pyroscope's ingest endpoint, the web UI and speedscope's viewer,
 * over a Store. Uploads need the bearer token when one is set (compared in constant time), and so
 * do reads with `authRead`. Errors are JSON `{ "error": "one line" }` with a 4xx status; nothing is
 * stored unless the whole upload was read and understood; a request that needs the database while it
 * cannot be reached is answered 503 (one line), and served again once it is back. No path from a request reaches the
 * filesystem: the viewer's files are a fixed list read at start.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { OUTPUT_FORMATS, viewerDir, type ImportLimits, type InputFormat, type OutputFormat } from "vmprof-convert";
import { compareStored, comparePage, type CompareJob, type CompareSide, type ComparePage } from "./compare.js";
import { describeSelection, listPage, mergePage, profilePage } from "./pages.js";
import { ParsePool, type ParseJob } from "./pool.js";
import { Readers, Retention, type RetentionOptions } from "./retention.js";
import { MergeState, checkSelection, mergeOrigin, type MergeOutput, type MergeSummary } from "./merge.js";
import { HttpError, SERVER_LIMITS, exportStored, parseUpload } from "./profiles.js";
import { StoreUnavailableError, type ListQuery, type ProfileRecord, type Store } from "./store.js";

/** How the server is set up. */
export interface ServerOptions {
  store: Store;
  /** Bearer token required for uploads and deletes (and reads with authRead); none when absent. */
  token?: string;
  /** Require the token for reading too (API, pages and viewer data). */
  authRead?: boolean;
  /** Largest body accepted, in bytes (default 100 MB); larger gets 413. */
  maxBytes?: number;
  /** Worker threads that parse uploads (default: one per core; 0: parse on the main thread). */
  parseThreads?: number;
  /** Most samples one upload may expand to (default 20,000,000); over it: 413. */
  maxSamples?: number;
  /** Uploads of one client (remote address) read at once (default 4); more wait their turn, unread. */
  uploadsPerClient?: number;
  /** Retention (retention.ts): days kept after upload, most bytes stored; applied continuously. */
  retention?: RetentionOptions;
  /** Where the server's own messages go (one line each); default stderr. */
  log?: (line: string) => void;
}

/** Uploads of one client that may wait for a turn; past that: 429. */
const MAX_WAITING_PER_CLIENT = 256;

/**
 * At most `limit` uploads of each client read at once: the others wait before their body is read (so
 * one client's bodies in memory are bounded), and a client with MAX_WAITING_PER_CLIENT already waiting
 * is answered 429.
 */
class ClientSlots {
  private readonly clients = new Map<string, { active: number; waiting: (() => void)[] }>();
  constructor(private readonly limit: number) {}

  /** Resolves when `client` may go on; the returned function gives the turn back (once). */
  async acquire(client: string): Promise<() => void> {
    let c = this.clients.get(client);
    if (!c) this.clients.set(client, (c = { active: 0, waiting: [] }));
    if (c.active >= this.limit) {
      if (c.waiting.length >= MAX_WAITING_PER_CLIENT) throw new HttpError(429, `too many uploads from this client at once (${this.limit} read, ${MAX_WAITING_PER_CLIENT} waiting)`);
      await new Promise<void>((resolve) => c!.waiting.push(resolve));
    }
    c.active++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      c!.active--;
      const next = c!.waiting.shift();
      if (next) next();
      else if (c!.active === 0) this.clients.delete(client);
    };
  }
}

const ID = /^[0-9a-f]{16}$/;
/** `id` when it is a profile id (16 lowercase hex digits); HttpError 400 otherwise. */
function validId(id: string): string {
  if (!ID.test(id)) throw new HttpError(400, `malformed profile id "${id.slice(0, 64)}": ids are 16 hex digits`);
  return id;
}
const digest = (s: string) => createHash("sha256").update(s).digest();

/** Builds the Fastify app (not listening yet). */
/** The Content-Security-Policy of every HTML page (speedscope's viewer needs inline styles and WebAssembly). */
export const PAGE_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

export function buildServer(o: ServerOptions): FastifyInstance {
  const maxBytes = o.maxBytes ?? 100 * 1024 * 1024;
  // On close: idle keep-alive connections are closed at once, requests in flight are finished.
  const app = Fastify({ bodyLimit: maxBytes, logger: false, forceCloseConnections: "idle", return503OnClosing: true });
  const store = o.store;
  const pool = o.parseThreads === 0 ? undefined : new ParsePool(o.parseThreads);
  // A gzipped upload may inflate to 20 times the body limit (1 GiB at most); more is answered 413.
  const limits: ImportLimits = { maxSamples: o.maxSamples ?? SERVER_LIMITS.maxSamples, maxInflated: Math.min(SERVER_LIMITS.maxInflated, maxBytes * 20) };
  const parse = async (job: ParseJob) => (pool ? pool.parse({ ...job, limits }) : parseUpload(job.body, { ...job, limits }));
  // Profiles read here (downloads, exports, comparisons, merges) are not deleted by retention meanwhile.
  const readers = new Readers();
  const retention = new Retention(store, o.retention ?? {}, readers, o.log ?? ((line) => process.stderr.write(`vmprof-server: ${line}\n`)));
  app.addHook("onReady", async () => retention.start());
  app.addHook("onClose", async () => {
    await retention.stop();
    await pool?.close();
  });
  // While closing, answers to the requests still in flight close their connections, so close()
  // does not wait for the clients' keep-alive timeouts.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", async (_req, reply, payload) => {
    if (closing) reply.header("connection", "close");
    // Pages (ours and speedscope's viewer) run only scripts of this server, load nothing elsewhere,
    // and are framed only by this server's own pages.
    if (String(reply.getHeader("content-type") ?? "").startsWith("text/html")) reply.header("content-security-policy", PAGE_CSP);
    return payload;
  });
  const tokenDigest = o.token ? digest(o.token) : undefined;

  // Bodies are profiles: every content type is read as raw bytes (multipart has its own parser).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: maxBytes }, (_req, body, done) => done(null, body));
  app.register(multipart, { limits: { fileSize: maxBytes, files: 1, fields: 20 } });

  // The cookie (set for a browser's reads) never grants writes: a page on another local port could
  // send it (SameSite does not separate ports).
  const authorized = (req: FastifyRequest, cookies: boolean): boolean => {
    if (!tokenDigest) return true;
    const h = req.headers.authorization ?? "";
    const m = /^Bearer (.+)$/i.exec(h);
    const cookie = cookies ? /(?:^|;\s*)vmprof_token=([^;]+)/.exec(req.headers.cookie ?? "") : null;
    let given = m?.[1];
    if (given === undefined && cookie) {
      try {
        given = decodeURIComponent(cookie[1]);
      } catch {
        return false; // a malformed cookie is no token
      }
    }
    return given !== undefined && timingSafeEqual(digest(given), tokenDigest);
  };
  // Checked when the request's head arrives (onRequest), before any of its body is read.
  const needWrite = async (req: FastifyRequest) => {
    if (!authorized(req, false)) throw new HttpError(401, "missing or wrong token: send Authorization: Bearer TOKEN");
  };
  // An upload, once allowed, waits for one of its client's turns before its body is read.
  const slots = new ClientSlots(o.uploadsPerClient ?? 4);
  const needUploadTurn = async (req: FastifyRequest, reply: FastifyReply) => {
    await needWrite(req);
    const release = await slots.acquire(req.ip);
    reply.raw.once("close", release);
  };
  const needRead = async (req: FastifyRequest) => {
    if (o.authRead && !authorized(req, true)) throw new HttpError(401, "missing or wrong token: send Authorization: Bearer TOKEN");
  };

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    let status = err instanceof HttpError || err instanceof StoreUnavailableError ? err.status : (err.statusCode ?? 500);
    let message = err.message;
    if (err instanceof StoreUnavailableError) {
      reply.header("retry-after", "5");
    } else if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE" || err.code === "FST_REQ_FILE_TOO_LARGE") {
      status = 413;
      message = `body too large: the limit is ${maxBytes} bytes`;
    } else if (status >= 500) {
      message = "internal error";
      process.stderr.write(`vmprof-server: ${err.stack ?? err.message}\n`);
    }
    // A refused request whose body was never read (401 in onRequest, 413, 429): the connection is
    // closed after the answer rather than the rest of the body read and thrown away.
    const unread = !_req.raw.readableEnded && Number(_req.headers["content-length"] ?? 0) > 0;
    if (unread && (status === 401 || status === 413 || status === 429)) reply.header("connection", "close");
    reply.status(status).type("application/json").send({ error: message.split("\n")[0] });
  });
  app.setNotFoundHandler((_req, reply) => {
    reply.status(404).type("application/json").send({ error: "not found" });
  });

  const origin = (req: FastifyRequest) => `${req.protocol}://${req.headers.host ?? "127.0.0.1"}`;
  const labelsOf = (q: unknown): Record<string, string> => {
    const raw = (q as { label?: string | string[] }).label;
    const out: Record<string, string> = {};
    for (const l of raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]) {
      const m = /^([^=]+)=(.*)$/s.exec(l);
      if (!m) throw new HttpError(400, `label "${l}" is not key=value`);
      out[m[1]] = m[2];
    }
    return out;
  };
  const bodyOf = (req: FastifyRequest): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));

  // --- API ---
  app.post("/api/profiles", { onRequest: needUploadTurn }, async (req, reply) => {
    const q = req.query as { name?: string };
    const parsed = await parse({ body: bodyOf(req), name: q.name, labels: labelsOf(req.query), source: "upload" });
    const rec = await store.insert(parsed.record, parsed.data);
    retention.poke();
    reply.status(201).send({ id: rec.id, url: `${origin(req)}/profiles/${rec.id}` });
  });

  app.get("/api/profiles", { preHandler: needRead }, async (req) => {
    const q = listQuery(req.query as Record<string, unknown>);
    q.labels = labelsOf(req.query);
    const r = await store.list(q);
    return { total: r.total, offset: q.offset, limit: q.limit, profiles: r.profiles.map(({ summary: _s, ...rest }) => rest) };
  });

  const found = async (id: string) => {
    const rec = await store.get(validId(id));
    if (!rec) throw new HttpError(404, `no profile with id "${id}"`);
    return rec;
  };
  app.get("/api/profiles/:id", { preHandler: needRead }, async (req) => found((req.params as { id: string }).id));

  app.get("/api/profiles/:id/download", { preHandler: needRead }, async (req, reply) => {
    const rec = await found((req.params as { id: string }).id);
    const format = ((req.query as { format?: string }).format ?? "vmprof") as OutputFormat;
    if (!OUTPUT_FORMATS.includes(format)) throw new HttpError(400, `format must be one of ${OUTPUT_FORMATS.join(", ")}`);
    const release = readers.hold(rec.id);
    reply.raw.once("close", release);
    const data = await store.data(rec.id);
    // Deleted (through this or another server) since its record was read.
    if (!data) throw new HttpError(404, `no profile with id "${rec.id}"`);
    reply.header("content-type", DOWNLOAD_TYPE[format]).header("content-disposition", `attachment; filename="${rec.id}.${DOWNLOAD_EXT[format]}"`);
    if (format === "vmprof") return reply.send(Buffer.from(data));
    // Exports are made in the pool's workers: a large one never stalls other requests.
    const bytes = pool ? await pool.export({ data, name: rec.name, format }) : await exportStored(data, rec.name, format);
    return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  app.delete("/api/profiles/:id", { onRequest: needWrite }, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    if (!(await store.delete(validId(id)))) throw new HttpError(404, `no profile with id "${id}"`);
    reply.status(204).send();
  });

  // --- Pyroscope ingest: POST /ingest?name=app.cpu{k=v}&from=&until=&format=pprof|folded|lines|speedscope&sampleRate=&spyName= ---
  app.post("/ingest", { onRequest: needUploadTurn }, async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const { name, labels } = parsePyroscopeName(q.name);
    // Pyroscope's agents send pprof as a multipart "profile" field without a format parameter (the
    // Node agent up to 0.4; 0.6 sends it as the raw body with format=pprof); a raw body without one
    // is folded text (Pyroscope's default).
    const format = q.format ?? (req.isMultipart() ? "pprof" : "folded");
    const formats: Record<string, InputFormat> = { pprof: "pprof", folded: "collapsed", lines: "collapsed", speedscope: "speedscope" };
    if (!(format in formats)) throw new HttpError(415, `unsupported format "${format}"; accepted: ${Object.keys(formats).join(", ")}`);
    let body: Buffer = bodyOf(req);
    if (req.isMultipart()) {
      body = Buffer.alloc(0);
      for await (const part of req.parts()) {
        if (part.type === "file" && part.fieldname === "profile") body = await part.toBuffer();
        else if (part.type === "file") await part.toBuffer();
      }
      if (body.length === 0) throw new HttpError(400, 'multipart body has no "profile" file field');
    }
    // "lines": one stack per line, each one sample: folded text with a count of 1.
    if (format === "lines") body = Buffer.from(body.toString("utf8").split("\n").filter((l) => l.trim() !== "").map((l) => `${l.trimEnd()} 1\n`).join(""));
    if (q.spyName) labels.__spy_name__ = q.spyName;
    if (q.sampleRate) labels.__sample_rate__ = q.sampleRate;
    const parsed = await parse({ body, name, labels, source: "ingest", format: formats[format] });
    const from = pyroscopeTime(q.from, "from");
    const until = pyroscopeTime(q.until, "until");
    if (parsed.record.startTime === 0 && from !== undefined) parsed.record.startTime = from;
    if (from !== undefined && until !== undefined && until > from) parsed.record.durationUs = until - from;
    await store.insert(parsed.record, parsed.data);
    retention.poke();
    reply.status(200).send();
  });

  // --- UI ---
  app.get("/", { preHandler: needReadPage }, async (req, reply) => {
    const raw = req.query as Record<string, unknown>;
    const q = listQuery({ ...raw, limit: raw.limit ?? "50" });
    q.search = typeof raw.q === "string" ? raw.q : undefined;
    reply.type("text/html; charset=utf-8").send(listPage(await store.list(q), { search: q.search ?? "", offset: q.offset, limit: q.limit }));
  });
  app.get("/profiles/:id", { preHandler: needReadPage }, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const rec = await store.get(validId(id));
    if (!rec) {
      reply.status(404).type("text/html; charset=utf-8").send("<!doctype html><title>Not found</title><p>No such profile.</p>\n");
      return;
    }
    reply.type("text/html; charset=utf-8").send(profilePage(rec));
  });
  async function needReadPage(req: FastifyRequest, reply: FastifyReply) {
    if (!o.authRead || authorized(req, true)) return;
    // A browser brings the token once as ?token=; it is kept in a cookie for the viewer's requests.
    const t = (req.query as { token?: string }).token;
    if (t && tokenDigest && timingSafeEqual(digest(t), tokenDigest)) {
      const url = new URL(req.url, "http://x");
      url.searchParams.delete("token");
      reply.header("set-cookie", `vmprof_token=${encodeURIComponent(t)}; HttpOnly; SameSite=Strict; Path=/`).redirect(url.pathname + url.search, 303);
      return reply;
    }
    throw new HttpError(401, "missing or wrong token: open the page with ?token=TOKEN");
  }

  // --- Compare (compare.ts): GET /compare, /api/compare and /api/compare.svg ?base=ID&other=ID ---
  const compareSide = async (req: FastifyRequest, reply: FastifyReply, key: "base" | "other"): Promise<CompareSide> => {
    const raw = req.query as Record<string, unknown>;
    const v = raw[key];
    // A side may be a selection instead of an id: base.name=, base.label=k=v, base.from=, base.to=.
    const prefix = `${key}.`;
    const selection = Object.fromEntries(Object.entries(raw).filter(([k]) => k.startsWith(prefix)).map(([k, x]) => [k.slice(prefix.length), x]));
    if (v === undefined && Object.keys(selection).length > 0) {
      const { bytes, query } = await merged(selection, { format: "vmprof" });
      const search = new URLSearchParams();
      for (const [k, x] of Object.entries(selection)) for (const one of Array.isArray(x) ? x : [x]) search.append(k, String(one));
      return { id: "", name: `merge of ${describeSelection(query)}`, data: bytes, merge: search.toString() };
    }
    if (typeof v !== "string" || v === "") throw new HttpError(400, `${key} is required: a profile id, or a selection (${key}.name=, ${key}.label=k=v, ${key}.from=, ${key}.to=)`);
    if (!ID.test(v)) throw new HttpError(400, `${key} "${v}" is not a profile id (16 hex digits)`);
    reply.raw.once("close", readers.hold(v));
    const rec = await store.get(v);
    const data = rec ? await store.data(v) : undefined;
    if (!rec || !data) throw new HttpError(404, `no profile with id "${v}"`);
    return { id: rec.id, name: rec.name, data };
  };
  // The decoding and the comparison run in the pool's workers, as exports do.
  const compare = async (req: FastifyRequest, reply: FastifyReply, what: CompareJob["what"]): Promise<Buffer> => {
    const job: CompareJob = { base: await compareSide(req, reply, "base"), other: await compareSide(req, reply, "other"), what };
    const bytes = pool ? await pool.compare(job) : await compareStored(job);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  app.get("/api/compare", { preHandler: needRead }, async (req, reply) => reply.type("application/json").send(await compare(req, reply, "json")));
  app.get("/api/compare.svg", { preHandler: needRead }, async (req, reply) => reply.type("image/svg+xml").send(await compare(req, reply, "svg")));
  app.get("/compare", { preHandler: needReadPage }, async (req, reply) => {
    const parts = JSON.parse((await compare(req, reply, "page")).toString("utf8")) as ComparePage;
    const search = new URL(req.url, "http://x").searchParams;
    search.delete("token");
    reply.type("text/html; charset=utf-8").send(comparePage(parts, search.toString()));
  });

  // --- Merge (merge.ts): GET /api/merge and /merge ?name=&label=k=v&from=&to=[&format=] ---
  // Every upload the list query selects, merged one stored profile at a time in one worker.
  const merged = async (raw: Record<string, unknown>, out: MergeOutput): Promise<{ bytes: Buffer; query: ListQuery }> => {
    const q = listQuery({ ...raw, limit: undefined, offset: undefined });
    q.labels = labelsOf(raw);
    // What the merge needs of each record (not its summary).
    const records: Pick<ProfileRecord, "id" | "name" | "startTime">[] = [];
    for (let offset = 0; ; offset += 1000) {
      const page = await store.list({ ...q, limit: 1000, offset });
      if (offset === 0) checkSelection(page.total);
      records.push(...page.profiles.map(({ id, name, startTime }) => ({ id, name, startTime })));
      if (page.profiles.length < 1000 || records.length >= page.total) break;
    }
    const session = pool ? pool.mergeSession(mergeOrigin(records), records.length) : localMerge(mergeOrigin(records), records.length);
    let added = 0;
    for (const r of records) {
      const release = readers.hold(r.id);
      try {
        const data = await store.data(r.id);
        if (!data) continue; // deleted since it was listed
        await session.add(data, r.name);
        added++;
      } finally {
        release();
      }
    }
    if (added === 0) throw new HttpError(404, "no profile matches the selection");
    const bytes = await session.end(out);
    return { bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), query: q };
  };
  app.get("/api/merge", { preHandler: needRead }, async (req, reply) => {
    const format = ((req.query as { format?: string }).format ?? "vmprof") as OutputFormat;
    if (!OUTPUT_FORMATS.includes(format)) throw new HttpError(400, `format must be one of ${OUTPUT_FORMATS.join(", ")}`);
    const { bytes } = await merged(req.query as Record<string, unknown>, { format });
    reply.header("content-type", DOWNLOAD_TYPE[format]).header("content-disposition", `attachment; filename="merged.${DOWNLOAD_EXT[format]}"`);
    return reply.send(bytes);
  });
  app.get("/merge", { preHandler: needReadPage }, async (req, reply) => {
    const { bytes, query } = await merged(req.query as Record<string, unknown>, { page: true });
    const facts = JSON.parse(bytes.toString("utf8")) as MergeSummary;
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query as Record<string, string | string[]>)) for (const x of Array.isArray(v) ? v : [v]) if (k !== "token") search.append(k, x);
    reply.type("text/html; charset=utf-8").send(mergePage(facts, query, search.toString()));
  });

  const vdir = viewerDir();
  // The viewer (about 1 MB) is read once, at start.
  const viewerFiles = new Map<string, Buffer>(readdirSync(vdir).map((f) => [f, readFileSync(join(vdir, f))]));
  const TYPES: Record<string, string> = { html: "text/html; charset=utf-8", js: "text/javascript", css: "text/css", json: "application/json", png: "image/png", ico: "image/x-icon", woff2: "font/woff2", wasm: "application/wasm", txt: "text/plain" };
  app.get("/viewer/:file", async (req, reply) => {
    const file = (req.params as { file: string }).file;
    const body = viewerFiles.get(file);
    if (!body) throw new HttpError(404, "not found");
    reply.type(TYPES[file.slice(file.lastIndexOf(".") + 1)] ?? "application/octet-stream").header("cache-control", "max-age=3600");
    return reply.send(body);
  });
  app.get("/viewer/", async (_req, reply) => reply.redirect("/viewer/index.html"));

  return app;
}

/** Reads limit/offset/from/to of a list request; HttpError 400 for malformed values. */
function listQuery(raw: Record<string, unknown>): ListQuery {
  const int = (key: string, dflt: number, min: number, max: number): number => {
    const v = raw[key];
    if (v === undefined || v === "") return dflt;
    const n = Number(v);
    if (typeof v !== "string" || !/^\d+$/.test(v) || n < min || n > max) throw new HttpError(400, `${key} must be an integer from ${min} to ${max}, got "${String(v)}"`);
    return n;
  };
  const time = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined || v === "") return undefined;
    const s = String(v);
    const n = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
    if (!Number.isFinite(n)) throw new HttpError(400, `${key} must be ms since the epoch or an ISO date, got "${s}"`);
    return n;
  };
  return { name: typeof raw.name === "string" ? raw.name : undefined, from: time("from"), to: time("to"), limit: int("limit", 50, 1, 1000), offset: int("offset", 0, 0, 1e9) };
}

/** "app.cpu{env=prod,region=eu}" -> name and labels. HttpError 400 when malformed. */
export function parsePyroscopeName(raw: string | undefined): { name: string; labels: Record<string, string> } {
  if (!raw) throw new HttpError(400, "name is required (app.cpu{key=value,...})");
  const m = /^([^{}]+)(?:\{(.*)\})?$/s.exec(raw);
  if (!m) throw new HttpError(400, `name "${raw}" is not app{key=value,...}`);
  const labels: Record<string, string> = {};
  for (const part of (m[2] ?? "").split(",").filter((x) => x.trim() !== "")) {
    const kv = /^\s*([^=]+?)\s*=\s*(.*?)\s*$/s.exec(part);
    if (!kv) throw new HttpError(400, `label "${part}" in name is not key=value`);
    labels[kv[1]] = kv[2];
  }
  return { name: m[1].trim(), labels };
}

/** A Pyroscope from/until value in µs since the epoch; its unit is chosen by digit count (10: seconds). */
function pyroscopeTime(v: string | undefined, key: string): number | undefined {
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v)) throw new HttpError(400, `${key} must be a Unix time, got "${v}"`);
  const n = Number(v);
  const digits = v.length;
  return digits <= 10 ? n * 1e6 : digits <= 13 ? n * 1e3 : digits <= 16 ? n : n / 1e3;
}

/** A download's file name ending and content type, per format (vmprof: our format, gzipped). */
const DOWNLOAD_EXT: Record<OutputFormat, string> = { vmprof: "prof.gz", pprof: "pb.gz", speedscope: "speedscope.json", cpuprofile: "cpuprofile", collapsed: "collapsed", svg: "svg" };
const DOWNLOAD_TYPE: Record<OutputFormat, string> = {
  vmprof: "application/octet-stream",
  pprof: "application/octet-stream",
  speedscope: "application/json",
  cpuprofile: "application/json",
  collapsed: "text/plain; charset=utf-8",
  svg: "image/svg+xml",
};

/** A merge on the main thread, for a server without parse workers (the pool's mergeSession, in place). */
function localMerge(origin: number | undefined, count: number): { add(data: Uint8Array, name: string): Promise<void>; end(out: MergeOutput): Promise<Uint8Array> } {
  const state = new MergeState(origin, count);
  return { add: async (data, name) => state.add(data, name), end: async (out) => state.finish(out) };
}
