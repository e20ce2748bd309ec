/**
 * Calls the real handlers the way the local server does: a request (method, path with query string,
 * headers, body bytes) becomes API Gateway's payload-2.0 event through the builder the local server
 * uses (lib/local/lambda-events.ts), and the route table picks the handler (or the `$default` fallback). No socket,
 * so thousands of cases run in seconds; `viaHttp` sends the same request through the local server.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { apiGatewayEvent, lambdaContext } from '../../../lib/local/lambda-events.js';
import { loadRouteHandlers } from '../../../lib/local/server.js';
import { BASE_PATH } from '../../../lib/routes.js';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export interface RawRequest {
  method: string;
  /** Path below BASE_PATH (e.g. "/session"), or an absolute path when `absolute` is set. */
  path: string;
  absolute?: boolean;
  /** The raw query string, without "?". */
  query?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
}

let loaded: Promise<{ byRouteKey: Map<string, Handler>; fallback: Handler }> | undefined;
const handlers = () => (loaded ??= loadRouteHandlers());

const context = (remainingMs = 29_000): Context =>
  lambdaContext('robustness', { timeoutMs: remainingMs, frozen: true, logStreamName: 'local' });

const fullUrl = (r: RawRequest) =>
  `${r.absolute ? '' : BASE_PATH}${r.path}${r.query !== undefined && r.query !== '' ? `?${r.query}` : ''}`;

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** The event the local server would build for this request (and the route key it would pick). */
export async function eventFor(r: RawRequest): Promise<{ event: APIGatewayProxyEventV2; handler: Handler }> {
  const { byRouteKey, fallback } = await handlers();
  const url = fullUrl(r);
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = [v];
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, 'utf8');
  if (body.length > 0) headers['content-length'] = [String(body.length)];
  const pathname = new URL(url, 'http://localhost').pathname;
  const routeKey = `${r.method} ${pathname}`;
  const handler = byRouteKey.get(routeKey);
  const event = apiGatewayEvent({ method: r.method, url, headers, body, routeKey: handler ? routeKey : '$default' });
  return { event, handler: handler ?? fallback };
}

/**
 * Runs the request through the real handler in this process. `adjust` may change the event first,
 * for what API Gateway can send and the local server does not: a base64-encoded text body, query
 * parameters it decoded itself (lone surrogates included). `remainingMs` is the invocation's time
 * left (Lambda's context; middy answers just before it runs out).
 */
export async function invoke(
  r: RawRequest,
  adjust?: (event: APIGatewayProxyEventV2) => void,
  remainingMs?: number,
): Promise<Answer> {
  const { event, handler } = await eventFor(r);
  adjust?.(event);
  const result = await handler(event, context(remainingMs));
  const text = result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64').toString('utf8') : (result.body ?? '');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k.toLowerCase()] = String(v);
  return { status: result.statusCode ?? 200, headers, text, json: parseJson(text) };
}

/** Sends the request through the local HTTP server at `origin` (e.g. http://127.0.0.1:1234). */
export async function viaHttp(origin: string, r: RawRequest): Promise<Answer> {
  const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, 'utf8');
  const res = await fetch(`${origin}${fullUrl(r)}`, {
    method: r.method,
    headers: r.headers ?? {},
    ...(body !== undefined && r.method !== 'GET' && r.method !== 'HEAD' ? { body } : {}),
  });
  const text = await res.text();
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return { status: res.status, headers, text, json: parseJson(text) };
}

/** A JSON POST (the body is serialized unless it is bytes or text already). */
export const post = (
  path: string,
  body: unknown,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): RawRequest => ({
  method: 'POST',
  path,
  headers,
  body: Buffer.isBuffer(body) || typeof body === 'string' ? (body as Buffer | string) : JSON.stringify(body),
});

export const get = (path: string, query: Record<string, string | number | boolean> = {}): RawRequest => ({
  method: 'GET',
  path,
  query: new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString(),
});

/** Sends a request; undefined when no answer came (the server died under it, or was gone). */
export type Send = (r: RawRequest) => Promise<Answer | undefined>;

/**
 * Every session of a released batch (irrelevant ones included, at most `events_limit` events each),
 * paged through get_batch_sessions on last_number; `failed`: the answer (or none) that was not a page.
 */
export async function releasedSessions(send: Send, batch_id: string, events_limit: number) {
  const sessions: Record<string, any>[] = [];
  for (let after_number = 0; ;) {
    const a = await send(
      get('/internal/batch/sessions', { batch_id, after_number, limit: 1000, events_limit, include_irrelevant: true }),
    );
    if (a?.status !== 200) return { sessions, failed: a };
    const page = a.json as { last_number: number | null; sessions: Record<string, any>[] };
    if (page.last_number === null) return { sessions };
    sessions.push(...page.sessions);
    after_number = page.last_number;
  }
}
