/**
 * A self-contained SVG flame graph: no external resources, roots at the bottom, children heaviest
 * first. Every frame has a title on hover (name, location, weight, share); a click zooms to it;
 * a search box (a regular expression) highlights matching frames and shows their share. Colours by
 * kind: JS interpreted, JS compiled, JS of unknown tier, Node internals (node:), native and builtin
 * code, and VM states, with a legend. Names only ever appear as escaped XML text, never as markup
 * or inside the script.
 */
import { FunctionKind, Tier, aggregate, alignTrees, baseSelection, callTree, defaultWeight, functionInfo, functionLabel, functionLocation, isStateFunction, type Profile, type TreeNode } from "@vmprof/format";
import { basename } from "node:path";
import type { ExportOptions } from "../select.js";

/** Escapes text for XML content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** The colour classes of the legend, in order. */
export const SVG_KINDS = [
  ["interpreted", "JS interpreted", "#f6b26b"],
  ["compiled", "JS compiled", "#e06666"],
  ["js", "JS (tier unknown)", "#f1c232"],
  ["internal", "Node internals", "#6fa8dc"],
  ["native", "native / builtin", "#93c47d"],
  ["state", "GC / idle / VM state", "#b4a7d6"],
] as const;

/** Options of the SVG flame graph beyond the common ones. */
export interface SvgOptions extends ExportOptions {
  /** Image width in px (default 1200). */
  width?: number;
  /** Title shown above the graph (default: the profile's file name). */
  title?: string;
  /**
   * A differential flame graph against this base profile: widths stay those of the profile (the new
   * one); each frame is coloured by how its share of the total changed against the same call path in
   * the base (format's alignTrees): red grew, blue shrank, grey unchanged, the colour fuller the larger
   * the change. The base is aggregated under the same weight and filter, and selected by time only
   * (format's baseSelection).
   */
  base?: Profile;
  /**
   * Include the script (click to zoom, the search box); default true. Without it the graph is static,
   * laid out as the script would first draw it, with hover titles: for a page whose
   * Content-Security-Policy forbids inline scripts.
   */
  interactive?: boolean;
}

const ROW = 17;
const TOP = 64;

/** Changes under this many percentage points of share are drawn as unchanged. */
export const DIFF_NEUTRAL_POINTS = 0.01;
/** The change (percentage points) drawn at full colour is at least this, or the largest change drawn. */
const DIFF_MIN_SCALE = 1;

/** The differential graph's colour classes: [class, legend label, colour at full change]. */
const DIFF_KINDS = [
  ["grew", "red: share grew", [214, 39, 40]],
  ["shrank", "blue: share shrank", [31, 100, 200]],
  ["same", "grey: unchanged", [221, 221, 221]],
] as const;

function kindOf(p: Profile, node: TreeNode): string {
  if (isStateFunction(p, node.function)) return "state";
  const f = functionInfo(p, node.function);
  if (f.kind === FunctionKind.NATIVE || f.kind === FunctionKind.BUILTIN || f.kind === FunctionKind.OTHER) return "native";
  if (f.file.startsWith("node:")) return "internal";
  const t = node.totalByTier;
  const compiled = t[Tier.BASELINE] + t[Tier.MAGLEV] + t[Tier.OPTIMIZED];
  if (t[Tier.INTERPRETED] === 0 && compiled === 0) return "js";
  return compiled > t[Tier.INTERPRETED] ? "compiled" : "interpreted";
}

/** The class and fill of a frame whose share changed by `delta` points, full colour at `scale` points. */
function diffColour(delta: number, scale: number): { cls: string; fill: string } {
  const [, , neutral] = DIFF_KINDS[2];
  if (Math.abs(delta) < DIFF_NEUTRAL_POINTS) return { cls: "same", fill: `rgb(${neutral.join(",")})` };
  const [cls, , full] = DIFF_KINDS[delta > 0 ? 0 : 1];
  // Any change worth showing gets at least a fifth of the colour, so a small one is still seen.
  const t = Math.min(1, 0.2 + (0.8 * Math.abs(delta)) / scale);
  const mix = neutral.map((n, i) => Math.round(n + (full[i] - n) * t));
  return { cls, fill: `rgb(${mix.join(",")})` };
}

/** One frame of the graph, placed: x and width as fractions of the total, depth from the bottom. */
interface Placed {
  node: TreeNode;
  x: number;
  frac: number;
  depth: number;
}

const num = (x: number) => String(Math.round(x * 100) / 100);

/**
 * Renders the flame graph of `p` as one SVG document; with `o.base`, the differential flame graph
 * against it. Frames are laid out in the markup (they show without the script); the script redraws
 * them on zoom.
 */
