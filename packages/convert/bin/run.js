#!/usr/bin/env node
// vmprof-convert: the common command lines run without loading oclif (its start-up is a large part
// of converting a small profile); help, --open and anything unusual go to oclif.
import { runCommandLine } from "../dist/src/flags.js";
import { runFast } from "../dist/src/fast.js";

// A reader that stops early (`| head`) is not an error: stop quietly, as Unix tools do.
process.stdout.on("error", (e) => process.exit(e.code === "EPIPE" ? 0 : 1));
await runCommandLine(runFast, import.meta.url);
