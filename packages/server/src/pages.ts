/**
 * The web UI, rendered on the server: a list page and a profile page. Every value that comes from a
 * profile or a request is HTML-escaped; the pages load nothing from the network (speedscope's viewer
 * is served by this server under /viewer/).
 */
import { OUTPUT_FORMATS } from "vmprof-convert";
import type { Summary } from "./profiles.js";
import type { ListQuery, ProfileRecord } from "./store.js";

/** Escapes text for HTML content and quoted attribute values. */
export function html(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const STYLE = `
body { font: 14px system-ui, sans-serif; margin: 0; color: #222; }
header { background: #2d3142; color: #fff; padding: 10px 20px; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
main { padding: 16px 20px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #f4f4f4; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.label { display: inline-block; background: #eef; border-radius: 3px; padding: 0 4px; margin: 0 2px 2px 0; font-size: 12px; }
.muted { color: #777; }
iframe { width: 100%; height: 520px; border: 1px solid #ccc; }
form input[type=search] { width: 320px; padding: 4px; }
nav.pages a { margin-right: 12px; }
#flame svg { max-width: 100%; height: auto; border: 1px solid #ccc; }
tr.grew td.change { color: #c00; }
tr.shrank td.change { color: #14c; }
`;

/** A whole HTML page: `title` (escaped here) and `body` (markup, its values already escaped). */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body><header><a href="/">vmprof-server</a></header><main>
${body}
</main></body></html>
`;
}

const when = (ms: number) => (ms > 0 ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "");
const seconds = (us: number) => (us > 0 ? `${(us / 1e6).toFixed(2)} s` : "");
const labelsHtml = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `<span class="label">${html(k)}=${html(v)}</span>`)
    .join("");

/** The list page: newest first, a search box, pages of `limit`. */
export function listPage(r: { total: number; profiles: ProfileRecord[] }, q: { search: string; offset: number; limit: number }): string {
  const rows = r.profiles
    .map(
      (p) => `<tr>
<td><a href="/profiles/${html(p.id)}">${html(p.name)}</a></td>
<td>${labelsHtml(p.labels)}</td>
<td>${html(when(p.startTime / 1000) || when(p.uploadedAt))}</td>
<td class="num">${html(seconds(p.durationUs))}</td>
<td class="num">${html(p.samples)}</td>
<td>${html(p.sourceFormat)}</td>
</tr>`,
    )
    .join("\n");
  const link = (offset: number, text: string) => `<a href="/?${new URLSearchParams({ ...(q.search ? { q: q.search } : {}), offset: String(offset) }).toString().replace(/&/g, "&amp;")}">${text}</a>`;
  const nav = [
    q.offset > 0 ? link(Math.max(0, q.offset - q.limit), "&larr; newer") : "",
    q.offset + q.limit < r.total ? link(q.offset + q.limit, "older &rarr;") : "",
  ].join("");
  return page(
    "Profiles - vmprof-server",
    `<form method="get" action="/"><input type="search" name="q" value="${html(q.search)}" placeholder="Search names and labels"> <button>Search</button></form>
<p class="muted">${html(r.total)} profile${r.total === 1 ? "" : "s"}${q.search ? ` matching &ldquo;${html(q.search)}&rdquo;` : ""}</p>
<table id="profiles"><thead><tr><th>name</th><th>labels</th><th>start</th><th class="num">duration</th><th class="num">samples</th><th>from</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<nav class="pages">${nav}</nav>`,
  );
}

/** A profile's page: its facts, the top table, the flame graph in speedscope's viewer, downloads. */
/** The rows of a summary's top table. */
function topRows(s: Summary): string {
  return s.top
    .map(
      (r) => `<tr><td class="num">${r.totalPercent.toFixed(1)}%</td><td class="num">${r.selfPercent.toFixed(1)}%</td><td>${html(r.name)}</td><td class="muted">${html(r.file ? `${r.file}${r.line ? `:${r.line}` : ""}` : "")}</td></tr>`,
    )
    .join("\n");
}

export function profilePage(p: ProfileRecord): string {
  const s = p.summary as Summary;
  const top = topRows(s);
  const downloads = OUTPUT_FORMATS.map((f) => `<a href="/api/profiles/${html(p.id)}/download?format=${f}">${f}</a>`).join(" &middot; ");
  const profileUrl = `/api/profiles/${p.id}/download?format=speedscope`;
  const viewer = `/viewer/index.html#profileURL=${encodeURIComponent(profileUrl)}&title=${encodeURIComponent(p.name)}&view=left-heavy`;
  const threads = s.threads.map((t) => `${t.name} (pid ${t.pid}, tid ${t.tid})`).join(", ");
  return page(
    `${p.name} - vmprof-server`,
    `<h1>${html(p.name)}</h1>
<p>${labelsHtml(p.labels)}</p>
<p class="muted">${html(p.samples)} samples &middot; ${html(seconds(p.durationUs))} &middot; started ${html(when(p.startTime / 1000))} &middot; uploaded ${html(when(p.uploadedAt))} &middot; ${html(s.mode ? `${s.mode} mode` : `from ${p.sourceFormat}`)}${s.nodeVersion ? ` &middot; Node ${html(s.nodeVersion)}` : ""}</p>
<p class="muted">threads: ${html(threads)}</p>
<p>Download: ${downloads}</p>
<p><a id="merge-name" href="/merge?name=${encodeURIComponent(p.name)}">Merge every profile named like this one</a></p>
<form id="compare" method="get" action="/compare"><input type="hidden" name="other" value="${html(p.id)}">Compare with a base profile: <input name="base" required pattern="[0-9a-f]{16}" placeholder="its id (16 hex digits)" size="24"> <button>Compare</button></form>
<h2>Flame graph</h2>
<iframe id="viewer" title="speedscope" src="${html(viewer)}"></iframe>
<h2>Top functions <span class="muted">(weight: ${html(s.weight)})</span></h2>
<table id="top"><thead><tr><th class="num">total</th><th class="num">self</th><th>function</th><th>location</th></tr></thead>
<tbody>
${top}
</tbody></table>${hotLinesHtml(s)}`,
  );
}

