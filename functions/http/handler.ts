/**
 * One way to build every HTTP handler: middy with the request guard (size, media type, encoding,
 * then the JSON guard, which parses the body once), zod validation, and one error handler that writes
 * the contract's `{"detail": ...}` bodies. Handlers only validate, call one domain function and shape
 * their answer.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type * as z from 'zod/mini';
import type { Caller } from '../domain/sessions.js';
import { config } from '../shared/config.js';
import { DomainError } from '../shared/errors.js';
import {
  bodyIssue,
  HttpError,
  RETRY_AFTER_SECONDS,
  STATUS_OF,
  toValidationIssues,
  type ValidationIssue,
  validationError,
} from './errors.js';
import { type Finding, hasPath, readJson } from './json-guard.js';
import { TIMESTAMP_PATHS, WrittenNumber } from '../shared/timestamps.js';
import { errorFields, log, type RequestCounts } from './observability.js';

export const MAX_BODY_BYTES = 1024 * 1024;

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResponse = APIGatewayProxyStructuredResultV2;

export interface Input<B, Q> {
  body: B;
  query: Q;
  event: HttpEvent;
  /** Adds counts to the request's log line; the metric filters read them (observability.ts). */
  count: (counts: RequestCounts) => void;
}

export interface RouteSpec<B extends z.ZodMiniType | undefined, Q extends z.ZodMiniType | undefined> {
  name: string;
  body?: B;
  query?: Q;
}

type Out<T> = T extends z.ZodMiniType ? z.output<T> : undefined;

export const json = (statusCode: number, payload: unknown, headers: Record<string, string> = {}): HttpResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(payload),
});

/**
 * Who calls a client route. With clientAuth=jwt (CLICKSTREAM_CLIENT_AUTH), API Gateway has validated
 * the token and passes its claims: the caller is its `sub`, and a token without one is refused.
 * Otherwise (iam, none) sessions have no owner.
 */
export function callerOf(event: HttpEvent): Caller {
  if (config().clientAuth !== 'jwt') return {};
  const context = event.requestContext as { authorizer?: { jwt?: { claims?: Record<string, unknown> } } };
  const sub = context.authorizer?.jwt?.claims?.sub;
  if (typeof sub !== 'string' || sub === '') throw new HttpError(403, 'Forbidden: the token has no sub claim');
  return { sub };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Header case, for every request. */
const requestContext: middy.MiddlewareObj<HttpEvent, HttpResponse> = {
  before: async (request) => {
    const event = request.event;
    event.headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  },
};

/** `application/json` or `application/*+json`, any case; whitespace around ";" and any parameters allowed (RFC 9110). */
const isJsonMediaType = (header: string): boolean => {
  // indexOf/trim, not a regex: linear on a header of any length.
  const semicolon = header.indexOf(';');
  const mediaType = (semicolon < 0 ? header : header.slice(0, semicolon)).trim().toLowerCase();
  return (
    mediaType === 'application/json' ||
    (mediaType.startsWith('application/') &&
      mediaType.endsWith('+json') &&
      mediaType.length > 'application/+json'.length)
  );
};

/**
 * The request guard: 413 over MAX_BODY_BYTES, 415 for a media type that is not JSON, 422 for text
 * that is not UTF-8, then the JSON guard (one parse and its checks, linear in the body's length):
 * 422 for malformed JSON, nesting past 64 levels, too many altered values. Returns the parsed body
 * and the values JSON.parse altered, for the validation step.
 */
function readBody(event: HttpEvent): { value: unknown; findings: Finding[] } {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new HttpError(413, `Request body is ${bytes.length} bytes; the limit is ${MAX_BODY_BYTES} bytes`);
  }
  if (!isJsonMediaType(event.headers['content-type'] ?? '')) {
    throw new HttpError(415, 'Unsupported Media Type: send Content-Type: application/json');
  }
  let text: string;
  try {
    text = event.isBase64Encoded ? utf8.decode(bytes) : raw;
  } catch {
    throw bodyIssue('Request body is not valid UTF-8', 'json_invalid');
  }
  // Timestamps are read as written: a float literal or an integer past 2^53 keeps its spelling.
  const read = readJson(text, { watched: TIMESTAMP_PATHS, asWritten: (lexeme) => new WrittenNumber(lexeme) });
  if (read.problem) throw bodyIssue(read.problem.msg, read.problem.type);
  return read;
}

