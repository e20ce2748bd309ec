/**
 * Diagnostic stand-in for every functions/schemas/<name>.ts without zod: accepts everything (with the
 * defaults the handlers rely on). Start-up breakdown only, never deployed.
 */
const ok = <T>(data: T) => ({ success: true as const, data });
const pass = { safeParse: (v: unknown) => ok(v) };
export const MAX_ID_CHARS = 128;
export const MAX_EVENTS_PER_REQUEST = 1000;
export const MAX_SEARCH_RESULTS = 1000;
export const MAX_SHORT_TEXT_CHARS = 1024;
export const MAX_EVENTS_LIMIT = 10_000;
export const MAX_PAGE_LIMIT = 1000;
export const createSessionBody = pass;
export const pushEventsBody = {
  safeParse: (v: { events: Record<string, unknown>[] }) => ok({ ...v, events: v.events.map((e) => ({ event_type: 'click', ...e })) }),
};
export const sessionIdBody = pass;
export const releaseBody = pass;
export const getSessionQuery = { safeParse: (v: Record<string, unknown>) => ok({ events_limit: MAX_EVENTS_LIMIT, ...v }) };
export const getBatchSessionsQuery = pass;
export const getBatchQuery = pass;
export const listBatchesQuery = pass;
export const startExportBody = pass;
export const getExportQuery = pass;
export const EXPORT_FORMATS = ['sessions', 'pairs'] as const;
export const EXPORT_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
export const rangeTaskSchema = { parse: (v: unknown) => v };
export const finishExportInput = { parse: (v: unknown) => v };
