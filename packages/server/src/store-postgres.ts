/**
 * The shared engine: a PostgreSQL database through the `pg` client's connection pool. Server processes
 * keep no state of their own, so any number of them may serve one database. The schema is created and
 * migrated at open under an advisory lock (processes starting together migrate once), and its version
 * is kept in the table vmprof_schema. A profile is written in one transaction on one connection: a
 * server killed or a connection lost in the middle leaves nothing of it.
 *
 * When the database goes away while serving, requests that need it reject with StoreUnavailableError
 * (503); the pool opens new connections when it is back, with nothing to restart.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { COLUMNS, SCHEMA_VERSION, StoreOpenError, StoreUnavailableError, listWhere, recordRow, toRecord, type ListQuery, type NewProfile, type ProfileRecord, type Store } from "./store.js";

/** Migrations: MIGRATIONS[v - 1] brings a database from version v - 1 to v. */
const MIGRATIONS = [
  `CREATE TABLE profiles (
     id text PRIMARY KEY,
     name text NOT NULL,
     uploaded_at bigint NOT NULL,
     start_time bigint NOT NULL,
     duration_us bigint NOT NULL,
     samples bigint NOT NULL,
     source_format text NOT NULL,
     size bigint NOT NULL,
     labels text NOT NULL,
     summary text NOT NULL,
     data bytea NOT NULL
   );
   CREATE INDEX profiles_uploaded ON profiles (uploaded_at DESC, id DESC);
   CREATE INDEX profiles_name ON profiles (name);
   CREATE TABLE labels (
     profile_id text NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
     key text NOT NULL,
     value text NOT NULL,
     PRIMARY KEY (profile_id, key)
   );
   CREATE INDEX labels_kv ON labels (key, value);`,
];

/** The advisory lock key that serializes migrations ("vmprof" in ASCII). */
const MIGRATION_LOCK = 0x766d70726f66;

/** How long a request waits for a connection before it is answered 503, in ms. */
const CONNECT_TIMEOUT_MS = 5000;

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Whether `e` means the database cannot be reached (rather than a bad statement): a socket error, a
 * connection ended or timed out, or PostgreSQL's classes 08 (connection exception) and 57P (operator
 * intervention: shutdown, starting up), and 53300 (too many connections).
 */
