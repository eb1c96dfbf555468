/**
 * Where the server keeps profiles: one interface, two engines. `openStore` picks the engine from the
 * `--db` value: `postgres://` or `postgresql://` is a PostgreSQL database (any number of server
 * processes may share it), anything else the path of an embedded SQLite file (one server process).
 *
 * A profile is one row holding its bytes in our format (gzipped), the facts the list page shows, and a
 * summary; labels are rows of their own so lists can filter on them. Every write is one transaction: a
 * profile is stored whole or not at all, and a crash (kill -9) of the server never leaves part of one.
 */

/** A stored profile's facts (everything but its bytes). */
export interface ProfileRecord {
  /** 16 lowercase hex digits, random. */
  id: string;
  name: string;
  labels: Record<string, string>;
  /** When it was stored, ms since the Unix epoch. */
  uploadedAt: number;
  /** When the profile began, µs since the Unix epoch; 0 when unknown. */
  startTime: number;
  /** Length of the recording in µs; 0 when unknown. */
  durationUs: number;
  samples: number;
  /** The format it was uploaded in (vmprof, pprof, cpuprofile, speedscope, collapsed). */
  sourceFormat: string;
  /** Bytes stored (our format, gzipped). */
  size: number;
  /** What the profile page shows: see summary.ts. */
  summary: unknown;
}

/** What `Store.insert` takes: a record without the id and size the store gives it. */
export type NewProfile = Omit<ProfileRecord, "id" | "size">;

/** A list query. Times are ms since the epoch, compared with the upload time. */
export interface ListQuery {
  /** Substring of the name (case-insensitive). */
  name?: string;
  /** Every label must match exactly. */
  labels?: Record<string, string>;
  /** Free text: name or any label value contains it. */
  search?: string;
  /** Uploaded at or after, ms since the epoch (inclusive). */
  from?: number;
  /** Uploaded before, ms since the epoch (exclusive). */
  to?: number;
  limit: number;
  offset: number;
}

/**
 * The profile store, whatever the engine. Every method may reject with StoreUnavailableError when the
 * database cannot be reached (the HTTP answer is 503); nothing is written then.
 */
export interface Store {
  /** What the store is, for messages: the file's path or the URL without its password. */
  readonly description: string;
  /** Stores a profile (one transaction); resolves to its record once it is durable. */
  insert(p: NewProfile, data: Uint8Array): Promise<ProfileRecord>;
  /** Stores several profiles in one transaction (all or none): bulk loading. */
  insertMany(items: { profile: NewProfile; data: Uint8Array }[]): Promise<ProfileRecord[]>;
  /** The profiles matching `q`, newest first, and how many match in all. */
  list(q: ListQuery): Promise<{ total: number; profiles: ProfileRecord[] }>;
  /** One profile's record, or undefined. */
  get(id: string): Promise<ProfileRecord | undefined>;
  /** One profile's stored bytes (our format, gzipped), or undefined. */
  data(id: string): Promise<Uint8Array | undefined>;
  /** Deletes a profile and its labels (one statement); false when there was none. */
  delete(id: string): Promise<boolean>;
  /** The `limit` oldest profiles (by upload time, then id): id, bytes stored, upload time (ms since the epoch). */
  oldest(limit: number): Promise<{ id: string; size: number; uploadedAt: number }[]>;
  /** Bytes stored in all (the sum of every profile's `size`). */
  totalBytes(): Promise<number>;
  /** Releases the database (and, for SQLite, the file's lock). */
  close(): Promise<void>;
}

/**
 * The schema this server writes. Both engines record it in the database (SQLite: `PRAGMA user_version`;
 * PostgreSQL: the table `vmprof_schema`) and migrate an older one at open; a newer one is refused.
 * 1: profiles and labels (the first versioned schema; files of earlier servers have the same tables).
 */
export const SCHEMA_VERSION = 1;

/** The database cannot be reached now (lost connection, server down): the request may be retried. */
export class StoreUnavailableError extends Error {
  /** The HTTP status such a failure is answered with. */
  readonly status = 503;
}

/** The database cannot be opened at start (unreachable, locked by another process, newer schema). */
export class StoreOpenError extends Error {}

/** Whether `db` (the --db value) names a PostgreSQL database rather than a SQLite file. */
export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//i.test(db);

/**
 * Opens the store `db` names (see isPostgresUrl), creating or migrating its schema. Rejects with
 * StoreOpenError, one line naming the database, when it cannot.
 */
export async function openStore(db: string): Promise<Store> {
  if (isPostgresUrl(db)) {
    const { PostgresStore } = await import("./store-postgres.js");
    return PostgresStore.open(db);
  }
  const { SqliteStore } = await import("./store-sqlite.js");
  return SqliteStore.open(db);
}

/** Columns of a record (everything but data), in the order `recordRow` gives them. */
export const COLUMNS = "id, name, uploaded_at, start_time, duration_us, samples, source_format, size, labels, summary";

/** A record's column values, in COLUMNS' order. */
export function recordRow(r: ProfileRecord): (string | number)[] {
  return [r.id, r.name, r.uploadedAt, Math.round(r.startTime), Math.round(r.durationUs), r.samples, r.sourceFormat, r.size, JSON.stringify(r.labels), JSON.stringify(r.summary)];
}

/** A row of COLUMNS as a record (integers may come as strings or bigints: PostgreSQL's bigint). */
export function toRecord(r: Record<string, unknown>): ProfileRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    labels: JSON.parse(String(r.labels)) as Record<string, string>,
    uploadedAt: Number(r.uploaded_at),
    startTime: Number(r.start_time),
    durationUs: Number(r.duration_us),
    samples: Number(r.samples),
    sourceFormat: String(r.source_format),
    size: Number(r.size),
    summary: JSON.parse(String(r.summary)),
  };
}

/**
 * The WHERE clause of a list query and its arguments, in either engine's SQL: `param(n)` spells the
 * n-th (1-based) parameter, and `instr` names the substring function (SQLite's instr, PostgreSQL's
 * strpos: both take haystack, needle and answer a 1-based position or 0).
 */
export function listWhere(q: ListQuery, param: (n: number) => string, instr: string): { clause: string; args: (string | number)[] } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  const p = (v: string | number) => {
    args.push(v);
    return param(args.length);
  };
  if (q.name) where.push(`${instr}(lower(name), lower(${p(q.name)})) > 0`);
  for (const [k, v] of Object.entries(q.labels ?? {})) where.push(`id IN (SELECT profile_id FROM labels WHERE key = ${p(k)} AND value = ${p(v)})`);
  if (q.search) {
    where.push(`(${instr}(lower(name), lower(${p(q.search)})) > 0 OR id IN (SELECT profile_id FROM labels WHERE ${instr}(lower(value), lower(${p(q.search)})) > 0))`);
  }
  if (q.from !== undefined) where.push(`uploaded_at >= ${p(q.from)}`);
  if (q.to !== undefined) where.push(`uploaded_at < ${p(q.to)}`);
  return { clause: where.length > 0 ? `WHERE ${where.join(" AND ")}` : "", args };
}
