/** A ParsePool worker: runs parseUpload, exportStored or compareStored for each job and answers with its result, or the error. */
import { parentPort } from "node:worker_threads";
import { compareStored } from "./compare.js";
import { MergeState } from "./merge.js";
import type { CompareTask, ExportJob, MergeTask, ParseAnswer, ParseJob } from "./pool.js";
import { HttpError, exportStored, parseUpload } from "./profiles.js";

/** Merges in progress in this worker, by session. */
const merges = new Map<number, MergeState>();

parentPort!.on("message", async ({ id, job }: { id: number; job: ParseJob | ExportJob | CompareTask | MergeTask }) => {
  let answer: ParseAnswer;
  try {
    if (!("kind" in job)) {
      const { record, data } = await parseUpload(job.body, job);
      answer = { id, record, data };
    } else if (job.kind === "merge-start" || job.kind === "merge-add" || job.kind === "merge-end") {
      answer = { id, bytes: mergeStep(job) };
    } else if (job.kind === "compare") {
      answer = { id, bytes: await compareStored(job) };
    } else {
      const bytes = await exportStored(job.data, job.name, job.format);
      answer = { id, bytes };
    }
  } catch (e) {
    const status = e instanceof HttpError ? e.status : 500;
    answer = { id, error: { status, message: status === 500 ? `cannot read the profile (${(e as Error).message})` : (e as Error).message } };
  }
  // A large export's memory is handed over, not copied (a small Buffer may share a pool: copied).
  const own = "bytes" in answer && answer.bytes.byteOffset === 0 && answer.bytes.byteLength === answer.bytes.buffer.byteLength && answer.bytes.byteLength > 1 << 16;
  parentPort!.postMessage(answer, own && "bytes" in answer ? [answer.bytes.buffer as ArrayBuffer] : []);
});

/** One step of a merge; a failed step ends its merge. */
function mergeStep(job: MergeTask): Uint8Array {
  try {
    if (job.kind === "merge-start") merges.set(job.session, new MergeState(job.origin, job.count));
    else if (job.kind === "merge-add") merges.get(job.session)!.add(job.data, job.name);
    else {
      const bytes = merges.get(job.session)!.finish(job.out);
      merges.delete(job.session);
      return bytes;
    }
    return new Uint8Array(0);
  } catch (e) {
    merges.delete(job.session);
    throw e;
  }
}
