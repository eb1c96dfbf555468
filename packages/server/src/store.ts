/**
 * Where the server keeps profiles: one SQLite file (node-sqlite3-wasm: SQLite compiled to WebAssembly
 * with direct file access, so nothing to build or set up). A profile is stored as one row holding
 * its bytes in our format (gzipped), the facts the list page shows, and a summary; labels are rows
 * of their own so lists can filter on them. Every write is one transaction: a profile is stored whole
 * or not at all.
 */
import { randomBytes } from "node:crypto";
import sqlite from "node-sqlite3-wasm";

const { Database } = sqlite;
type Database = InstanceType<typeof Database>;

/** A stored profile's facts (everything but its bytes). */
export interface ProfileRecord {
  /** 16 hex digits, random. */
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

/** A list query. Times are ms since the epoch, compared with the upload time. */
export interface ListQuery {
  /** Substring of the name (case-insensitive). */
  name?: string;
  /** Every label must match exactly. */
  labels?: Record<string, string>;
  /** Free text: name or any label value contains it. */
  search?: string;
  from?: number;
  to?: number;
  limit: number;
  offset: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS profiles (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  uploaded_at INTEGER NOT NULL,
  start_time INTEGER NOT NULL,
  duration_us INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  source_format TEXT NOT NULL,
  size INTEGER NOT NULL,
  labels TEXT NOT NULL,
  summary TEXT NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS profiles_uploaded ON profiles (uploaded_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS profiles_name ON profiles (name);
CREATE TABLE IF NOT EXISTS labels (
  profile_id TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (profile_id, key)
);
CREATE INDEX IF NOT EXISTS labels_kv ON labels (key, value);
`;

const COLUMNS = "id, name, uploaded_at, start_time, duration_us, samples, source_format, size, labels, summary";

function toRecord(r: Record<string, unknown>): ProfileRecord {
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

/** The profile store. Not safe for several processes on one file at once. */
export class Store {
  private readonly db: Database;

  /** Opens (creating when missing) the database file at `path`. */
  constructor(readonly path: string) {
    this.db = new Database(path);
    this.db.exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;");
    this.db.exec(SCHEMA);
  }

  /** Stores a profile; returns its record. */
  insert(p: Omit<ProfileRecord, "id" | "size">, data: Uint8Array): ProfileRecord {
    const id = randomBytes(8).toString("hex");
    const own = !this.db.inTransaction;
    if (own) this.db.exec("BEGIN");
    try {
      this.db.run(
        `INSERT INTO profiles (${COLUMNS}, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, p.name, p.uploadedAt, Math.round(p.startTime), Math.round(p.durationUs), p.samples, p.sourceFormat, data.length, JSON.stringify(p.labels), JSON.stringify(p.summary), data],
      );
      for (const [k, v] of Object.entries(p.labels)) this.db.run("INSERT INTO labels (profile_id, key, value) VALUES (?, ?, ?)", [id, k, v]);
      if (own) this.db.exec("COMMIT");
    } catch (e) {
      if (own) this.db.exec("ROLLBACK");
      throw e;
    }
    return { ...p, id, size: data.length };
  }

  /** The profiles matching `q`, newest first, and how many match in all. */
  list(q: ListQuery): { total: number; profiles: ProfileRecord[] } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.name) {
      where.push("instr(lower(name), lower(?)) > 0");
      args.push(q.name);
    }
    for (const [k, v] of Object.entries(q.labels ?? {})) {
      where.push("id IN (SELECT profile_id FROM labels WHERE key = ? AND value = ?)");
      args.push(k, v);
    }
    if (q.search) {
      where.push("(instr(lower(name), lower(?)) > 0 OR id IN (SELECT profile_id FROM labels WHERE instr(lower(value), lower(?)) > 0))");
      args.push(q.search, q.search);
    }
    if (q.from !== undefined) {
      where.push("uploaded_at >= ?");
      args.push(q.from);
    }
    if (q.to !== undefined) {
      where.push("uploaded_at < ?");
      args.push(q.to);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    const total = Number(this.db.get(`SELECT count(*) AS n FROM profiles ${clause}`, args)?.n ?? 0);
    const rows = this.db.all(`SELECT ${COLUMNS} FROM profiles ${clause} ORDER BY uploaded_at DESC, id DESC LIMIT ? OFFSET ?`, [...args, q.limit, q.offset]);
    return { total, profiles: rows.map((r) => toRecord(r as Record<string, unknown>)) };
  }

  /** One profile's record, or undefined. */
  get(id: string): ProfileRecord | undefined {
    const r = this.db.get(`SELECT ${COLUMNS} FROM profiles WHERE id = ?`, [id]);
    return r ? toRecord(r as Record<string, unknown>) : undefined;
  }

  /** One profile's stored bytes (our format, gzipped), or undefined. */
  data(id: string): Uint8Array | undefined {
    const r = this.db.get("SELECT data FROM profiles WHERE id = ?", [id]);
    return r ? (r.data as Uint8Array) : undefined;
  }

  /** Deletes a profile; false when there was none. */
  delete(id: string): boolean {
    return this.db.run("DELETE FROM profiles WHERE id = ?", [id]).changes > 0;
  }

  /** Runs `fn` in one transaction (for bulk loading). */
  transaction<T>(fn: () => T): T {
    this.db.exec("BEGIN");
    try {
      const out = fn();
      this.db.exec("COMMIT");
      return out;
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
