/**
 * Comparing two stored profiles: the change in share per function (vmprof-report --diff's table,
 * format's functionChanges) and the differential flame graph (vmprof-convert's toSvg with a base).
 * compareStored runs in a ParsePool worker (or on the main thread when the server has none); the
 * page is rendered on the main thread from what it returns. Shares are percentages (0-100) of each
 * profile's total weight, changes percentage points; both profiles are weighed the same way, by
 * the new profile's default weight.
 */
import { aggregate, defaultWeight, functionChanges, type FunctionChange, type Weight } from "@vmprof/format";
import { readAnyProfile, toSvg } from "vmprof-convert";
import { html, page } from "./pages.js";

/** One side of a comparison: a stored profile's id, name and bytes (our format, gzipped), or a merge of a selection's. */
export interface CompareSide {
  /** The profile's id; "" for a merge. */
  id: string;
  name: string;
  data: Uint8Array;
  /** A merge: its selection as a query string (name=, label=, from=, to=), as GET /merge takes it. */
  merge?: string;
}

/** What compareStored is asked: the base, the new profile ("other"), and which answer to make. */
export interface CompareJob {
  base: CompareSide;
  other: CompareSide;
  /**
   * "json": a Comparison as JSON (GET /api/compare); "svg": the interactive differential flame graph
   * (GET /api/compare.svg); "page": `{ comparison, svg }` as JSON, the SVG without its script (the
   * compare page inlines it under a CSP that forbids inline scripts).
   */
  what: "json" | "svg" | "page";
}

/** A profile in a comparison: its id ("" for a merge), name and the samples it holds. */
export interface ComparedProfile {
  id: string;
  name: string;
  samples: number;
  /** A merge: its selection as a query string, as GET /merge takes it. */
  merge?: string;
}

/** GET /api/compare's answer. */
export interface Comparison {
  base: ComparedProfile;
  other: ComparedProfile;
  /** What a sample weighs in both: "samples", "cpu" (µs) or "wall" (µs). */
  weight: Weight;
  /** Every function sampled in either, largest absolute change of cumulative share first. */
  functions: FunctionChange[];
}

/** The compare page's parts: the comparison and the differential SVG without its script. */
export interface ComparePage {
  comparison: Comparison;
  svg: string;
}

/** Makes `job.what` of two stored profiles, as UTF-8 bytes (JSON or SVG). */
export async function compareStored(job: CompareJob): Promise<Uint8Array> {
  const [base, other] = await Promise.all([
    readAnyProfile(job.base.data, { source: job.base.name, format: "vmprof" }),
    readAnyProfile(job.other.data, { source: job.other.name, format: "vmprof" }),
  ]);
  const p = other.profile;
  const b = base.profile;
  const weight = defaultWeight(p);
  if (job.what === "svg") return Buffer.from(toSvg(p, { base: b, weight, title: job.other.name }));
  const agg = aggregate(p, { weight });
  const baseAgg = aggregate(b, { weight });
  const comparison: Comparison = {
    base: { id: job.base.id, name: job.base.name, samples: baseAgg.samples, ...(job.base.merge !== undefined ? { merge: job.base.merge } : {}) },
    other: { id: job.other.id, name: job.other.name, samples: agg.samples, ...(job.other.merge !== undefined ? { merge: job.other.merge } : {}) },
    weight,
    functions: functionChanges(p, agg, b, baseAgg),
  };
  if (job.what === "json") return Buffer.from(JSON.stringify(comparison));
  const svg = toSvg(p, { base: b, weight, title: job.other.name, interactive: false });
  return Buffer.from(JSON.stringify({ comparison, svg } satisfies ComparePage));
}

/** Rows the compare page shows; the JSON has them all. */
export const COMPARE_PAGE_ROWS = 200;

const signed = (x: number) => `${x > 0 ? "+" : x < 0 ? "&minus;" : ""}${Math.abs(x).toFixed(1)}`;

/** The compare page: the two profiles, the differential flame graph inline, and the change per function. */
export function comparePage(c: ComparePage, search?: string): string {
  const { base, other } = c.comparison;
  // The sides as the request gave them: ids, or selections (base.name=, other.label=, ...).
  const q = search !== undefined ? html(search) : `base=${encodeURIComponent(base.id)}&amp;other=${encodeURIComponent(other.id)}`;
  const shown = c.comparison.functions.slice(0, COMPARE_PAGE_ROWS);
  const rows = shown
    .map((f) => {
      const cls = f.deltaTotal >= 0.05 ? "grew" : f.deltaTotal <= -0.05 ? "shrank" : "same";
      const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ""}` : "";
      return `<tr class="${cls}"><td>${html(f.name)}</td><td class="muted">${html(where)}</td><td class="num">${f.baseTotalPercent.toFixed(1)}%</td><td class="num">${f.totalPercent.toFixed(1)}%</td><td class="num change">${signed(f.deltaTotal)}</td><td class="num">${signed(f.deltaSelf)}</td></tr>`;
    })
    .join("\n");
  const more = c.comparison.functions.length - shown.length;
  const svg = c.svg.replace(/^<\?xml[^>]*>\s*/, "");
  const side = (label: string, p: ComparedProfile) =>
    p.merge !== undefined
      ? `${label}: <a href="/merge?${html(p.merge)}">${html(p.name)}</a> <span class="muted">(${html(p.samples)} samples)</span>`
      : `${label}: <a href="/profiles/${html(p.id)}">${html(p.name)}</a> <span class="muted">(${html(p.id)}, ${html(p.samples)} samples)</span>`;
  return page(
    `Compare ${base.name} and ${other.name} - vmprof-server`,
    `<h1>Compare</h1>
<p id="sides">${side("base", base)}<br>${side("new", other)}</p>
<p class="muted">Weight: ${html(c.comparison.weight)}. Shares are of each profile's total; change is in percentage points (positive: a larger share of the new profile, that is slower relative to the rest). As JSON: <a href="/api/compare?${q}">/api/compare</a></p>
<h2>Differential flame graph</h2>
<p class="muted">Widths from the new profile; red: the frame's share grew against the base, blue: it shrank, grey: unchanged. Hover a frame for both shares. <a href="/api/compare.svg?${q}">Open the interactive SVG</a> (click to zoom, search).</p>
<div id="flame">${svg}</div>
<h2>Change per function</h2>
<table id="changes"><thead><tr><th>function</th><th>location</th><th class="num">base</th><th class="num">new</th><th class="num">change</th><th class="num">self change</th></tr></thead>
<tbody>
${rows}
</tbody></table>${more > 0 ? `\n<p class="muted">${more} more functions in <a href="/api/compare?${q}">the JSON</a>.</p>` : ""}`,
  );
}
