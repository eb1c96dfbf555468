/** vmprof-upload as a library: send a profile to vmprof-server or Pyroscope. */
export { upload, UploadError, UploadUsageError, type UploadOptions, type UploadResult } from "./upload.js";
