/**
 * The worker thread of startContinuous (continuous.ts): reads the sampler's pipe, cuts one profile per
 * window and uploads it (@vmprof/client's ContinuousUploader). It is not sampled (it never joins the
 * session) and talks to the program's thread only through messages: warnings, and its stats at the
 * end. The pipe is read through libuv (a net.Socket over the fd), not the thread pool, so the
 * program's file system and DNS work never waits behind it. When the pipe ends (stop(), or the
 * process's exit), the last window is cut and sent, the stats posted, and the thread ends by itself.
 */
import net from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { ContinuousUploader } from "@vmprof/client";

interface Config {
  fd: number;
  url: string;
  token?: string;
  to: "vmprof" | "pyroscope";
  name?: string;
  labels: Record<string, string>;
  every: number;
  origin: number;
}

const c = workerData as Config;
const post = (m: object) => parentPort!.postMessage(m);
const pipe = new net.Socket({ fd: c.fd, readable: true, writable: false, allowHalfOpen: true });
let uploader: ContinuousUploader;
try {
  uploader = new ContinuousUploader({ ...c, log: (text) => post({ type: "warning", text }) });
} catch (e) {
  // startContinuous checked the options; whatever is left is reported and the pipe drained to its end.
  post({ type: "warning", text: `continuous profiling cannot upload: ${(e as Error).message}` });
  pipe.resume();
  throw e;
}
const source = uploader.addSource(`process ${process.pid}`);
const timer = setInterval(() => uploader.tick(), 250);
let ended = false;
const end = async () => {
  if (ended) return;
  ended = true;
  clearInterval(timer);
  if (source.error === undefined && !source.complete) post({ type: "warning", text: "the sampler's stream ended without its end record: the last window holds what it wrote" });
  const stats = await uploader.finish();
  post({ type: "done", stats });
  pipe.destroy();
};
pipe.on("data", (chunk: Buffer) => source.push(chunk));
pipe.on("end", () => void end());
pipe.on("error", (e) => {
  post({ type: "warning", text: `reading the sampler's stream: ${e.message}` });
  void end();
});
