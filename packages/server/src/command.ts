/** The `vmprof-server` command: flags in, the store and the app, then serve until SIGTERM or SIGINT. */
import { Command, Flags } from "@oclif/core";
import { buildServer } from "./app.js";
import { StoreOpenError, openStore, type Store } from "./store.js";

export default class ServerCommand extends Command {
  static override summary = "Serve profiles: an upload API, Pyroscope's /ingest, and a web UI with speedscope's viewer, stored in one SQLite file or in PostgreSQL.";
  static override description = `Binds to 127.0.0.1 unless --host says otherwise. With --token (or VMPROF_TOKEN), uploads and deletes need "Authorization: Bearer TOKEN"; --auth-read makes reading need it too (a browser passes it once as ?token=). Prints the server's URL on stdout when it listens. SIGTERM or SIGINT: stops accepting, finishes the requests in flight, closes the database, exits 0. --db is a SQLite file (one server process owns it; a second is refused, exit 2) or postgres://USER[:PASSWORD]@HOST:PORT/DB (any number of server processes share it; the schema is created and migrated at start). A database that cannot be opened at start: one line naming it, exit 2; one lost while serving: 503 until it is back.`;
  static override examples = [
    "vmprof-server --port 8000 --db profiles.db",
    "vmprof-server --db postgres://vmprof@db.internal:5432/profiles",
    "VMPROF_TOKEN=secret vmprof-server --host 0.0.0.0 --auth-read",
    "vmprof-upload --url http://127.0.0.1:8000 out.prof",
  ];
  static override flags = {
    port: Flags.integer({ summary: "Port to listen on (0: any free port).", default: 8000, min: 0, max: 65535 }),
    host: Flags.string({ summary: "Address to bind.", default: "127.0.0.1" }),
    db: Flags.string({ summary: "SQLite file (created when missing) or postgres://USER@HOST:PORT/DB.", default: "vmprof.db", helpValue: "FILE|URL" }),
    token: Flags.string({ summary: "Bearer token uploads need [default: $VMPROF_TOKEN].", env: "VMPROF_TOKEN" }),
    "auth-read": Flags.boolean({ summary: "Reading needs the token too.", dependsOn: ["token"] }),
    "max-size": Flags.integer({ summary: "Largest upload in MB; larger gets 413 (and so does a gzipped one inflating past 20 times this).", default: 100, min: 1 }),
    "max-samples": Flags.integer({ summary: "Most samples one upload may expand to; more gets 413.", default: 20_000_000, min: 1 }),
    retain: Flags.string({ summary: "Delete profiles uploaded more than this many days ago (fractions allowed), continuously, oldest first.", helpValue: "DAYS" }),
    "max-bytes": Flags.string({ summary: "Delete the oldest profiles while more than this is stored (bytes, or with K, M, G, T: powers of 1024).", helpValue: "SIZE" }),
    "uploads-per-client": Flags.integer({ summary: "Uploads of one client address read at once; more wait, unread (256 waiting: 429).", default: 4, min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServerCommand);
    const retainDays = flags.retain === undefined ? undefined : Number(flags.retain);
    if (retainDays !== undefined && !(retainDays > 0 && Number.isFinite(retainDays))) {
      process.stderr.write(`vmprof-server: --retain: expected a positive number of days, got "${flags.retain}"\n`);
      this.exit(2);
    }
    const maxBytes = flags["max-bytes"] === undefined ? undefined : parseSize(flags["max-bytes"]);
    if (maxBytes !== undefined && !(maxBytes > 0)) {
      process.stderr.write(`vmprof-server: --max-bytes: expected a size such as 500M or 20G, got "${flags["max-bytes"]}"\n`);
      this.exit(2);
    }
    let store: Store;
    try {
      store = await openStore(flags.db);
    } catch (e) {
      // StoreOpenError's message names the database and says why, in one line.
      process.stderr.write(`vmprof-server: ${e instanceof StoreOpenError ? e.message : `${flags.db}: cannot open the database (${(e as Error).message})`}\n`);
      this.exit(2);
    }
    const app = buildServer({ store: store!, token: flags.token, authRead: flags["auth-read"], maxBytes: flags["max-size"] * 1024 * 1024, maxSamples: flags["max-samples"], uploadsPerClient: flags["uploads-per-client"], retention: { retainDays, maxBytes } });
    try {
      await app.listen({ port: flags.port, host: flags.host });
    } catch (e) {
      await store!.close();
      process.stderr.write(`vmprof-server: cannot listen on ${flags.host}:${flags.port} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})\n`);
      this.exit(2);
    }
    const addr = app.server.address() as { port: number; address: string };
    const host = addr.address.includes(":") ? `[${addr.address}]` : addr.address;
    process.stdout.write(`http://${host}:${addr.port}/\n`);
    process.stderr.write(`vmprof-server: serving ${store!.description} on http://${host}:${addr.port}/${flags.token ? " (uploads need the token)" : ""}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.stderr.write("vmprof-server: stopping: finishing requests in flight\n");
        void app
          .close()
          .then(() => store!.close())
          .then(resolve, resolve);
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
  }
}

/** "500M" -> bytes (K, M, G, T are powers of 1024; a bare number is bytes); NaN when malformed. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!m) return NaN;
  return Math.floor(Number(m[1]) * 1024 ** " kmgt".indexOf(m[2].toLowerCase() || " "));
}
