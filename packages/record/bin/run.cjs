#!/usr/bin/env node
// vmprof-record: `vmprof-record [FLAGS] -- COMMAND...` starts the program from one CommonJS bundle of
// the fast path (scripts/bundle.mjs), without oclif or an ES module graph, whose start-up would be
// most of the recorder's own cost; help and anything unusual go to oclif.
"use strict";
require("../dist/src/fast.cjs").main(require("node:url").pathToFileURL(__filename).href);
