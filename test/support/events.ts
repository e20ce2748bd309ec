/** API Gateway HTTP API (payload 2.0) events for calling handlers directly. */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { BASE_PATH } from '../../lib/routes.js';

export function httpEvent(opts: {
  method: 'GET' | 'POST' | string;
  path: string;
  body?: unknown;
  query?: Record<string, string>;
  headers?: Record<string, string>;
}): APIGatewayProxyEventV2 {
  const rawPath = `${BASE_PATH}${opts.path}`;
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  return {
    version: '2.0',
    routeKey: `${opts.method} ${rawPath}`,
    rawPath,
    rawQueryString: new URLSearchParams(opts.query ?? {}).toString(),
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    ...(opts.query ? { queryStringParameters: opts.query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method: opts.method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: 'req-1',
      routeKey: `${opts.method} ${rawPath}`,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
  };
}

export const context = { awsRequestId: 'test', functionName: 'test', getRemainingTimeInMillis: () => 29_000 } as unknown as Context;
