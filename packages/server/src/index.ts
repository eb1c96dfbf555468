/** vmprof-server as a library: the store, the HTTP app, and the pages. */
export { SCHEMA_VERSION, StoreOpenError, StoreUnavailableError, isPostgresUrl, openStore, type ListQuery, type NewProfile, type ProfileRecord, type Store } from "./store.js";
export { buildServer, parsePyroscopeName, type ServerOptions } from "./app.js";
export { HttpError, parseUpload, summarize, type Summary, type TopRow } from "./profiles.js";
export { html, listPage, profilePage } from "./pages.js";
