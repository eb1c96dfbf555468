/**
 * A self-contained SVG flame graph: no external resources, roots at the bottom, children heaviest
 * first. Every frame has a title on hover (name, location, weight, share); a click zooms to it;
 * a search box (a regular expression) highlights matching frames and shows their share. Colours by
 * kind: JS interpreted, JS compiled, JS of unknown tier, Node internals (node:), native and builtin
 * code, and VM states, with a legend. Names only ever appear as escaped XML text, never as markup
 * or inside the script.
 */
import { FunctionKind, Tier, aggregate, callTree, defaultWeight, functionInfo, functionLabel, functionLocation, isStateFunction, type Profile, type TreeNode } from "@vmprof/format";
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
}

const ROW = 17;
const TOP = 64;

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

/** Renders the flame graph of `p` as one SVG document. */
export function toSvg(p: Profile, o: SvgOptions = {}): string {
  const weight = o.weight ?? defaultWeight(p);
  const agg = aggregate(p, { weight, selection: o.selection, filter: o.filter });
  const root = callTree(agg);
  const width = o.width ?? 1200;
  const inner = width - 20;
  const total = root.total || 1;
  const unit = weight === "samples" ? "samples" : "µs";
  // Lay out: x and width as fractions of the total; skip frames narrower than 0.1 px.
  const rows: string[] = [];
  let depthMax = 0;
  const minFrac = 0.1 / inner;
  const place = (n: TreeNode, x: number, depth: number) => {
    const frac = n.total / total;
    if (n !== root) {
      const f = functionInfo(p, n.function);
      const where = functionLocation(f);
      const pct = (frac * 100).toFixed(2);
      const title = `${functionLabel(f)}${where ? ` (${where})` : ""}: ${Math.round(n.total)} ${unit}, ${pct}%`;
      rows.push(
        `<g class="f ${kindOf(p, n)}" data-x="${x}" data-w="${frac}" data-d="${depth}"><title>${xmlEscape(title)}</title>` +
          `<rect height="${ROW - 1}" rx="2"/><text dy="12"></text><desc>${xmlEscape(functionLabel(f))}</desc></g>`,
      );
      depthMax = Math.max(depthMax, depth);
    }
    let cx = x;
    for (const c of n.children) {
      if (c.total / total >= minFrac) place(c, cx, depth + 1);
      cx += c.total / total;
    }
  };
  place(root, 0, -1);
  const height = TOP + (depthMax + 1) * ROW + 40;
  const title = o.title ?? basename(p.source);
  const legend = SVG_KINDS.map(
    ([cls, label], i) => `<g transform="translate(${10 + i * 170},${height - 22})"><rect class="${cls}" width="12" height="12"/><text x="17" y="11">${xmlEscape(label)}</text></g>`,
  ).join("");
  const css = SVG_KINDS.map(([cls, , colour]) => `.${cls} rect, rect.${cls} { fill: ${colour}; }`).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-inner="${inner}" data-top="${TOP}" data-row="${ROW}" data-rows="${depthMax + 1}">
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
<text id="title" x="${width / 2}" y="20" text-anchor="middle" style="font-size:16px">${xmlEscape(`Flame graph: ${title}`)}</text>
<text x="10" y="42">${xmlEscape(`${agg.samples} samples, weight: ${weight}${weight === "samples" ? "" : ` (${Math.round(root.total)} µs)`}`)}</text>
<text id="reset" x="10" y="58">Reset zoom</text>
<foreignObject x="${width - 330}" y="28" width="320" height="30"><input xmlns="http://www.w3.org/1999/xhtml" id="search" placeholder="Search (regular expression)" style="width:300px"/></foreignObject>
<text id="matched" x="${width - 330}" y="58"></text>
<g id="frames">
${rows.join("\n")}
</g>
${legend}
<script><![CDATA[
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
</svg>
`;
}
