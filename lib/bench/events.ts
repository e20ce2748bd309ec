/** API Gateway HTTP API (payload format 2.0) events and a Lambda context, as the local server builds them. */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { lambdaContext as localContext } from '../local/server.js';
import { BASE_PATH } from '../routes.js';

export interface EventSpec {
  method: 'GET' | 'POST';
  /** Path below the API's base path, e.g. `/session/events`. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
}

export function apiEvent(spec: EventSpec): APIGatewayProxyEventV2 {
  const rawPath = `${BASE_PATH}${spec.path}`;
  const query = spec.query ?? {};
  const rawQueryString = new URLSearchParams(query).toString();
  const now = new Date();
  const routeKey = `${spec.method} ${rawPath}`;
  const headers: Record<string, string> = { host: '127.0.0.1', 'user-agent': 'clickstream-bench' };
  if (spec.body !== undefined) headers['content-type'] = 'application/json';
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      domainName: '127.0.0.1',
      domainPrefix: '127',
      http: { method: spec.method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'clickstream-bench' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(spec.body !== undefined ? { body: JSON.stringify(spec.body), isBase64Encoded: false } : { isBase64Encoded: false }),
  };
}

export const lambdaContext = (functionName: string, memoryMb = 512): Context => localContext(functionName, memoryMb, 'bench');

/** A session body of realistic size: a query, 10 results with a little meta. */
export function sessionBody(sessionId: string, extra: Record<string, unknown> = {}) {
  return {
    session_id: sessionId,
    search_query: 'red running shoes size 42',
    search_results: Array.from({ length: 10 }, (_, i) => ({ object_id: `product-${1000 + i}`, rank: i + 1, meta: { score: 0.9 - i * 0.05 } })),
    user_id: 'user-12345',
    ...extra,
  };
}

/** A click event of realistic size (about 150 bytes stored). */
export function clickEvent(eventId: string, objectIndex = 0) {
  return { event_id: eventId, object_id: `product-${1000 + (objectIndex % 10)}`, event_type: 'click', meta: { position: objectIndex % 10 } };
}

export const events = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => clickEvent(`${prefix}-${i}`, i));
