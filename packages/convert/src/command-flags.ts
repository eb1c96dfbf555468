/**
 * vmprof-convert's own flags as plain data (beside the shared SELECTION_FLAGS), read by two parsers:
 * oclif (command.ts: help, --open, and every parse error) and the fast path (fast.ts), which converts
 * without loading oclif, whose start-up alone is a large part of converting a small profile.
 */
import { OUTPUT_FORMATS } from "./convert.js";
import { SELECTION_FLAGS, type FlagSpec } from "./flags.js";

/** Every flag of vmprof-convert. */
export const FLAGS: Record<string, FlagSpec> = {
  to: { type: "string", summary: "Output format [default: from the -o file's name].", options: [...OUTPUT_FORMATS] },
  output: { type: "string", char: "o", summary: 'Write here instead of stdout ("-": stdout).', helpValue: "FILE" },
  open: { type: "boolean", summary: "Show the profile in speedscope's bundled viewer, served on 127.0.0.1; prints the URL and serves until interrupted.", exclusive: ["to", "output"] },
  diff: {
    type: "string",
    summary: "A differential flame graph against this base profile (any readable format): widths from INPUT, each frame red where its share grew, blue where it shrank. SVG only.",
    helpValue: "BASE",
  },
  lines: { type: "boolean", summary: 'Collapsed stacks: write each frame as "NAME FILE:LINE", the line it was executing (other formats carry lines already).' },
  order: {
    type: "string",
    summary:
      "speedscope: samples in time order (time), or one per distinct stack with their summed weight (merged: every view but Time Order is the same, and the file grows with stacks, not samples). Default auto: merged only when time order would exceed 256 MiB, past what speedscope's viewer opens.",
    options: ["auto", "time", "merged"],
  },
  port: { type: "integer", summary: "--open: port to serve on [default: any free port].", min: 0, max: 65535 },
  ...SELECTION_FLAGS,
};
