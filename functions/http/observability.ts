/**
 * Logs and metrics with no library: the functions write one plain object per line with `console`,
 * and the platform does the rest.
 * - Lambda's JSON log format (the stack sets it on every function, lib/clickstream-function.ts)
 *   writes `console.info(object)` as `{"timestamp", "level", "requestId", "message": object}` and
 *   drops lines below the function's application log level.
 * - Metrics come from metric filters on each function's log group (lib/monitoring.ts,
 *   FUNCTION_METRICS): they read the request line's fields (`$.message.status`,
 *   `$.message.accepted`...) in namespace `Clickstream` with the one dimension `service=clickstream`.
 *
 * Why not Powertools Logger and Metrics: together they were about a third of the functions' start-up
 * time above the SDK-only baseline (docs/operations.md, "Logs and metrics").
 *
 * No Tracer either: Lambda's active tracing already records every invocation in X-Ray, and per-call
 * DynamoDB subsegments would need aws-xray-sdk-core in every bundle (docs/operations.md).
 */

export const SERVICE_NAME = 'clickstream';

/** What the request line of an operation adds for its metrics (each read by one metric filter). */
export interface RequestCounts {
  /** create_session: a new session (not a retry of one). */
  created?: boolean;
  /** push_events: events by status. */
  accepted?: number;
  duplicate?: number;
  conflict?: number;
  rejected?: number;
  /** release_batch: answered with a released batch. */
  released?: boolean;
}

/**
 * The one line per request. Never a body, query string, path or id of a user, session, event or
 * object: they carry search queries and personal data. `correlationId` is API Gateway's request id.
 */
export interface RequestLine extends RequestCounts {
  msg: 'request';
  service: typeof SERVICE_NAME;
  operation: string;
  method?: string;
  status: number;
  durationMs?: number;
  correlationId?: string;
}

type Fields = Record<string, unknown>;
const entry = (msg: string, fields: Fields) => ({ msg, service: SERVICE_NAME, ...fields });

/** One argument each: with one object, the JSON log format keeps it as a JSON object in `message`. */
export const log = {
  info: (msg: string, fields: Fields = {}) => console.info(entry(msg, fields)),
  warn: (msg: string, fields: Fields = {}) => console.warn(entry(msg, fields)),
  error: (msg: string, fields: Fields = {}) => console.error(entry(msg, fields)),
  request: (line: Omit<RequestLine, 'msg' | 'service'>) =>
    (line.status >= 500 ? console.warn : console.info)(entry('request', line)),
};

/** An error's name, message and stack as plain fields (JSON.stringify drops an Error's own). */
export const errorFields = (err: unknown) =>
  err instanceof Error
    ? { name: err.name, message: err.message, stack: err.stack }
    : { name: typeof err, message: String(err) };
