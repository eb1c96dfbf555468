/**
 * @vmprof/client: the HTTP client both vmprof-upload and vmprof-record --upload use (no command
 * imports another): send a profile to vmprof-server or Pyroscope, with retries.
 */
export { parseLabels, upload, UploadError, UploadUsageError, type UploadOptions, type UploadResult } from "./upload.js";
export { ContinuousUploader, MAX_EVERY_S, MIN_EVERY_S, type ContinuousOptions, type ContinuousStats, type WindowInfo } from "./continuous.js";
