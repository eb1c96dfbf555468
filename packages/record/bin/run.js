#!/usr/bin/env node
// vmprof-record: `vmprof-record [FLAGS] -- COMMAND...` starts the program without loading oclif (its
// start-up would be most of the recorder's own cost); help and anything unusual go to oclif.
import { runFast } from "../dist/src/fast.js";

const status = await runFast(process.argv.slice(2));
if (status === undefined) {
  const { execute } = await import("@oclif/core");
  await execute({ dir: import.meta.url });
} else {
  process.exitCode = status;
}
