/** Metadata helpers: redaction of secrets from command lines and environments. CommonJS, so that the
 * sampler's preload (loaded with --require in every profiled process) can use it without loading the rest. */

/** What replaces a redacted value. */
export const REDACTED = "<redacted>";

/**
 * Matched against the lower-cased name: a case-insensitive (/i) regular expression costs V8 about
 * 0.5 ms more to compile, in every profiled process's start.
 */
const SECRET_NAME = /(pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credential|auth|session|cookie|_key$|^key$|-key$)/;

/** True when a flag or variable name looks like it carries a secret (any case). */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.replace(/^-+/, "").toLowerCase());
}

/**
 * Short flags whose value is a secret, for the programs that take them so (`mysql -p`, `sshpass -p`,
 * `redis-cli -a`): `-p VALUE` and `-pVALUE` after such a program's name. Elsewhere `-p` is a
 * project, a port or node's print, and is kept.
 */
const SECRET_SHORT_FLAGS: Record<string, readonly string[]> = {
  mysql: ["-p"],
  mysqldump: ["-p"],
  mysqladmin: ["-p"],
  mariadb: ["-p"],
  sshpass: ["-p"],
  mongo: ["-p"],
  mongosh: ["-p"],
  "redis-cli": ["-a"],
};

/** Flags whose value is `user:password` (`curl -u`, `--user`): the password part is a secret. */
const USER_PASSWORD_FLAGS = new Set(["-u", "--user", "--proxy-user"]);

/** A header as a value (`-H "Authorization: Bearer x"`): its value is a secret when its name is. */
const HEADER = /^(\s*[A-Za-z][\w-]*\s*:\s*)(.+)$/;

/** Credentials written in a value of any kind: `Bearer x`, `Basic x`, and a URL's password. */
function redactInline(a: string): string {
  // Both need a space or "://": most arguments have neither, and skip compiling the expressions.
  if (!a.includes("://") && !/\s/.test(a)) return a;
  return a.replace(/\b(Bearer|Basic|Token)\s+[^\s"']+/gi, `$1 ${REDACTED}`).replace(/(\w+:\/\/[^:/@\s]+:)[^@\s]+@/g, `$1${REDACTED}@`);
}

/**
 * Returns argv with secret-looking values replaced: `--token=x` and `--token x` become
 * `--token=<redacted>` / `--token <redacted>`, `API_KEY=x` becomes `API_KEY=<redacted>`, `-p x` and
 * `-px` hide x after a program that takes a password so (SECRET_SHORT_FLAGS), `-u user:pw` keeps only the user, a header-shaped value with a secret-looking name
 * (`Authorization: Bearer x`, `Cookie: ...`) keeps only its name, and `Bearer x`, `Basic x` and a
 * URL's password (`https://u:pw@host`) are hidden wherever they appear.
 */
export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let secretShort: readonly string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const program = SECRET_SHORT_FLAGS[a.slice(a.lastIndexOf("/") + 1)];
    if (program) secretShort = program;
    const eq = a.indexOf("=");
    const next = i + 1 < argv.length ? argv[i + 1] : undefined;
    const header = HEADER.exec(a);
    if (header && !a.startsWith("-") && isSecretName(header[1].replace(/[\s:]/g, ""))) {
      out.push(`${header[1]}${REDACTED}`);
    } else if (eq > 0 && isSecretName(a.slice(0, eq))) {
      out.push(`${a.slice(0, eq + 1)}${REDACTED}`);
    } else if (a.startsWith("-") && eq < 0 && (isSecretName(a) || secretShort.includes(a)) && next !== undefined && !next.startsWith("-")) {
      out.push(a, REDACTED);
      i++;
    } else if (secretShort.includes(a.slice(0, 2)) && a.length > 2 && !a.startsWith("--")) {
      out.push(`${a.slice(0, 2)}${REDACTED}`);
    } else if (USER_PASSWORD_FLAGS.has(a) && next !== undefined && next.includes(":")) {
      out.push(a, `${next.slice(0, next.indexOf(":") + 1)}${REDACTED}`);
      i++;
    } else {
      out.push(redactInline(a));
    }
  }
  return out;
}

/** Returns a copy of an environment with the values of secret-looking variables redacted. */
export function redactEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = isSecretName(k) ? REDACTED : v;
  return out;
}
