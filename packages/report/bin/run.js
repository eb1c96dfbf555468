#!/usr/bin/env node
// vmprof-report: the common command lines run without loading oclif (its start-up would triple the
// time of a small report); help and anything unusual go to oclif.
import { runCommandLine } from "vmprof-convert/flags";
import { runFast } from "../dist/src/fast.js";

// A reader that stops early (`| head`) is not an error: stop quietly, as Unix tools do.
process.stdout.on("error", (e) => process.exit(e.code === "EPIPE" ? 0 : 1));
await runCommandLine(runFast, import.meta.url);
