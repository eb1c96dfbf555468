/**
 * Collapsed (folded) stacks into the model: each line "root;...;leaf COUNT" becomes COUNT samples of
 * one thread. A frame written "name (file:line:column)" by vmprof-convert, py-spy and others gets its
 * function's location back; "name FILE:LINE" (vmprof-convert --lines) the line its frame was executing. Folded stacks carry no time: samples have no CPU or wall weight.
 */
import { VmState, type Profile } from "@vmprof/format";
import { ModelBuilder, stateOfLabel, type FunctionSpec } from "../build.js";
import { ConvertError, LimitError } from "../errors.js";
import { DEFAULT_LIMITS, sampleBudget, sampleBudgetMessage, type ImportLimits } from "../limits.js";
import type { Input } from "../read.js";

const LINE = /^(.*\S) +(\d+)$/;
const FRAME = /^(.*) \(([^()]*?)(?::(\d+))?(?::(\d+))?\)$/;
/** vmprof-convert --lines: "name FILE:LINE", FILE percent-encoded (export/collapsed.ts). */
const LINE_FRAME = /^(.*) (\S+):(\d+)$/;

/** The lines of `text`, one at a time (a huge input is never split into one array of all its lines). */
function* linesOf(text: string): Generator<string> {
  for (let at = 0; at <= text.length; ) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    yield text.slice(at, end);
    at = end + 1;
  }
}

/** Lines looked at to tell collapsed stacks from other text; a bad line further on is named by the importer. */
const SNIFF_LINES = 100;

/** True when the first SNIFF_LINES non-empty lines of `text` read as folded stacks with a count. */
function looksLikeCollapsed(text: string): boolean {
  let seen = 0;
  for (const line of linesOf(text)) {
    const l = line.trimEnd();
    if (l === "" || l.startsWith("#")) continue;
    if (!LINE.test(l)) return false;
    if (++seen === SNIFF_LINES) break;
  }
  return seen > 0;
}

/**
 * A folded frame: its function ("name (file:line:column)", "name FILE:LINE" or a bare name) and, for
 * "name FILE:LINE", the 1-based line it was executing (else 0).
 */
export function parseFoldedFrame(text: string): { fn: FunctionSpec; line: number } {
  const m = FRAME.exec(text);
  if (m && m[2] !== "") return { fn: { name: m[1], file: m[2], line: m[3] ? Number(m[3]) : 0, column: m[4] ? Number(m[4]) : 0 }, line: 0 };
  const l = LINE_FRAME.exec(text);
  if (l) return { fn: { name: l[1], file: l[2].replace(/%(25|20|3B|0D|0A)/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) }, line: Number(l[3]) };
  return { fn: { name: text }, line: 0 };
}

/** Imports collapsed stacks; throws ConvertError naming the line that is not a folded stack. */
function importCollapsed(text: string, source: string, limits: ImportLimits = DEFAULT_LIMITS, bytes = Infinity): Profile {
  const budget = sampleBudget(limits, bytes);
  const b = new ModelBuilder(source);
  const thread = b.thread({ process: b.process({ pid: 0 }), tid: 0, name: "main" });
  const frameOf = new Map<string, [number, number]>();
  let total = 0;
  let i = -1;
  for (const line of linesOf(text)) {
    i++;
    const l = line.trimEnd();
    if (l === "" || l.startsWith("#")) continue;
    const m = LINE.exec(l);
    if (!m) throw new ConvertError(`${source}: line ${i + 1} is not "frame;frame;... COUNT"`);
    const count = Number(m[2]);
    total += count;
    if (total > budget) throw new LimitError(sampleBudgetMessage(source, "collapsed stacks count", limits, bytes));
    const names = m[1].split(";");
    let state: number = VmState.JS;
    const leaf = parseFoldedFrame(names[names.length - 1]).fn;
    const leafState = stateOfLabel(leaf.name, leaf.file);
    if (leafState !== undefined) {
      state = leafState;
      names.pop();
    }
    const fns: number[] = [];
    const lines: number[] = [];
    for (const n of names) {
      let fr = frameOf.get(n);
      if (fr === undefined) {
        const { fn, line } = parseFoldedFrame(n);
        frameOf.set(n, (fr = [b.fn(fn), line]));
      }
      fns.push(fr[0]);
      lines.push(fr[1]);
    }
    const stack = b.stack(fns, lines);
    for (let k = 0; k < count; k++) b.sample(thread, 0, 0, 0, state, stack);
  }
  if (total === 0) throw new ConvertError(`${source}: collapsed stacks with no samples`);
  b.meta({ samples: total, source_format: "collapsed" });
  return b.finish();
}

/** The collapsed-stacks importer (see read.ts, Importer): text whose every line is "frames COUNT". */
export function tryImportCollapsed(input: Input, sure: boolean): Profile | null {
  if (!sure) {
    const head = input.head;
    if (head === undefined || head.startsWith("{") || !looksLikeCollapsed(input.text())) return null;
  }
  input.whole("collapsed: ");
  return importCollapsed(input.text(), input.source, input.limits, input.raw.length);
}
