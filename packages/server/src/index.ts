/** vmprof-server as a library: the store, the HTTP app, and the pages. */
export { Store, type ProfileRecord, type ListQuery } from "./store.js";
export { buildServer, parsePyroscopeName, type ServerOptions } from "./app.js";
export { HttpError, parseUpload, summarize, type Summary, type TopRow } from "./profiles.js";
export { html, listPage, profilePage } from "./pages.js";