export function isConnectionError(e: unknown): boolean {
  const code = String((e as { code?: unknown })?.code ?? "");
  if (/^(E[A-Z]+)$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ENOTFOUND, ETIMEDOUT, EPIPE, ENOENT (socket)...
  if (code.startsWith("08") || code.startsWith("57P") || code === "53300") return true;
  const m = (e as Error)?.message ?? "";
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(m);
}

/** The profile store in a PostgreSQL database, shared with other server processes. */
export class PostgresStore implements Store {
  /** Whether the last request found the database unreachable (its loss and return are logged once). */
  private down = false;

  private constructor(
    private readonly pool: pg.Pool,
    readonly description: string,
  ) {}

  /**
   * Connects to `url` (postgres://USER[:PASSWORD]@HOST:PORT/DB) and creates or migrates the schema.
   * StoreOpenError, one line naming the database, when it cannot be reached or its schema is newer.
   */
  static async open(url: string): Promise<PostgresStore> {
    const description = redactUrl(url);
    const pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, max: 10 });
    // An idle connection the server closes (restart, shutdown) is an event, not a crash; the pool
    // drops it and the next request opens a new one.
    pool.on("error", (e) => process.stderr.write(`vmprof-server: ${description}: connection lost (${e.message.split("\n")[0]})\n`));
    // Every connection keeps a listener of its own for as long as it lives: the pool listens only
    // while a connection is idle, and pool.query only for the first error, so a connection that
    // PostgreSQL ends while it is checked out (or that reports its end twice) would otherwise emit
    // "error" with no listener and end the process (seen in CI when PostgreSQL was stopped under
    // requests). What the failure means reaches the request that used it as a rejected query.
    pool.on("connect", (client) => client.on("error", () => {}));
    try {
      await withTransaction(pool, async (c) => {
        await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
        await c.query("CREATE TABLE IF NOT EXISTS vmprof_schema (version integer NOT NULL)");
        const r = await c.query<{ version: number }>("SELECT version FROM vmprof_schema");
        const version = r.rows[0]?.version ?? 0;
        if (version > SCHEMA_VERSION) throw new StoreOpenError(`${description}: schema version ${version} is newer than this server's (${SCHEMA_VERSION}): run a newer vmprof-server`);
        for (let v = version; v < SCHEMA_VERSION; v++) await c.query(MIGRATIONS[v]);
        if (r.rows.length === 0) await c.query("INSERT INTO vmprof_schema (version) VALUES ($1)", [SCHEMA_VERSION]);
        else await c.query("UPDATE vmprof_schema SET version = $1", [SCHEMA_VERSION]);
      });
    } catch (e) {
      await pool.end().catch(() => {});
      if (e instanceof StoreOpenError) throw e;
      const err = e as Error & { code?: string };
      throw new StoreOpenError(`${description}: cannot open the database (${err.message.split("\n")[0] || err.code || String(e)})`);
    }
    return new PostgresStore(pool, description);
  }

  /** Runs `q`, turning connection failures into StoreUnavailableError. */
  private async query<R extends pg.QueryResultRow>(text: string, args: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return this.reached(await this.pool.query<R>(text, args));
    } catch (e) {
      throw this.failure(e);
    }
  }

  /** `out`, noting that the database answered. */
  private reached<T>(out: T): T {
    if (this.down) process.stderr.write(`vmprof-server: ${this.description}: reachable again\n`);
    this.down = false;
    return out;
  }

  /** What a failed request rejects with: StoreUnavailableError (503) when the database is out of reach. */
  private failure(e: unknown): unknown {
    if (!isConnectionError(e)) return e;
    if (!this.down) process.stderr.write(`vmprof-server: ${this.description}: unreachable (${((e as Error).message ?? String(e)).split("\n")[0]}): answering 503 until it is back\n`);
    this.down = true;
    // The client learns that the database is out of reach, not where it is.
    return new StoreUnavailableError("the database is unavailable: try again later");
  }

  private async insertRows(c: pg.PoolClient, p: NewProfile, data: Uint8Array): Promise<ProfileRecord> {
    const rec: ProfileRecord = { ...p, id: randomBytes(8).toString("hex"), size: data.length };
    await c.query(`INSERT INTO profiles (${COLUMNS}, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, [...recordRow(rec), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
    const labels = Object.entries(p.labels);
    if (labels.length > 0) {
      const values = labels.map((_, i) => `($1, $${2 * i + 2}, $${2 * i + 3})`).join(", ");
      await c.query(`INSERT INTO labels (profile_id, key, value) VALUES ${values}`, [rec.id, ...labels.flat()]);
    }
    return rec;
  }

  async insert(p: NewProfile, data: Uint8Array): Promise<ProfileRecord> {
    try {
      return this.reached(await withTransaction(this.pool, (c) => this.insertRows(c, p, data)));
    } catch (e) {
      throw this.failure(e);
    }
  }

  async insertMany(items: { profile: NewProfile; data: Uint8Array }[]): Promise<ProfileRecord[]> {
    try {
      const out: ProfileRecord[] = [];
      await withTransaction(this.pool, async (c) => {
        for (const i of items) out.push(await this.insertRows(c, i.profile, i.data));
      });
      return this.reached(out);
    } catch (e) {
      throw this.failure(e);
    }
  }

  async list(q: ListQuery): Promise<{ total: number; profiles: ProfileRecord[] }> {
    const { clause, args } = listWhere(q, (n) => `$${n}`, "strpos");
    const n = args.length;
    // Two statements in one read-only snapshot: the count and the page agree. (One statement with
    // count(*) OVER () made PostgreSQL read and sort every matching row for a page of 50: 148 ms at
    // 100,000 profiles; the page alone walks the upload-time index.)
    try {
      return this.reached(
        await withTransaction(
          this.pool,
          async (c) => {
            const total = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM profiles ${clause}`, args)).rows[0].n);
            const r = await c.query(`SELECT ${COLUMNS} FROM profiles ${clause} ORDER BY uploaded_at DESC, id DESC LIMIT $${n + 1} OFFSET $${n + 2}`, [...args, q.limit, q.offset]);
            return { total, profiles: r.rows.map((row) => toRecord(row)) };
          },
          "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        ),
      );
    } catch (e) {
      throw this.failure(e);
    }
  }

  async get(id: string): Promise<ProfileRecord | undefined> {
    const r = await this.query(`SELECT ${COLUMNS} FROM profiles WHERE id = $1`, [id]);
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  async data(id: string): Promise<Uint8Array | undefined> {
    const r = await this.query<{ data: Buffer }>("SELECT data FROM profiles WHERE id = $1", [id]);
    return r.rows[0]?.data;
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.query("DELETE FROM profiles WHERE id = $1", [id])).rowCount ?? 0) > 0;
  }

  async oldest(limit: number): Promise<{ id: string; size: number; uploadedAt: number }[]> {
    const r = await this.query<{ id: string; size: string; uploaded_at: string }>("SELECT id, size, uploaded_at FROM profiles ORDER BY uploaded_at ASC, id ASC LIMIT $1", [limit]);
    return r.rows.map((x) => ({ id: x.id, size: Number(x.size), uploadedAt: Number(x.uploaded_at) }));
  }

  async totalBytes(): Promise<number> {
    return Number((await this.query<{ n: string }>("SELECT coalesce(sum(size), 0) AS n FROM profiles", [])).rows[0].n);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Runs `fn` in one transaction on one connection of `pool`: committed when it resolves, rolled back when it throws. */
async function withTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, begin = "BEGIN"): Promise<T> {
  const c = await pool.connect();
  let broken: unknown;
  // A checked-out connection the server ends (shutdown, network) emits "error": without a listener
  // that would end the process; the query in progress rejects as well.
  const lost = (e: Error) => (broken = e);
  c.on("error", lost);
  try {
    await c.query(begin);
    const out = await fn(c);
    await c.query("COMMIT");
    return out;
  } catch (e) {
    broken ??= e;
    await c.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    // A connection that failed is not given back for reuse. It keeps our listener: its socket may
    // still report the failure after it is released, and an "error" without a listener ends the
    // process (seen when PostgreSQL was stopped under a stream of list requests). One given back is
    // watched by the pool again.
    const failed = broken !== undefined && isConnectionError(broken);
    if (!failed) c.off("error", lost);
    c.release(failed ? (broken as Error) : undefined);
  }
}