/** The counts a handler reported for its request's log line (`Input.count`). */
const counted = new WeakMap<HttpEvent, RequestCounts>();

/**
 * One structured log line per request (operation, method, status, duration, API request id and the
 * handler's counts): the metric filters count 4xx, 5xx and the handlers' counts from it. For answers
 * from the handler and from the error handler alike; a 5xx is a warning. Never logs bodies, query
 * strings, paths or ids: they carry search queries and the ids of users and sessions.
 */
const requestLog = (operation: string): middy.MiddlewareObj<HttpEvent, HttpResponse> => {
  const done = (request: middy.Request<HttpEvent, HttpResponse>) => {
    const started = (request.internal as Record<string, unknown>).startedAt as number | undefined;
    log.request({
      operation,
      method: request.event.requestContext?.http?.method,
      status: request.response?.statusCode ?? 500,
      durationMs: started === undefined ? undefined : Date.now() - started,
      correlationId: request.event.requestContext?.requestId,
      ...counted.get(request.event),
    });
  };
  return {
    before: async (request) => {
      (request.internal as Record<string, unknown>).startedAt = Date.now();
    },
    after: async (request) => done(request),
    onError: async (request) => done(request),
  };
};

function toResponse(err: unknown, name: string, event: HttpEvent): HttpResponse {
  const correlationId = event.requestContext?.requestId;
  if (err instanceof HttpError) {
    return json(err.statusCode, { detail: err.detail }, err.headers);
  }
  if (err instanceof DomainError) {
    const status = STATUS_OF[err.kind];
    return json(status, { detail: err.message }, status === 503 ? { 'retry-after': RETRY_AFTER_SECONDS } : {});
  }
  const e = err as { statusCode?: number; message?: string; cause?: { package?: string } };
  if (e?.cause?.package === '@middy/core' && (err as Error).name === 'TimeoutError') {
    // middy gives up just before the function's timeout: storage too slow for this invocation. Transient.
    log.warn('Invocation ran out of time', { operation: name, correlationId });
    return json(
      503,
      { detail: 'The request did not finish in time; retry the request' },
      { 'retry-after': RETRY_AFTER_SECONDS },
    );
  }
  log.error('Unhandled error', { operation: name, correlationId, error: errorFields(err) });
  return json(500, { detail: 'Internal Server Error' });
}

export function httpHandler<
  B extends z.ZodMiniType | undefined = undefined,
  Q extends z.ZodMiniType | undefined = undefined,
>(spec: RouteSpec<B, Q>, fn: (input: Input<Out<B>, Out<Q>>) => Promise<HttpResponse>) {
  const core = async (event: HttpEvent, _context: Context): Promise<HttpResponse> => {
    let body: unknown;
    let query: unknown;
    if (spec.body) {
      const { value, findings } = readBody(event);
      const parsed = spec.body.safeParse(value);
      // A value JSON.parse altered is refused where it would be used (stored); in an unknown field it
      // is ignored with the field. Where the schema refuses the altered value itself (1e999 became
      // Infinity, no valid number), the issue is what JSON.parse did to it, not what it became.
      const issueOf = (f: Finding): ValidationIssue => ({
        loc: ['body', ...f.path],
        msg: f.problem.msg,
        type: f.problem.type,
      });
      if (!parsed.success) {
        const issues = toValidationIssues('body', parsed.error, value).map((issue) => {
          const altered = findings.find(
            (f) => f.path.length === issue.loc.length - 1 && f.path.every((k, i) => k === issue.loc[i + 1]),
          );
          return altered ? issueOf(altered) : issue;
        });
        throw new HttpError(422, issues);
      }
      const altered = findings.find((f) => hasPath(parsed.data, f.path));
      if (altered) throw validationError([issueOf(altered)]);
      body = parsed.data;
    }
    if (spec.query) {
      const params = event.queryStringParameters ?? {};
      const parsed = spec.query.safeParse(params);
      if (!parsed.success) throw new HttpError(422, toValidationIssues('query', parsed.error, params));
      query = parsed.data;
    }
    const count = (counts: RequestCounts) => counted.set(event, { ...counted.get(event), ...counts });
    return fn({ body: body as Out<B>, query: query as Out<Q>, event, count });
  };

  return middy<HttpEvent, HttpResponse>(core)
    .use(requestLog(spec.name)) // after/onError run in reverse order: sees the final answer
    .use({
      onError: async (request) => {
        request.response = toResponse(request.error, spec.name, request.event);
      },
    })
    .use(requestContext);
}
