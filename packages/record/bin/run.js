#!/usr/bin/env node
// vmprof-record: `vmprof-record [FLAGS] -- COMMAND...` starts the program without loading oclif (its
// start-up would be most of the recorder's own cost); help and anything unusual go to oclif.
import { runCommandLine } from "vmprof-convert/flags";
import { runFast } from "../dist/src/fast.js";

await runCommandLine(runFast, import.meta.url);
