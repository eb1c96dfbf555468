import assert from "node:assert/strict";
import { test } from "node:test";
import { REDACTED, redactArgv, redactEnv } from "../src/index.js";

test("secrets in a command line are redacted, everything else kept", () => {
  const argv = ["node", "app.js", "--password=hunter2", "--token", "abc", "--port", "80", "API_KEY=xyz", "https://bob:pw@db.example/x", "--verbose"];
  assert.deepEqual(redactArgv(argv), [
    "node",
    "app.js",
    `--password=${REDACTED}`,
    "--token",
    REDACTED,
    "--port",
    "80",
    `API_KEY=${REDACTED}`,
    `https://bob:${REDACTED}@db.example/x`,
    "--verbose",
  ]);
});

test("secret-looking environment variables are redacted", () => {
  assert.deepEqual(redactEnv({ HOME: "/root", AWS_SECRET_ACCESS_KEY: "s", GITHUB_TOKEN: "t", NODE_ENV: "production", STRIPE_KEY: "k" }), {
    HOME: "/root",
    AWS_SECRET_ACCESS_KEY: REDACTED,
    GITHUB_TOKEN: REDACTED,
    NODE_ENV: "production",
    STRIPE_KEY: REDACTED,
  });
});

/** What is redacted and what is kept: each row is a command line and what the profile stores. */
const ARGV_TABLE: [string[], string[]][] = [
  [["--password=hunter2"], [`--password=${REDACTED}`]],
  [["--token", "abc"], ["--token", REDACTED]],
  [["--port", "80"], ["--port", "80"]],
  [["API_KEY=xyz"], [`API_KEY=${REDACTED}`]],
  [["https://bob:pw@db.example/x"], [`https://bob:${REDACTED}@db.example/x`]],
  [["mysql", "-u", "root", "-p", "hunter3", "-h", "db"], ["mysql", "-u", "root", "-p", REDACTED, "-h", "db"]],
  [["mysql", "-phunter3", "-P", "3306"], ["mysql", `-p${REDACTED}`, "-P", "3306"]],
  [["sshpass", "-p", "s3cret", "ssh", "host"], ["sshpass", "-p", REDACTED, "ssh", "host"]],
  [["curl", "-u", "bob:pw", "https://x"], ["curl", "-u", `bob:${REDACTED}`, "https://x"]],
  [["curl", "--user", "bob:pw"], ["curl", "--user", `bob:${REDACTED}`]],
  [["curl", "-u", "bob"], ["curl", "-u", "bob"]],
  [["curl", "-H", "Authorization: Bearer eyJhbGci.x.y"], ["curl", "-H", `Authorization: ${REDACTED}`]],
  [["curl", "-H", "Cookie: sid=abc"], ["curl", "-H", `Cookie: ${REDACTED}`]],
  [["curl", "-H", "X-Api-Key: k123"], ["curl", "-H", `X-Api-Key: ${REDACTED}`]],
  [["curl", "-H", "Accept: text/html"], ["curl", "-H", "Accept: text/html"]],
  [["--header=Authorization: Basic dXNlcjpwdw=="], [`--header=Authorization: Basic ${REDACTED}`]],
  [["node", "app.js", "Bearer abc.def"], ["node", "app.js", `Bearer ${REDACTED}`]],
  [["node", "app.js", "--verbose", "-v", "-x", "5"], ["node", "app.js", "--verbose", "-v", "-x", "5"]],
  [["node", "--inspect=9229", "app.js", "ratio:3"], ["node", "--inspect=9229", "app.js", "ratio:3"]],
  [["node", "tsc", "-p", "tsconfig.json"], ["node", "tsc", "-p", "tsconfig.json"]],
  [["node", "-p", "1 + 1"], ["node", "-p", "1 + 1"]],
  [["/usr/bin/redis-cli", "-a", "pw", "ping"], ["/usr/bin/redis-cli", "-a", REDACTED, "ping"]],
  // Any case: names are matched lower-cased, inline credentials case-insensitively.
  [["--PassWord=x", "--Api-Key", "k", "Key=v", "db_Key=w"], [`--PassWord=${REDACTED}`, "--Api-Key", REDACTED, `Key=${REDACTED}`, `db_Key=${REDACTED}`]],
  [["node", "app.js", "bearer abc", "BASIC\tdef", "HTTPS://u:pw@h"], ["node", "app.js", `bearer ${REDACTED}`, `BASIC ${REDACTED}`, `HTTPS://u:${REDACTED}@h`]],
];

for (const [argv, want] of ARGV_TABLE) {
  test(`redaction: ${JSON.stringify(argv)}`, () => assert.deepEqual(redactArgv(argv), want));
}
