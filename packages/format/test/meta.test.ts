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
