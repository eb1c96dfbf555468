/** A ParsePool worker: runs parseUpload, exportStored or compareStored for each job and answers with its result, or the error. */
import { parentPort } from "node:worker_threads";
import { compareStored } from "./compare.js";
import type { CompareTask, ExportJob, ParseAnswer, ParseJob } from "./pool.js";
import { HttpError, exportStored, parseUpload } from "./profiles.js";

parentPort!.on("message", async ({ id, job }: { id: number; job: ParseJob | ExportJob | CompareTask }) => {
  let answer: ParseAnswer;
  try {
    if ("kind" in job && job.kind === "compare") {
      answer = { id, bytes: await compareStored(job) };
    } else if ("kind" in job) {
      const bytes = await exportStored(job.data, job.name, job.format);
      answer = { id, bytes };
    } else {
      const { record, data } = await parseUpload(job.body, job);
      answer = { id, record, data };
    }
  } catch (e) {
    const status = e instanceof HttpError ? e.status : 500;
    answer = { id, error: { status, message: status === 500 ? `cannot read the profile (${(e as Error).message})` : (e as Error).message } };
  }
  // A large export's memory is handed over, not copied (a small Buffer may share a pool: copied).
  const own = "bytes" in answer && answer.bytes.byteOffset === 0 && answer.bytes.byteLength === answer.bytes.buffer.byteLength && answer.bytes.byteLength > 1 << 16;
  parentPort!.postMessage(answer, own && "bytes" in answer ? [answer.bytes.buffer as ArrayBuffer] : []);
});