/** The hot lines of the top functions, as vmprof-report --lines: a table per function. */
function hotLinesHtml(s: Summary): string {
  if (!s.hotLines || s.hotLines.length === 0) return "";
  const blocks = s.hotLines.map((f) => {
    const rows = f.lines
      .map((l) => `<tr><td class="num">${l.selfPercent.toFixed(1)}%</td><td class="num">${l.totalPercent.toFixed(1)}%</td><td>${html(l.file === f.file ? `line ${l.line}` : `${l.file}:${l.line}`)}</td></tr>`)
      .join("\n");
    return `<h3>${html(f.name)} <span class="muted">${html(f.file ? `${f.file}${f.line ? `:${f.line}` : ""}` : "")}</span></h3>
<table class="lines"><thead><tr><th class="num">self</th><th class="num">total</th><th>line</th></tr></thead>
<tbody>
${rows}
</tbody></table>`;
  });
  return `\n<h2 id="hot-lines">Hot lines</h2>\n${blocks.join("\n")}`;
}

/** A selection in words: `named like "svc", env=prod, uploaded from ... to ...`, or "every profile". */
export function describeSelection(q: ListQuery): string {
  const what = [
    q.name ? `named like "${q.name}"` : "",
    ...Object.entries(q.labels ?? {}).map(([k, v]) => `${k}=${v}`),
    q.from !== undefined ? `uploaded from ${when(q.from)}` : "",
    q.to !== undefined ? `to ${when(q.to)}` : "",
  ].filter(Boolean);
  return what.length > 0 ? what.join(", ") : "every profile";
}

/**
 * The page of a merge (GET /merge): what was selected, how many uploads and samples, the flame graph
 * of the merged profile (speedscope, loading GET /api/merge?SEARCH&format=speedscope) and its top
 * functions. `search` is the page's own query string (name, label, from, to), without the token.
 */
export function mergePage(m: { profiles: number; samples: number; summary: Summary }, q: ListQuery, search: string): string {
  const s = m.summary;
  const title = `Merged: ${describeSelection(q)}`;
  const sep = search ? "&" : "";
  const downloads = OUTPUT_FORMATS.map((f) => `<a href="/api/merge?${html(search)}${sep}format=${f}">${f}</a>`).join(" &middot; ");
  const viewer = `/viewer/index.html#profileURL=${encodeURIComponent(`/api/merge?${search}${sep}format=speedscope`)}&title=${encodeURIComponent(title)}&view=left-heavy`;
  return page(
    `${title} - vmprof-server`,
    `<h1>${html(title)}</h1>
<p class="muted" id="merged">${html(m.profiles)} profiles &middot; ${html(m.samples)} samples &middot; ${html(s.threads.length)} threads</p>
<p>Download the merge: ${downloads}</p>
<h2>Flame graph</h2>
<iframe id="viewer" title="speedscope" src="${html(viewer)}"></iframe>
<h2>Top functions <span class="muted">(weight: ${html(s.weight)})</span></h2>
<table id="top"><thead><tr><th class="num">total</th><th class="num">self</th><th>function</th><th>location</th></tr></thead>
<tbody>
${topRows(s)}
</tbody></table>`,
  );
}
