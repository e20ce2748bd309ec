/**
 * The local HTTP server: serves the route table that the stack deploys, turning each request into
 * the event API Gateway's HTTP API sends a Lambda function (payload format 2.0) and calling the very
 * handler the function runs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { CORS_POLICY } from '../cors.js';
import { fallbackRoute, fullPath, routes } from '../routes.js';
import { apiGatewayEvent, lambdaContext } from './lambda-events.js';
import { inInvocation, useLambdaConsole } from './lambda-logs.js';

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

function send(
  res: ServerResponse,
  result: APIGatewayProxyStructuredResultV2,
  extraHeaders: Record<string, string> = {},
): void {
  const body = result.isBase64Encoded
    ? Buffer.from(result.body ?? '', 'base64')
    : Buffer.from(result.body ?? '', 'utf8');
  res.writeHead(result.statusCode ?? 200, {
    ...(result.headers as Record<string, string>),
    ...extraHeaders,
    'content-length': body.length,
  });
  res.end(body);
}

/** The body, or undefined past API Gateway's payload limit (then the rest is left unread). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_PAYLOAD_BYTES) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

const jsonAnswer = (
  statusCode: number,
  detail: string,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify({ detail }),
});

/** An answer written straight to the socket, for requests Node's HTTP layer refuses itself. */
const rawAnswer = (status: number, reason: string, detail: string) => {
  const body = JSON.stringify({ detail });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
};

export interface LocalServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * CORS as API Gateway's HTTP API does it when the stack's `corsOrigins` is set: it answers every
 * OPTIONS request itself (204; a preflight from an allowed origin gets the policy's headers), and
 * adds the allow-origin and expose headers to answers for an allowed origin. Without origins: nothing.
 */
function corsHandling(origins: readonly string[]) {
  const allowed = (req: IncomingMessage) => {
    const origin = req.headers.origin;
    return origin !== undefined && origins.includes(origin) ? origin : undefined;
  };
  return {
    /** The preflight answer, when CORS is on and this is an OPTIONS request. */
    preflight(req: IncomingMessage): APIGatewayProxyStructuredResultV2 | undefined {
      if (origins.length === 0 || req.method !== 'OPTIONS') return undefined;
      const origin = allowed(req);
      const headers: Record<string, string> =
        origin && req.headers['access-control-request-method']
          ? {
              'access-control-allow-origin': origin,
              'access-control-allow-methods': CORS_POLICY.allowMethods.join(','),
              'access-control-allow-headers': CORS_POLICY.allowHeaders.join(','),
              'access-control-max-age': String(CORS_POLICY.maxAgeSeconds),
            }
          : {};
      return { statusCode: 204, headers, body: '' };
    },
    /** Headers to add to an answer. */
    headers(req: IncomingMessage): Record<string, string> {
      const origin = origins.length > 0 ? allowed(req) : undefined;
      return origin
        ? {
            'access-control-allow-origin': origin,
            'access-control-expose-headers': CORS_POLICY.exposeHeaders.join(','),
          }
        : {};
    },
  };
}

export async function startLocalServer(
  options: { port?: number; host?: string; corsOrigins?: readonly string[] } = {},
): Promise<LocalServer> {
  const { byRouteKey, fallback } = await loadRouteHandlers();
  useLambdaConsole(); // the functions' lines as Lambda's JSON log format writes them
  const cors = corsHandling(options.corsOrigins ?? []);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const preflight = cors.preflight(req);
      if (preflight) {
        req.resume();
        await new Promise((r) => req.once('end', r));
        send(res, preflight);
        return;
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const routeKey = `${req.method} ${url.pathname}`;
      const handler = byRouteKey.get(routeKey);
      const body = await readBody(req);
      if (!body) {
        // The rest of the body stays unread, so this connection cannot carry another request.
        send(res, jsonAnswer(413, 'Request Entity Too Large', { connection: 'close' }), cors.headers(req));
        return;
      }
      const event = apiGatewayEvent({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headersDistinct,
        body,
        routeKey: handler ? routeKey : '$default',
        httpVersion: req.httpVersion,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      });
      const name = handler ? routeKey : fallbackRoute.logicalId;
      const context = lambdaContext(name);
      const answer = await inInvocation(context.awsRequestId, () => (handler ?? fallback)(event, context));
      send(res, answer, cors.headers(req));
    } catch (err) {
      console.error(err);
      if (!res.headersSent) send(res, jsonAnswer(500, 'Internal Server Error'), cors.headers(req));
    }
  };
  // Requests pipelined on one connection run one after the other, as API Gateway would receive them:
  // a read sent after a write sees it. `pending` is the connection's last request still running.
  const pending = new WeakMap<Duplex, Promise<void>>();
  const server = createServer({ requireHostHeader: false }, (req, res) => {
    const run = (pending.get(req.socket) ?? Promise.resolve()).then(() => handle(req, res));
    pending.set(req.socket, run);
  });
  // Requests Node's HTTP parser refuses before any handler runs (a lowercase method, headers over
  // 16 KB, bytes after a request that are no request...) also get a JSON `{"detail": ...}` body,
  // after the answers to the requests before them on the connection.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout']
          : [400, 'Bad Request'];
    void (pending.get(socket) ?? Promise.resolve()).finally(() => {
      if (socket.writable) socket.end(rawAnswer(status, reason, `${reason}: the request is not valid HTTP/1.1`));
      else socket.destroy();
    });
  });
  // An `Expect` other than 100-continue, and CONNECT (no proxying here): JSON answers too.
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) =>
    send(res, jsonAnswer(417, 'Expectation Failed: only "Expect: 100-continue" is supported')),
  );
  server.on('connect', (_req: IncomingMessage, socket: Duplex) =>
    socket.end(rawAnswer(405, 'Method Not Allowed', 'Method Not Allowed')),
  );
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
