#!/usr/bin/env node
// vmprof-upload: see `vmprof-upload --help`.
import { execute } from "@oclif/core";

await execute({ dir: import.meta.url });
