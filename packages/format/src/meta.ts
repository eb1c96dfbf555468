/** Metadata helpers: redaction of secrets from command lines and environments. */

/** What replaces a redacted value. */
export const REDACTED = "<redacted>";

const SECRET_NAME = /(pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credential|auth|session|cookie|_KEY$|^KEY$)/i;

/** True when a flag or variable name looks like it carries a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.replace(/^-+/, ""));
}

/**
 * Returns argv with secret-looking values replaced: `--token=x` and `--token x` become
 * `--token=<redacted>` / `--token <redacted>`, `API_KEY=x` becomes `API_KEY=<redacted>`, and a URL's
 * password (`https://u:pw@host`) is hidden.
 */
export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    if (eq > 0 && isSecretName(a.slice(0, eq))) {
      out.push(`${a.slice(0, eq + 1)}${REDACTED}`);
    } else if (a.startsWith("-") && eq < 0 && isSecretName(a) && i + 1 < argv.length && !argv[i + 1].startsWith("-")) {
      out.push(a, REDACTED);
      i++;
    } else {
      out.push(a.replace(/(\w+:\/\/[^:/@\s]+:)[^@\s]+@/g, `$1${REDACTED}@`));
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
