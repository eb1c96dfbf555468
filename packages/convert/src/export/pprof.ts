/**
 * pprof: a gzipped profile.proto written with `pprof-format`. Sample types samples/count,
 * cpu/nanoseconds and wall/nanoseconds (the default is the chosen weight); one sample per distinct
 * (thread, labels, list of locations) with labels "pid", "thread id" and "thread name" and then the
 * sample's own labels (format's SampleLabels: its label set over its process's and the profile's
 * `label.*` metadata) as string labels, so `go tool pprof -tagfocus` selects by them and samples
 * with different labels are never summed together; one Function per function of the
 * profile (startLine: where it starts; VM states are functions named "(garbage collector)", "(idle)"...)
 * and one Location per (function, line, column) its frames were executing, so `go tool pprof -list`
 * shows per-line costs (Line.line and Line.column 1-based, 0 when unknown); period,
 * time_nanos and duration_nanos from the recording. JIT tiers have no place in pprof and are dropped.
 * Mapping 1 is the program; native functions (a recording with native frames) get one Mapping per
 * file, with its address range, file offset and build id from the `native_mappings` metadata when
 * the recording has it, and their Locations refer to it.
 */
import { gzipSync } from "node:zlib";
import { Function as PFunction, Label, Location, Mapping, Profile as PProfile, Sample, StringTable, ValueType, Line } from "pprof-format";
import { FunctionKind, STATE_SLOTS, effectiveLabelSets, functionInfo, metaValue, nativeMappings, pathKey, pathKeyStack, pathKeyState, type Profile } from "@vmprof/format";
import { select, type ExportOptions } from "../select.js";
import { PathFrames } from "./frames.js";
import { EXPORTER } from "./speedscope.js";

