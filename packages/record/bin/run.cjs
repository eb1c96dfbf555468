#!/bin/sh
':' //; case "$*" in *--upload*) ;; *) [ -n "${NODE_EXTRA_CA_CERTS-}" ] && export VMPROF_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS" && unset NODE_EXTRA_CA_CERTS ;; esac; exec node "$0" "$@"
// vmprof-record: `vmprof-record [FLAGS] -- COMMAND...` starts the program from one CommonJS bundle of
// the fast path (scripts/bundle.mjs), without oclif or an ES module graph, whose start-up would be
// most of the recorder's own cost; help and anything unusual go to oclif.
//
// The second line is both shell and JavaScript: run as a command, sh starts Node on this file without
// NODE_EXTRA_CA_CERTS, which Node 20 reads and parses in full at every start (85 ms of CPU for a
// system CA bundle) though the recorder makes no TLS connection unless it uploads. The value is kept
// in VMPROF_NODE_EXTRA_CA_CERTS and given back to the program (record.ts), whose environment is
// then the one it was given. With --upload anywhere in the arguments nothing is changed. For
// JavaScript the line is a string and a comment.
"use strict";
require("../dist/src/fast.cjs").main(require("node:url").pathToFileURL(__filename).href);