export function toSvg(p: Profile, o: SvgOptions = {}): string {
  const weight = o.weight ?? defaultWeight(p);
  const agg = aggregate(p, { weight, selection: o.selection, filter: o.filter });
  const root = callTree(agg);
  const width = o.width ?? 1200;
  const inner = width - 20;
  const total = root.total || 1;
  const unit = weight === "samples" ? "samples" : "µs";
  // Lay out: x and width as fractions of the total; skip frames narrower than 0.1 px.
  const placed: Placed[] = [];
  let depthMax = 0;
  const minFrac = 0.1 / inner;
  const place = (n: TreeNode, x: number, depth: number) => {
    if (n !== root) {
      placed.push({ node: n, x, frac: n.total / total, depth });
      depthMax = Math.max(depthMax, depth);
    }
    let cx = x;
    for (const c of n.children) {
      if (c.total / total >= minFrac) place(c, cx, depth + 1);
      cx += c.total / total;
    }
  };
  place(root, 0, -1);
  const rowsCount = depthMax + 1;
  // The differential graph: each placed frame's share in the base, and the scale of the colours.
  let baseShare: ((n: TreeNode) => number) | undefined;
  let scale = DIFF_MIN_SCALE;
  let baseAgg: ReturnType<typeof aggregate> | undefined;
  if (o.base) {
    baseAgg = aggregate(o.base, { weight, selection: baseSelection(o.selection), filter: o.filter });
    const aligned = alignTrees(p, root, o.base, callTree(baseAgg));
    const baseTotal = baseAgg.total;
    baseShare = (n) => (baseTotal > 0 ? (100 * (aligned.get(n) ?? 0)) / baseTotal : 0);
    for (const f of placed) scale = Math.max(scale, Math.abs((100 * f.node.total) / total - baseShare(f.node)));
  }
  const rows = placed.map(({ node: n, x, frac, depth }) => {
    const f = functionInfo(p, n.function);
    const where = functionLocation(f);
    const label = functionLabel(f);
    const share = (100 * n.total) / total;
    let cls: string;
    let fill = "";
    let title: string;
    let data = "";
    if (baseShare) {
      const was = baseShare(n);
      const delta = share - was;
      const c = diffColour(delta, scale);
      cls = c.cls;
      fill = ` fill="${c.fill}"`;
      data = ` data-base="${was / 100}" data-delta="${delta}"`;
      title = `${label}${where ? ` (${where})` : ""}: ${share.toFixed(2)}% (base ${was.toFixed(2)}%, ${delta >= 0 ? "+" : ""}${delta.toFixed(2)} points), ${Math.round(n.total)} ${unit}`;
    } else {
      cls = kindOf(p, n);
      title = `${label}${where ? ` (${where})` : ""}: ${Math.round(n.total)} ${unit}, ${share.toFixed(2)}%`;
    }
    // As the script's first drawing: the whole graph, roots at the bottom.
    const nx = x * inner;
    const nw = frac * inner;
    const y = TOP + (rowsCount - 1 - depth) * ROW;
    const fit = Math.floor((nw - 6) / 7);
    const text = fit < 3 ? "" : label.length <= fit ? label : `${label.slice(0, fit - 2)}..`;
    return (
      `<g class="f ${cls}" data-x="${x}" data-w="${frac}" data-d="${depth}"${data}><title>${xmlEscape(title)}</title>` +
      `<rect x="${num(10 + nx)}" y="${y}" width="${num(Math.max(nw - 0.5, 0.1))}" height="${ROW - 1}" rx="2"${fill}/><text x="${num(13 + nx)}" y="${y}" dy="12">${xmlEscape(text)}</text><desc>${xmlEscape(label)}</desc></g>`
    );
  });
  const interactive = o.interactive !== false;
  const height = TOP + rowsCount * ROW + 40;
  const name = o.title ?? basename(p.source);
  const heading = o.base ? `Differential flame graph: ${name} against ${basename(o.base.source)}` : `Flame graph: ${name}`;
  const facts = `${agg.samples} samples, weight: ${weight}${weight === "samples" ? "" : ` (${Math.round(root.total)} µs)`}`;
  const subtitle = baseAgg ? `widths: ${facts}; colours: each frame's change in share against the base (${baseAgg.samples} samples)` : facts;
  const legendItems: [string, string, string][] = baseAgg
    ? DIFF_KINDS.map(([cls, label, rgb], i) => [
        cls,
        i === 0 ? `${label} (full at +${scale.toFixed(1)} points)` : i === 1 ? `${label} (full at -${scale.toFixed(1)} points)` : `${label} (under ${DIFF_NEUTRAL_POINTS} points)`,
        `rgb(${rgb.join(",")})`,
      ])
    : SVG_KINDS.map(([cls, label, colour]) => [cls, label, colour]);
  const step = baseAgg ? Math.floor((width - 20) / 3) : 170;
  const legend = legendItems
    .map(([cls, label], i) => `<g class="legend" transform="translate(${10 + i * step},${height - 22})"><rect class="${cls}" width="12" height="12"/><text x="17" y="11">${xmlEscape(label)}</text></g>`)
    .join("");
  const css = legendItems.map(([cls, , colour]) => `rect.${cls} { fill: ${colour}; }${baseAgg ? "" : ` .${cls} rect { fill: ${colour}; }`}`).join("\n");
  const controls = interactive
    ? `<text id="reset" x="10" y="58">Reset zoom</text>
<foreignObject x="${width - 330}" y="28" width="320" height="30"><input xmlns="http://www.w3.org/1999/xhtml" id="search" placeholder="Search (regular expression)" style="width:300px"/></foreignObject>
<text id="matched" x="${width - 330}" y="58"></text>
`
    : "";
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-inner="${inner}" data-top="${TOP}" data-row="${ROW}" data-rows="${rowsCount}"${baseAgg ? ' class="diff"' : ""}>
<style>
text { font: 12px Verdana, sans-serif; fill: #000; }
#frames text { pointer-events: none; }
.f { cursor: pointer; }
.f:hover rect { stroke: #000; stroke-width: 0.5; }
.f.match rect { fill: #d5f; }
.f.dim rect { opacity: 0.5; }
#reset { cursor: pointer; visibility: hidden; fill: #06c; }
${css}
</style>
<rect width="100%" height="100%" fill="#fbfbf6"/>
<text id="title" x="${width / 2}" y="20" text-anchor="middle" style="font-size:16px">${xmlEscape(heading)}</text>
<text id="subtitle" x="10" y="42">${xmlEscape(subtitle)}</text>
${controls}<g id="frames">
${rows.join("\n")}
</g>
${legend}
${interactive ? SCRIPT : ""}</svg>
`;
}

/** Zoom on click and search: redraws the frames laid out in the markup. */
const SCRIPT = `<script><![CDATA[
(function () {
  var svg = document.documentElement;
  var inner = +svg.getAttribute("data-inner"), top = +svg.getAttribute("data-top"), row = +svg.getAttribute("data-row"), rows = +svg.getAttribute("data-rows");
  var frames = Array.prototype.slice.call(document.querySelectorAll("#frames .f"));
  var reset = document.getElementById("reset");
  function label(g) { return g.querySelector("desc").textContent; }
  function draw(x0, w0, d0) {
    frames.forEach(function (g) {
      var x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w"), d = +g.getAttribute("data-d");
      var inside = x >= x0 - 1e-12 && x + w <= x0 + w0 + 1e-12 && d >= d0;
      var above = d < d0 && x <= x0 + 1e-12 && x + w >= x0 + w0 - 1e-12;
      if (!inside && !above) { g.style.display = "none"; return; }
      g.style.display = "";
      var nx = above ? 0 : ((x - x0) / w0) * inner, nw = above ? inner : (w / w0) * inner;
      g.classList.toggle("dim", above);
      var y = top + (rows - 1 - d) * row;
      var r = g.querySelector("rect"), t = g.querySelector("text");
      r.setAttribute("x", 10 + nx); r.setAttribute("y", y); r.setAttribute("width", Math.max(nw - 0.5, 0.1));
      t.setAttribute("x", 13 + nx); t.setAttribute("y", y);
      var name = label(g), fit = Math.floor((nw - 6) / 7);
      t.textContent = fit < 3 ? "" : name.length <= fit ? name : name.slice(0, fit - 2) + "..";
    });
    reset.style.visibility = w0 < 1 || d0 > 0 ? "visible" : "hidden";
  }
  frames.forEach(function (g) {
    g.addEventListener("click", function () { draw(+g.getAttribute("data-x"), +g.getAttribute("data-w"), +g.getAttribute("data-d")); });
  });
  reset.addEventListener("click", function () { draw(0, 1, 0); });
  var search = document.getElementById("search"), matched = document.getElementById("matched");
  search.addEventListener("input", function () {
    var re = null;
    try { re = search.value ? new RegExp(search.value, "i") : null; } catch (e) { matched.textContent = "bad expression"; return; }
    var spans = [];
    frames.forEach(function (g) {
      var hit = !!re && re.test(label(g));
      g.classList.toggle("match", hit);
      if (hit) spans.push([+g.getAttribute("data-x"), +g.getAttribute("data-w")]);
    });
    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var sum = 0, end = -1;
    spans.forEach(function (s) { if (s[0] >= end - 1e-12) { sum += s[1]; end = s[0] + s[1]; } });
    matched.textContent = re ? "Matched: " + (sum * 100).toFixed(2) + "%" : "";
  });
  draw(0, 1, 0);
})();
]]></script>
`;
