#!/usr/bin/env node
// vmprof-convert: see `vmprof-convert --help`.
import { execute } from "@oclif/core";

// A reader that stops early (`| head`) is not an error: stop quietly, as Unix tools do.
process.stdout.on("error", (e) => process.exit(e.code === "EPIPE" ? 0 : 1));
await execute({ dir: import.meta.url });
