/** Sample indices grouped by thread, in file order (time order within a thread), in one pass. */
import type { Profile } from "@vmprof/format";

/** The kept samples of each thread. */
export interface ThreadBuckets {
  /** Indices of thread `id`'s kept samples, in time order. */
  of(id: number): Uint32Array;
}

/**
 * Where each thread's bucket starts in an array of all kept samples grouped by thread: thread `id`'s
 * kept samples go to positions start[id] .. start[id + 1] - 1 (length threads + 2).
 */
export function bucketStarts(p: Profile, keep: Uint8Array): Uint32Array {
  const s = p.samples;
  const start = new Uint32Array(p.threads.length + 2);
  for (let i = 0; i < s.count; i++) if (keep[i] === 1) start[s.thread[i] + 1]++;
  for (let t = 1; t < start.length; t++) start[t] += start[t - 1];
  return start;
}

/** Groups the samples marked in `keep` by thread. */
export function threadBuckets(p: Profile, keep: Uint8Array): ThreadBuckets {
  const s = p.samples;
  const start = bucketStarts(p, keep);
  const order = new Uint32Array(start[start.length - 1]);
  const fill = start.slice();
  for (let i = 0; i < s.count; i++) if (keep[i] === 1) order[fill[s.thread[i]]++] = i;
  return { of: (id) => order.subarray(start[id], start[id + 1]) };
}
