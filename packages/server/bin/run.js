#!/usr/bin/env node
// vmprof-server: see `vmprof-server --help`.
import { execute } from "@oclif/core";

await execute({ dir: import.meta.url });
