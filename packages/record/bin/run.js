#!/usr/bin/env node
// vmprof-record: oclif single-command entry point.
import { execute } from "@oclif/core";

await execute({ dir: import.meta.url });
