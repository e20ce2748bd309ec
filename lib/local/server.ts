/**
 * The local HTTP server: serves the route table that the stack deploys, turning each request into
 * the event API Gateway's HTTP API sends a Lambda function (payload format 2.0) and calling the very
 * handler the function runs.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { fallbackRoute, fullPath, routes } from '../routes.js';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** Lambda accepts at most 6 MB of request payload; API Gateway answers 413 past that. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

const projectRoot = new URL('../../', import.meta.url);

export async function loadHandler(entry: string): Promise<Handler> {
  const module = (await import(new URL(entry, projectRoot).href)) as { handler: Handler };
  return module.handler;
}

/** Loads every handler of the route table, keyed by API Gateway route key ("POST /path"). */
export async function loadRouteHandlers(): Promise<{ byRouteKey: Map<string, Handler>; fallback: Handler }> {
  const byRouteKey = new Map<string, Handler>();
  for (const route of routes) byRouteKey.set(`${route.method} ${fullPath(route)}`, await loadHandler(route.entry));
  return { byRouteKey, fallback: await loadHandler(fallbackRoute.entry) };
}

/** The context object Lambda passes a handler, for local invocations. */
export function lambdaContext(functionName: string, memoryMb = 512, logStreamName = 'local'): Context {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, 29_000 - (Date.now() - started)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Joins repeated values with commas, as API Gateway's HTTP API does. */
function joinRepeated(pairs: Iterable<[string, string]>): Record<string, string> {
  const out: Record<string, string> = Object.create(null); // keys like __proto__ are plain keys
  for (const [k, v] of pairs) out[k] = Object.hasOwn(out, k) ? `${out[k]},${v}` : v;
  return { ...out };
}

export function toApiGatewayEvent(req: IncomingMessage, body: Buffer, routeKey: string): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const headers = joinRepeated(
    Object.entries(req.headersDistinct).flatMap(([k, vs]) => (vs ?? []).map((v): [string, string] => [k.toLowerCase(), v])),
  );
  const cookies = headers.cookie?.split(';').map((c) => c.trim());
  delete headers.cookie;
  const rawQueryString = url.search.slice(1);
  const query = joinRepeated(url.searchParams.entries());
  const text = body.length > 0 ? new TextDecoder('utf-8', { fatal: false }).decode(body) : undefined;
  const isText = text !== undefined && Buffer.from(text, 'utf8').equals(body);
  const now = new Date();
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString,
    ...(cookies ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: isText ? text : body.toString('base64'), isBase64Encoded: !isText } : { isBase64Encoded: false }),
  };
}

function send(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const body = result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : Buffer.from(result.body ?? '', 'utf8');
  res.writeHead(result.statusCode ?? 200, { ...(result.headers as Record<string, string>), 'content-length': body.length });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYLOAD_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export interface LocalServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startLocalServer(options: { port?: number; host?: string } = {}): Promise<LocalServer> {
  const { byRouteKey, fallback } = await loadRouteHandlers();
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const routeKey = `${req.method} ${url.pathname}`;
      const handler = byRouteKey.get(routeKey);
      const body = await readBody(req);
      if (!body) {
        send(res, { statusCode: 413, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ detail: 'Request Entity Too Large' }) });
        return;
      }
      const event = toApiGatewayEvent(req, body, handler ? routeKey : '$default');
      const name = handler ? routeKey : fallbackRoute.logicalId;
      send(res, await (handler ?? fallback)(event, lambdaContext(name)));
    })().catch((err: unknown) => {
      console.error(err);
      if (!res.headersSent) send(res, { statusCode: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ detail: 'Internal Server Error' }) });
    });
  });
  // Requests Node's HTTP parser refuses before any handler runs (a lowercase method, headers over
  // 16 KB, a body longer than its Content-Length...) also get a JSON `{"detail": ...}` body.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason] =
      err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
    const body = JSON.stringify({ detail: `${reason}: the request is not valid HTTP/1.1` });
    socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
