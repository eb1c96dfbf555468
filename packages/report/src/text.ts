/**
 * Text rendering of the views: vmprof's layout for --top, aligned tables for the others, colour only
 * when asked (a terminal without NO_COLOR), lines cut to `width` columns when one is given.
 */
import type {
  DiffView,
  FlatView,
  FunctionRef,
  FunctionRow,
  FunctionView,
  LinesEntry,
  LinesView,
  SourceView,
  Summary,
  ThreadsView,
  Tiers,
  TopView,
  TreeRow,
  TreeView,
  View,
} from "./views.js";

/** How to print. */
export interface TextOptions {
  /** ANSI colours. */
  color?: boolean;
  /** Cut lines to this many columns; 0 or absent: never cut. */
  width?: number;
  /** Paths under this directory print relative to it. */
  cwd?: string;
}

const ESC = {
  bold: "\x1b[1m",
  dim: "\x1b[2m",
  red: "\x1b[31m",
  yellow: "\x1b[33m",
  green: "\x1b[32m",
  cyan: "\x1b[36m",
  reset: "\x1b[0m",
};

class Out {
  readonly lines: string[] = [];
  constructor(readonly o: TextOptions) {}
  paint(code: keyof typeof ESC, s: string): string {
    return this.o.color && s !== "" ? ESC[code] + s + ESC.reset : s;
  }
  /** Adds a line made of [text, colour] parts, cut to the width (the last parts are cut first). */
  line(...parts: [string, keyof typeof ESC | ""][]): void {
    let room = this.o.width && this.o.width > 0 ? this.o.width : Infinity;
    let s = "";
    for (const [text, code] of parts) {
      if (room <= 0) break;
      let t = text;
      if ([...t].length > room) t = [...t].slice(0, Math.max(0, room - 1)).join("") + "…";
      room -= [...t].length;
      s += code ? this.paint(code, t) : t;
    }
    this.lines.push(s.trimEnd());
  }
  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

/** A path shortened for reading: file:// URLs as paths, relative to cwd when under it. */
export function shortPath(file: string, cwd?: string): string {
  let f = file.startsWith("file://") ? decodeURIComponent(file.slice(7)) : file;
  if (cwd && cwd !== "/" && f.startsWith(cwd.endsWith("/") ? cwd : cwd + "/")) f = f.slice(cwd.length).replace(/^\//, "");
  return f;
}

function where(r: Pick<FunctionRef, "file" | "line">, cwd?: string): string {
  if (r.file === "") return "";
  const f = shortPath(r.file, cwd);
  return r.line > 0 ? `${f}:${r.line}` : f;
}

const fmtPct = (x: number) => `${x.toFixed(1)}%`;

function heat(x: number): keyof typeof ESC | "" {
  return x >= 20 ? "red" : x >= 5 ? "yellow" : "";
}

/** Tier split as "opt 80% interp 20%": tiers with at least 1% of the function's time, largest first. */
export function tierText(t: Tiers | undefined): string {
  if (!t) return "";
  const parts: [string, number][] = [
    ["interp", t.interpreted],
    ["sparkplug", t.baseline],
    ["maglev", t.maglev],
    ["turbofan", t.optimized],
  ];
  return parts
    .filter(([, v]) => v >= 1)
    .sort((a, b) => b[1] - a[1])
    .map(([n, v]) => `${n} ${v.toFixed(0)}%`)
    .join(" ");
}

const WEIGHT_WORDS = { samples: "snapshots", cpu: "CPU time", wall: "wall time" } as const;

function summaryLines(out: Out, s: Summary, label = ""): void {
  if (s.command) out.line([`${label}program: `, "dim"], [s.command.join(" "), ""]);
  const rate = s.rate > 0 ? `, ${s.rate.toFixed(0)}/s of ${s.rateBasis === "cpu" ? "CPU time" : "elapsed time"}` : "";
  const period = s.periodUs > 0 ? ` at ${s.periodUs} µs` : "";
  const mode = s.mode ? `, mode ${s.mode}${period}` : "";
  const weight = (s.weight === "samples" ? "" : `, weighted by ${WEIGHT_WORDS[s.weight]}`) + (s.byLine ? ", by line" : "") + (s.byLabel !== undefined ? `, by label ${s.byLabel}` : "");
  const of = s.samples !== s.profileSamples ? ` (of ${s.profileSamples})` : "";
  const reasons = Object.entries(s.droppedByReason ?? {}).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`);
  const why = reasons.length > 0 ? ` (${reasons.join(", ")})` : "";
  out.line(
    [`${label}${s.durationSeconds.toFixed(2)} s, ${s.samples} samples${of}${rate}, ${s.droppedSamples} dropped${why}${mode}${weight}`, "dim"],
  );
}

function top(out: Out, v: TopView): void {
  const cwd = out.o.cwd;
  out.line(["vmprof output:", "bold"]);
  const nameWidth = Math.min(40, Math.max(0, ...v.functions.map((f) => [...f.name].length)));
  byLabel(out, v, () => out.line([`% of ${WEIGHT_WORDS[v.summary.weight]}:  name:`, "bold"]), (f) => {
    out.line(
      [` ${fmtPct(f.totalPercent).padStart(6)}          `, heat(f.totalPercent)],
      [f.name.padEnd(nameWidth) + "    ", f.kind === "state" ? "cyan" : ""],
      [where(f, cwd), "dim"],
    );
  });
  out.line(["", ""]);
  summaryLines(out, v.summary);
}

/**
 * The rows of --top or --flat under their column header, then the omitted line; with --by-label,
 * one section per value: "KEY=VALUE: P% of <weight>, N samples" ("(no KEY)" for the samples without
 * it), the header, its rows and its omitted line, sections apart by a blank line.
 */
function byLabel(out: Out, v: TopView | FlatView, header: () => void, row: (f: FunctionRow) => void): void {
  if (!v.byLabel) {
    header();
    for (const f of v.functions) row(f);
    omitted(out, v.omitted);
    return;
  }
  const { key, groups } = v.byLabel;
  groups.forEach((g, k) => {
    if (k > 0) out.line(["", ""]);
    const name = g.value === null ? `(no ${key})` : `${key}=${g.value}`;
    out.line([`${name}: `, "bold"], [`${fmtPct(g.percent)} of ${WEIGHT_WORDS[v.summary.weight]}, ${g.samples} sample${g.samples === 1 ? "" : "s"}`, ""]);
    header();
    for (const f of v.functions) if (f.labelValue === g.value) row(f);
    omitted(out, g.omitted);
  });
}

function omitted(out: Out, n: number): void {
  if (n > 0) out.line([`... ${n} more function${n === 1 ? "" : "s"} (--limit to see more)`, "dim"]);
}

function flat(out: Out, v: FlatView): void {
  const cwd = out.o.cwd;
  const nameWidth = Math.min(40, Math.max(8, ...v.functions.map((f) => [...f.name].length)));
  const tierWidth = Math.max(5, ...v.functions.map((f) => tierText(f.tiers).length));
  const header = () => out.line([`${"self".padStart(7)}  ${"total".padStart(7)}  ${"samples".padStart(8)}  ${"function".padEnd(nameWidth)}  ${"tiers".padEnd(tierWidth)}  location`, "bold"]);
  byLabel(out, v, header, (f) => {
    out.line(
      [fmtPct(f.selfPercent).padStart(7), heat(f.selfPercent)],
      [`  ${fmtPct(f.totalPercent).padStart(7)}  ${String(f.selfSamples).padStart(8)}  `, ""],
      [f.name.padEnd(nameWidth) + "  ", f.kind === "state" ? "cyan" : ""],
      [tierText(f.tiers).padEnd(tierWidth) + "  ", "green"],
      [where(f, cwd), "dim"],
    );
  });
  out.line(["", ""]);
  summaryLines(out, v.summary);
}

function tree(out: Out, v: TreeView): void {
  const cwd = out.o.cwd;
  out.line([`${"total".padStart(7)}  ${"parent".padStart(7)}  ${"self".padStart(7)}  function`, "bold"]);
  const walk = (r: TreeRow, level: number) => {
    const tiers = tierText(r.tiers);
    out.line(
      [fmtPct(r.totalPercent).padStart(7), heat(r.totalPercent)],
      [`  ${fmtPct(r.parentPercent).padStart(7)}  ${fmtPct(r.selfPercent).padStart(7)}  ${"  ".repeat(level)}`, ""],
      [r.name, r.kind === "state" ? "cyan" : ""],
      [r.file ? `  ${where(r, cwd)}` : "", "dim"],
      [tiers ? `  [${tiers}]` : "", "green"],
    );
    for (const c of r.children) walk(c, level + 1);
  };
  for (const r of v.roots) walk(r, 0);
  out.line(["", ""]);
  const cut = v.depth > 0 ? `, depth ${v.depth}` : "";
  out.line([`nodes under ${v.minPercent}% of the total are not shown${cut}`, "dim"]);
  summaryLines(out, v.summary);
}

function fn(out: Out, v: FunctionView): void {
  const cwd = out.o.cwd;
  if (v.functions.length === 0) out.line([`no sampled function matches /${v.pattern}/`, ""]);
  for (const f of v.functions) {
    out.line(
      [f.name, "bold"],
      [f.file ? `  ${where(f, cwd)}` : "", "dim"],
      [`  total ${fmtPct(f.totalPercent)} (${f.totalSamples} samples), self ${fmtPct(f.selfPercent)} (${f.selfSamples})`, ""],
    );
    const list = (title: string, xs: FunctionView["functions"][number]["callers"]) => {
      out.line([`  ${title}:`, ""]);
      if (xs.length === 0) out.line(["    (none)", "dim"]);
      for (const n of xs) {
        out.line(
          [`  ${fmtPct(n.percent).padStart(7)}`, heat(n.percent)],
          [`  ${fmtPct(n.ofFunctionPercent).padStart(7)}  ${String(n.samples).padStart(8)}  `, ""],
          [n.name, n.kind === "state" ? "cyan" : ""],
          [n.file ? `  ${where(n, cwd)}` : "", "dim"],
        );
      }
    };
    out.line([`  ${"total".padStart(7)}  ${"of it".padStart(7)}  ${"samples".padStart(8)}`, "dim"]);
    list("called by", f.callers);
    list("calls", f.callees);
    out.line(["", ""]);
  }
  summaryLines(out, v.summary);
}

function diff(out: Out, v: DiffView): void {
  const cwd = out.o.cwd;
  out.line([`${"base".padStart(7)}  ${"now".padStart(7)}  ${"change".padStart(7)}  ${"self chg".padStart(8)}  function`, "bold"]);
  for (const d of v.functions) {
    const sign = (x: number) => (x >= 0 ? "+" : "") + x.toFixed(1);
    out.line(
      [`${fmtPct(d.baseTotalPercent).padStart(7)}  ${fmtPct(d.totalPercent).padStart(7)}  `, ""],
      [sign(d.deltaTotal).padStart(7), d.deltaTotal >= 1 ? "red" : d.deltaTotal <= -1 ? "green" : ""],
      [`  ${sign(d.deltaSelf).padStart(8)}  `, ""],
      [d.name, d.kind === "state" ? "cyan" : ""],
      [d.file ? `  ${where(d, cwd)}` : "", "dim"],
    );
  }
  out.line(["", ""]);
  out.line(["change: points of cumulative share; positive got slower, negative faster", "dim"]);
  summaryLines(out, v.base, "base: ");
  summaryLines(out, v.summary, "now:  ");
}

function threads(out: Out, v: ThreadsView): void {
  const nameWidth = Math.min(40, Math.max(4, ...v.threads.map((t) => [...t.name].length)));
  out.line([`${"pid".padStart(8)}  ${"parent".padStart(8)}  ${"tid".padStart(8)}  ${"name".padEnd(nameWidth)}  ${"samples".padStart(8)}  ${"duration".padStart(9)}`, "bold"]);
  for (const t of v.threads) {
    out.line(
      [`${String(t.pid).padStart(8)}  ${(t.parent ? String(t.parent) : "-").padStart(8)}  ${String(t.tid).padStart(8)}  `, ""],
      [t.name.padEnd(nameWidth), ""],
      [`  ${String(t.samples).padStart(8)}  ${`${t.durationSeconds.toFixed(2)} s`.padStart(9)}`, ""],
    );
  }
  out.line(["", ""]);
  summaryLines(out, v.summary);
}

/**
 * A function's lines (--lines, --source): a header with its shares, then per file the rows "line self
 * total text"; zero shares print as "." so the sampled lines stand out, an unknown line as "?", and a
 * file that cannot be read is named in one note.
 */
function linesOf(out: Out, f: LinesEntry): void {
  const cwd = out.o.cwd;
  out.line(
    [f.name, "bold"],
    [f.file ? `  ${where(f, cwd)}` : "", "dim"],
    [`  total ${fmtPct(f.totalPercent)} (${f.totalSamples} samples), self ${fmtPct(f.selfPercent)} (${f.selfSamples})`, ""],
  );
  const lineWidth = Math.max(4, ...f.files.flatMap((g) => g.lines.map((r) => String(r.line).length)));
  out.line([`  ${"line".padStart(lineWidth)}  ${"self".padStart(7)}  ${"total".padStart(7)}`, "dim"]);
  const share = (x: number, n: number) => (n === 0 ? "." : fmtPct(x)).padStart(7);
  for (const g of f.files) {
    if (g.file !== f.file) out.line([`  in ${shortPath(g.file, cwd)}:`, "dim"]);
    if (!g.readable) out.line([`  (${shortPath(g.file, cwd) || "the file"} cannot be read: numbers only)`, "dim"]);
    for (const r of g.lines) {
      out.line(
        [`  ${(r.line === 0 ? "?" : String(r.line)).padStart(lineWidth)}  `, r.totalSamples > 0 ? "" : "dim"],
        [share(r.selfPercent, r.selfSamples), heat(r.selfPercent)],
        ["  ", ""],
        [share(r.totalPercent, r.totalSamples), heat(r.totalPercent)],
        [r.text !== undefined ? `  ${r.text}` : "", r.totalSamples > 0 ? "" : "dim"],
      );
    }
  }
  out.line(["", ""]);
}

function lines(out: Out, v: LinesView | SourceView): void {
  for (const f of v.functions) linesOf(out, f);
  if (v.omitted > 0) out.line([`... ${v.omitted} more function${v.omitted === 1 ? "" : "s"} (--limit to see more)`, "dim"]);
  summaryLines(out, v.summary);
}

/** Renders any view as text. */
export function renderText(v: View, o: TextOptions = {}): string {
  const out = new Out(o);
  if (v.view === "top") top(out, v);
  else if (v.view === "flat") flat(out, v);
  else if (v.view === "tree") tree(out, v);
  else if (v.view === "function") fn(out, v);
  else if (v.view === "threads") threads(out, v);
  else if (v.view === "lines" || v.view === "source") lines(out, v);
  else diff(out, v);
  return out.text();
}
