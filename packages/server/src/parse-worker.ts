/** A ParsePool worker: runs parseUpload for each job and answers with the record and bytes, or the error. */
import { parentPort } from "node:worker_threads";
import type { ParseAnswer, ParseJob } from "./pool.js";
import { HttpError, parseUpload } from "./profiles.js";

parentPort!.on("message", async ({ id, job }: { id: number; job: ParseJob }) => {
  let answer: ParseAnswer;
  try {
    const { record, data } = await parseUpload(job.body, job);
    answer = { id, record, data };
  } catch (e) {
    const status = e instanceof HttpError ? e.status : 500;
    answer = { id, error: { status, message: status === 500 ? `cannot read the profile (${(e as Error).message})` : (e as Error).message } };
  }
  parentPort!.postMessage(answer);
});
