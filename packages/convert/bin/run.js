#!/usr/bin/env node
// vmprof-convert: see `vmprof-convert --help`.
import { execute } from "@oclif/core";

await execute({ dir: import.meta.url });
