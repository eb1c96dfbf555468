/**
 * A deterministic text dump of a profile: metadata, the process, thread, label set, function and frame
 * tables, then every distinct (thread, label set, state, stack) as a collapsed line with its sample count and summed CPU
 * and wall µs, sorted. Two profiles with equal dumps hold the same information; golden tests compare
 * dumps.
 */
import { FUNCTION_KIND_NAMES, THREAD_KIND_NAMES, TIER_MARKERS, TIER_NAMES, VM_STATE_NAMES } from "./constants.js";
import type { MetaValue, Profile } from "./model.js";
import { functionLabel, functionLocation } from "./model.js";

function metaText(v: MetaValue): string {
  return typeof v === "string" || Array.isArray(v) ? JSON.stringify(v) : String(v);
}

function metaLines(m: Map<string, MetaValue>, indent: string): string[] {
  return [...m.keys()].sort().map((k) => `${indent}meta ${k} = ${metaText(m.get(k)!)}`);
}

/** Renders the dump described in the module comment. */
export function dumpProfile(p: Profile): string {
  const out: string[] = [];
  out.push(`vmprof profile, format ${p.version[0]}.${p.version[1]}`);
  out.push(...metaLines(p.meta, ""));
  for (const pr of p.processes) {
    out.push(`process P${pr.id} pid=${pr.pid} ppid=${pr.ppid} start=${pr.startTime} name=${JSON.stringify(pr.name)}`);
    out.push(...metaLines(pr.meta, "  "));
  }
  for (const t of p.threads) {
    out.push(`thread T${t.id} P${t.process} tid=${t.tid} ${THREAD_KIND_NAMES[t.kind]} name=${JSON.stringify(t.name)}`);
  }
  p.labelSets.forEach((set, i) => out.push(`labels L${i + 1} ${set.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(" ")}`));
  for (const sc of p.scripts) out.push(`script ${JSON.stringify(sc.file)} map=${JSON.stringify(sc.sourceMapUrl)}`);
  for (const f of p.functions) {
    const src = f.source ? ` source ${JSON.stringify(f.source.name)} ${functionLocation(f.source) || "-"}` : "";
    out.push(`function F${f.id} ${FUNCTION_KIND_NAMES[f.kind]} ${JSON.stringify(f.name)} ${functionLocation(f) || "-"}${src}`);
  }
  for (const fr of p.frames) {
    const at = fr.line !== 0 || fr.column !== 0 ? ` @${fr.line}:${fr.column}` : "";
    const src = fr.source ? ` source ${fr.source.file || "-"}:${fr.source.line}:${fr.source.column}` : "";
    out.push(`frame R${fr.id} F${fr.function} ${TIER_NAMES[fr.tier]}${at}${src}`);
  }

  // Collapse samples by (thread, state, stack).
  const s = p.samples;
  const groups = new Map<string, [number, number, number]>();
  const names = new Map<number, string>();
  const stackText = (id: number): string => {
    let t = names.get(id);
    if (t === undefined) {
      const parts: string[] = [];
      for (let x = id; x !== 0; x = p.stacks.parent[x]) {
        const fr = p.frames[p.stacks.frame[x] - 1];
        parts.push(TIER_MARKERS[fr.tier] + functionLabel(p.functions[fr.function - 1]).replace(/[;\s]/g, "_"));
      }
      t = parts.reverse().join(";") || "-";
      names.set(id, t);
    }
    return t;
  };
  for (let i = 0; i < s.count; i++) {
    const key = `T${s.thread[i]}${s.labels[i] !== 0 ? ` L${s.labels[i]}` : ""} ${VM_STATE_NAMES[s.state[i]]} ${stackText(s.stack[i])}`;
    const g = groups.get(key);
    if (g) {
      g[0]++;
      g[1] += s.cpu[i];
      g[2] += s.wall[i];
    } else groups.set(key, [1, s.cpu[i], s.wall[i]]);
  }
  out.push(`samples ${s.count}`);
  for (const key of [...groups.keys()].sort()) {
    const [n, cpu, wall] = groups.get(key)!;
    out.push(`${key} ${n} cpu=${cpu} wall=${wall}`);
  }
  if (p.truncation) out.push(`truncated at byte ${p.truncation.offset} inside ${p.truncation.inside}`);
  return out.join("\n") + "\n";
}
