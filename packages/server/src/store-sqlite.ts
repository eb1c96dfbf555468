/**
 * The embedded engine: one SQLite file through better-sqlite3 (SQLite itself, with the operating
 * system's file locks). Chosen for crash safety: in WAL mode with synchronous=FULL a transaction is on
 * disk before its insert returns, and after a kill -9 the next open replays the WAL. The file is opened
 * with locking_mode=EXCLUSIVE and locked at once: one server process owns it for its whole life, a
 * second one is refused at start, and the lock is an fcntl lock the kernel drops when the process dies
 * (nothing stale is left behind to remove by hand). The WAL index lives in the process's memory (no
 * -shm file), which exclusive mode allows.
 *
 * better-sqlite3 is synchronous: each call runs on the main thread. Single-row reads and writes take
 * microseconds to a millisecond (a commit's fsync is the cost), and uploads are parsed in workers.
 */
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { COLUMNS, SCHEMA_VERSION, StoreOpenError, listWhere, recordRow, toRecord, type ListQuery, type NewProfile, type ProfileRecord, type Store } from "./store.js";

const SCHEMA_1 = `
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

/** Schema migrations: MIGRATIONS[v - 1] brings a file from version v - 1 to v. */
const MIGRATIONS = [SCHEMA_1];

/** The profile store in one SQLite file, owned by this process until close(). */
export class SqliteStore implements Store {
  private constructor(
    private readonly db: Database.Database,
    readonly description: string,
  ) {}

  /**
   * Opens (creating when missing) the SQLite file at `path`, takes its exclusive lock and migrates its
   * schema. StoreOpenError when it cannot be opened, another process holds it, or its schema is newer.
   */
  static async open(path: string): Promise<SqliteStore> {
    let db: Database.Database | undefined;
    try {
      // timeout 0: a file another process holds is refused at once rather than waited for.
      db = new Database(path, { timeout: 0 });
      // Exclusive before WAL: the WAL index then lives in this process's heap, not in a shared file.
      db.pragma("locking_mode = EXCLUSIVE");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      // The first write transaction takes the exclusive lock, held until close (or death).
      db.exec("BEGIN EXCLUSIVE");
      const version = Number(db.pragma("user_version", { simple: true }));
      if (version > SCHEMA_VERSION) throw new StoreOpenError(`${path}: schema version ${version} is newer than this server's (${SCHEMA_VERSION}): run a newer vmprof-server`);
      for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      db.exec("COMMIT");
      return new SqliteStore(db, path);
    } catch (e) {
      db?.close();
      if (e instanceof StoreOpenError) throw e;
      const code = (e as { code?: string }).code;
      if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") throw new StoreOpenError(`${path}: the database is in use by another process (one vmprof-server per SQLite file; for several, use PostgreSQL)`);
      throw new StoreOpenError(`${path}: cannot open the database (${(e as Error).message})`);
    }
  }

  private insertRows(p: NewProfile, data: Uint8Array): ProfileRecord {
    const rec: ProfileRecord = { ...p, id: randomBytes(8).toString("hex"), size: data.length };
    this.db.prepare(`INSERT INTO profiles (${COLUMNS}, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...recordRow(rec), data);
    const label = this.db.prepare("INSERT INTO labels (profile_id, key, value) VALUES (?, ?, ?)");
    for (const [k, v] of Object.entries(p.labels)) label.run(rec.id, k, v);
    return rec;
  }

  async insert(p: NewProfile, data: Uint8Array): Promise<ProfileRecord> {
    return this.db.transaction(() => this.insertRows(p, data))();
  }

  async insertMany(items: { profile: NewProfile; data: Uint8Array }[]): Promise<ProfileRecord[]> {
    return this.db.transaction(() => items.map((i) => this.insertRows(i.profile, i.data)))();
  }

  async list(q: ListQuery): Promise<{ total: number; profiles: ProfileRecord[] }> {
    const { clause, args } = listWhere(q, () => "?", "instr");
    const total = Number((this.db.prepare(`SELECT count(*) AS n FROM profiles ${clause}`).get(...args) as { n: number }).n);
    const rows = this.db.prepare(`SELECT ${COLUMNS} FROM profiles ${clause} ORDER BY uploaded_at DESC, id DESC LIMIT ? OFFSET ?`).all(...args, q.limit, q.offset);
    return { total, profiles: rows.map((r) => toRecord(r as Record<string, unknown>)) };
  }

  async get(id: string): Promise<ProfileRecord | undefined> {
    const r = this.db.prepare(`SELECT ${COLUMNS} FROM profiles WHERE id = ?`).get(id);
    return r ? toRecord(r as Record<string, unknown>) : undefined;
  }

  async data(id: string): Promise<Uint8Array | undefined> {
    const r = this.db.prepare("SELECT data FROM profiles WHERE id = ?").get(id) as { data: Buffer } | undefined;
    return r?.data;
  }

  async delete(id: string): Promise<boolean> {
    return this.db.prepare("DELETE FROM profiles WHERE id = ?").run(id).changes > 0;
  }

  async oldest(limit: number): Promise<{ id: string; size: number; uploadedAt: number }[]> {
    const rows = this.db.prepare("SELECT id, size, uploaded_at FROM profiles ORDER BY uploaded_at ASC, id ASC LIMIT ?").all(limit) as { id: string; size: number; uploaded_at: number }[];
    return rows.map((r) => ({ id: r.id, size: Number(r.size), uploadedAt: Number(r.uploaded_at) }));
  }

  async totalBytes(): Promise<number> {
    return Number((this.db.prepare("SELECT coalesce(sum(size), 0) AS n FROM profiles").get() as { n: number }).n);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
