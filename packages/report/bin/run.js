#!/bin/sh
':' //; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"
// vmprof-report: the common command lines run without loading oclif (its start-up would triple the
// time of a small report); help and anything unusual go to oclif.
// The second line is both shell and JavaScript: run as a command, sh starts Node on this file without
// NODE_EXTRA_CA_CERTS, which Node 20 reads and parses in full at every start (85 ms of CPU for a
// system CA bundle); a report makes no TLS connection and starts no program. For JavaScript the
// line is a string and a comment.
import { runCommandLine } from "vmprof-convert/flags";
import { runFast } from "../dist/src/fast.js";

// A reader that stops early (`| head`) is not an error: stop quietly, as Unix tools do.
process.stdout.on("error", (e) => process.exit(e.code === "EPIPE" ? 0 : 1));
await runCommandLine(runFast, import.meta.url);
