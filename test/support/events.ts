/** API Gateway HTTP API (payload 2.0) events for calling handlers directly (lib/local/lambda-events.ts builds them). */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { apiGatewayEvent, lambdaContext } from '../../lib/local/lambda-events.js';
import { BASE_PATH } from '../../lib/routes.js';

export function httpEvent(opts: {
  method: 'GET' | 'POST' | string;
  path: string;
  body?: unknown;
  query?: Record<string, string>;
  headers?: Record<string, string>;
}): APIGatewayProxyEventV2 {
  const body =
    opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const query = new URLSearchParams(opts.query ?? {}).toString();
  return apiGatewayEvent({
    method: opts.method,
    url: `${BASE_PATH}${opts.path}${query ? `?${query}` : ''}`,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    ...(body !== undefined ? { body } : {}),
  });
}

export const context = lambdaContext('test', { frozen: true });
