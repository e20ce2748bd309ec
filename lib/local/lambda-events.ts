/**
 * The one builder of what Lambda hands a function behind API Gateway's HTTP API: the payload-2.0
 * event of a request and the invocation's context. The local server, the benchmark and the tests all
 * build their events and contexts here.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

export interface HttpRequestParts {
  method: string;
  /** The request target as on the request line: absolute path and query string. */
  url: string;
  /** Header names in any case; a list for a repeated header (joined with commas, as API Gateway does). */
  headers?: Record<string, string | readonly string[] | undefined>;
  body?: Buffer | string;
  /** The route key API Gateway matched (default: `METHOD /path`). */
  routeKey?: string;
  httpVersion?: string;
  sourceIp?: string;
}

/** Joins repeated values with commas, as API Gateway's HTTP API does. */
function joinRepeated(pairs: Iterable<[string, string]>): Record<string, string> {
  const out: Record<string, string> = Object.create(null); // keys like __proto__ are plain keys
  for (const [k, v] of pairs) out[k] = Object.hasOwn(out, k) ? `${out[k]},${v}` : v;
  return { ...out };
}

/** The event API Gateway's HTTP API (payload format 2.0) sends for a request. */
export function apiGatewayEvent(r: HttpRequestParts): APIGatewayProxyEventV2 {
  const url = new URL(r.url, 'http://localhost');
  const headers = joinRepeated(
    Object.entries(r.headers ?? {}).flatMap(([k, vs]) =>
      (vs === undefined ? [] : typeof vs === 'string' ? [vs] : vs).map((v): [string, string] => [k.toLowerCase(), v]),
    ),
  );
  const cookies = headers.cookie?.split(';').map((c) => c.trim());
  delete headers.cookie;
  const query = joinRepeated(url.searchParams.entries());
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, 'utf8');
  const text = body.length > 0 ? new TextDecoder('utf-8', { fatal: false }).decode(body) : undefined;
  const isText = text !== undefined && Buffer.from(text, 'utf8').equals(body);
  const routeKey = r.routeKey ?? `${r.method} ${url.pathname}`;
  const now = new Date();
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: r.method,
        path: url.pathname,
        protocol: `HTTP/${r.httpVersion ?? '1.1'}`,
        sourceIp: r.sourceIp ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0
      ? { body: isText ? text : body.toString('base64'), isBase64Encoded: !isText }
      : { isBase64Encoded: false }),
  };
}

export interface ContextOptions {
  memoryMb?: number;
  logStreamName?: string;
  /** The invocation's time limit. */
  timeoutMs?: number;
  /** The remaining time stays at `timeoutMs` instead of running down with the clock (tests). */
  frozen?: boolean;
}

/** The context object Lambda passes a handler. */
export function lambdaContext(functionName: string, o: ContextOptions = {}): Context {
  const started = Date.now();
  const timeoutMs = o.timeoutMs ?? 29_000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: String(o.memoryMb ?? 512),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: o.logStreamName ?? 'local',
    getRemainingTimeInMillis: () => (o.frozen ? timeoutMs : Math.max(0, timeoutMs - (Date.now() - started))),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