/** Encodes the pprof of `p`, gzipped. */
export function toPprof(p: Profile, o: ExportOptions = {}): Uint8Array {
  const sel = select(p, o);
  const s = p.samples;
  const strings = new StringTable();
  const str = (x: string) => strings.dedup(x);

  // Sum count, cpu and wall per (thread, labels, stack, state) in dense arrays: (stack, state) gets a
  // compact index k on first use, and each (thread, labels) series a growable column per sum, indexed
  // by k. A series is thread * sets.length + the index of the sample's labels in `sets`.
  const { sets, ids: labelsOf } = effectiveLabelSets(p);
  const kOf = new Int32Array(p.stacks.count * STATE_SLOTS).fill(-1);
  const stackKeys: number[] = [];
  const sums: ({ count: Float64Array; cpu: Float64Array; wall: Float64Array } | undefined)[] = [];
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < s.count; i++) {
    if (sel.keep[i] === 0) continue;
    const key = pathKey(s.stack[i], s.state[i]);
    let k = kOf[key];
    if (k < 0) {
      k = kOf[key] = stackKeys.length;
      stackKeys.push(key);
    }
    const series = s.thread[i] * sets.length + labelsOf[i];
    let t = sums[series];
    if (t === undefined || k >= t.count.length) {
      const cap = Math.max(1024, (k + 1) * 2);
      const grow = (a: Float64Array | undefined) => {
        const b = new Float64Array(cap);
        if (a) b.set(a);
        return b;
      };
      t = { count: grow(t?.count), cpu: grow(t?.cpu), wall: grow(t?.wall) };
      sums[series] = t;
    }
    t.count[k]++;
    t.cpu[k] += s.cpu[i];
    t.wall[k] += s.wall[i];
    if (s.time[i] - s.wall[i] < first) first = s.time[i] - s.wall[i];
    if (s.time[i] > last) last = s.time[i];
    if ((i & 0xfffff) === 0) o.onProgress?.(i / s.count);
  }
  // One pprof Function per function, one Location per (function, line, column) sampled: what a frame
  // says minus its tier. Hidden functions or lost tiers can make two stacks one list of locations:
  // samples merge by that list.
  const frames = new PathFrames(sel.paths);
  const functions: PFunction[] = [];
  const functionOf = new Map<string, number>();
  // A position in another file than its function's (a source map can say so) gets a Function of
  // that file, with no start line: a pprof Line has no file of its own.
  const pfunction = (fnId: number, file: string | undefined): number => {
    const key = file === undefined ? String(fnId) : `${fnId}\0${file}`;
    let id = functionOf.get(key);
    if (id !== undefined) return id;
    id = functions.length + 1;
    const f = functionInfo(p, fnId);
    const name = f.name === "" ? "(anonymous)" : f.name;
    functions.push(new PFunction({ id, name: str(name), systemName: str(name), filename: str(file ?? f.file), startLine: file === undefined ? f.line : 0 }));
    functionOf.set(key, id);
    return id;
  };
  // Mapping 1: the program. Then one per file of native functions, in order of first use.
  const program = metaValue(p, "argv");
  const mappings: Mapping[] = [
    new Mapping({
      id: 1,
      filename: str(Array.isArray(program) && program.length > 0 ? program[0] : "node"),
      hasFunctions: true,
      hasFilenames: true,
      hasLineNumbers: true,
    }),
  ];
  const recorded = new Map<string, ReturnType<typeof nativeMappings>[number]>();
  for (const m of nativeMappings(p)) if (!recorded.has(m.file)) recorded.set(m.file, m);
  const mappingOf = new Map<string, number>();
  const mappingFor = (fnId: number): number => {
    const f = fnId <= p.functions.length ? p.functions[fnId - 1] : undefined;
    if (!f || f.kind !== FunctionKind.NATIVE || f.file === "") return 1;
    let id = mappingOf.get(f.file);
    if (id !== undefined) return id;
    id = mappings.length + 1;
    const m = recorded.get(f.file);
    mappings.push(
      new Mapping({
        id,
        memoryStart: m?.start ?? 0n,
        memoryLimit: m?.end ?? 0n,
        fileOffset: m?.offset ?? 0n,
        filename: str(f.file),
        buildId: str(m?.buildId ?? ""),
        hasFunctions: true,
      }),
    );
    mappingOf.set(f.file, id);
    return id;
  };
  const locations: Location[] = [];
  const locOf = new Map<string, number>();
  const location = (fnId: number, frameId: number): number => {
    const fr = frameId === 0 ? undefined : p.frames[frameId - 1];
    const line = fr?.line ?? 0;
    const column = fr?.column ?? 0;
    const key = `${fnId}:${line}:${column}:${fr?.file ?? ""}`;
    let id = locOf.get(key);
    if (id !== undefined) return id;
    id = locations.length + 1;
    locations.push(new Location({ id, mappingId: mappingFor(fnId), line: [new Line({ functionId: pfunction(fnId, fr?.file), line, column })] }));
    locOf.set(key, id);
    return id;
  };
  const pathIds = new Map<string, number>();
  const paths: number[][] = [];
  const pathOfK = stackKeys.map((key) => {
    const fns = sel.paths.functions(pathKeyStack(key), pathKeyState(key));
    const frs = frames.get(pathKeyStack(key), pathKeyState(key));
    const locs: number[] = [];
    for (let k = fns.length - 1; k >= 0; k--) locs.push(location(fns[k], frs[k]));
    const text = locs.join(",");
    let id = pathIds.get(text);
    if (id === undefined) {
      pathIds.set(text, (id = paths.length));
      paths.push(locs);
    }
    return id;
  });
  const entries: { thread: number; labels: number; path: number; count: number; cpu: number; wall: number }[] = [];
  for (const t of sel.threads) {
    for (let l = 0; l < sets.length; l++) {
      const sum = sums[t.id * sets.length + l];
      if (!sum) continue;
      const byPath = new Map<number, (typeof entries)[number]>();
      for (let k = 0; k < sum.count.length; k++) {
        if (sum.count[k] === 0) continue;
        let e = byPath.get(pathOfK[k]);
        if (!e) {
          e = { thread: t.id, labels: l, path: pathOfK[k], count: 0, cpu: 0, wall: 0 };
          byPath.set(pathOfK[k], e);
          entries.push(e);
        }
        e.count += sum.count[k];
        e.cpu += sum.cpu[k];
        e.wall += sum.wall[k];
      }
    }
  }

  const types = [
    new ValueType({ type: str("samples"), unit: str("count") }),
    new ValueType({ type: str("cpu"), unit: str("nanoseconds") }),
    new ValueType({ type: str("wall"), unit: str("nanoseconds") }),
  ];
  const keys = { pid: str("pid"), tid: str("thread id"), name: str("thread name") };
  const threadLabels = new Map<number, Label[]>();
  for (const t of sel.threads) {
    threadLabels.set(t.id, [
      new Label({ key: keys.pid, num: p.processes[t.process - 1].pid }),
      new Label({ key: keys.tid, num: t.tid }),
      new Label({ key: keys.name, str: str(t.name) }),
    ]);
  }
  const sampleLabels = sets.map((set) => set.map(([k, v]) => new Label({ key: str(k), str: str(v) })));
  const samples = entries.map(
    (e) =>
      new Sample({
        locationId: paths[e.path],
        value: [e.count, e.cpu * 1000, e.wall * 1000],
        label: e.labels === 0 ? threadLabels.get(e.thread) : [...threadLabels.get(e.thread)!, ...sampleLabels[e.labels]],
      }),
  );

  const mode = String(metaValue(p, "mode") ?? "");
  const periodUs = Number(metaValue(p, "period_us") ?? 0);
  const start = Number(metaValue(p, "start_time") ?? 0);
  const end = Number(metaValue(p, "end_time") ?? 0);
  const durationUs = end > start && start > 0 && !o.selection?.from && !o.selection?.to ? end - start : last > first ? last - first : 0;
  const comments = [`${EXPORTER} from ${p.source}`];
  for (const k of ["node_version", "mode", "period_us"]) {
    const v = metaValue(p, k);
    if (v !== undefined) comments.push(`${k}=${v}`);
  }
  const defaultType = sel.weight === "cpu" ? types[1].type : sel.weight === "wall" ? types[2].type : types[0].type;
  const profile = new PProfile({
    sampleType: types,
    sample: samples,
    mapping: mappings,
    location: locations,
    function: functions,
    stringTable: strings,
    timeNanos: BigInt(Math.round(start + (o.selection?.from ?? 0))) * 1000n,
    durationNanos: Math.round(durationUs) * 1000,
    periodType: mode === "wall" ? types[2] : types[1],
    period: periodUs * 1000,
    comment: comments.map(str),
    defaultSampleType: defaultType,
  });
  o.onProgress?.(1);
  return gzipSync(profile.encode());
}
