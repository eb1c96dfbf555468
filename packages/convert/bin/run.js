#!/bin/sh
':' //; case "$*" in *--open*) ;; *) unset NODE_EXTRA_CA_CERTS ;; esac; exec node "$0" "$@"
// vmprof-convert: the common command lines run without loading oclif (its start-up is a large part
// of converting a small profile); help, --open and anything unusual go to oclif.
// The second line is both shell and JavaScript: run as a command, sh starts Node on this file without
// NODE_EXTRA_CA_CERTS, which Node 20 reads and parses in full at every start (85 ms of CPU for a
// system CA bundle); converting makes no TLS connection. With --open anywhere in the arguments (it
// starts a browser, which gets our environment) nothing is changed. For JavaScript the line is a
// string and a comment.
import { runCommandLine } from "../dist/src/flags.js";
import { runFast } from "../dist/src/fast.js";

// A reader that stops early (`| head`) is not an error: stop quietly, as Unix tools do.
process.stdout.on("error", (e) => process.exit(e.code === "EPIPE" ? 0 : 1));
await runCommandLine(runFast, import.meta.url);
