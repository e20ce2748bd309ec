/**
 * Calls the real handlers in this process, one at a time (as one Lambda execution environment serves
 * one request at a time), timing each call (wall and CPU) and counting the bytes it writes to stdout
 * (its logs and EMF metrics, which CloudWatch Logs ingests). The environment must be set before the
 * first call: the handlers read it when they are loaded.
 */
import { apiGatewayEvent, lambdaContext } from '../../lib/local/lambda-events.js';
import { loadHandler } from '../../lib/local/server.js';
import { BASE_PATH, fallbackRoute, routes } from '../../lib/routes.js';

export interface EventSpec {
  method: 'GET' | 'POST';
  /** Path below the API's base path, e.g. `/session/events`. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
}

/** The event API Gateway sends for a JSON request below the base path. */
export function benchEvent(spec: EventSpec) {
  const query = new URLSearchParams(spec.query ?? {}).toString();
  return apiGatewayEvent({
    method: spec.method,
    url: `${BASE_PATH}${spec.path}${query ? `?${query}` : ''}`,
    headers: {
      host: '127.0.0.1',
      'user-agent': 'clickstream-bench',
      ...(spec.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(spec.body !== undefined ? { body: JSON.stringify(spec.body) } : {}),
  });
}

export type Invocation = { status: number; body: any; ms: number; cpuMs: number; logBytes: number };

export class Invoker {
  private handlers = new Map<string, Awaited<ReturnType<typeof loadHandler>>>();

  async invoke(operation: string, spec: EventSpec): Promise<Invocation> {
    let handler = this.handlers.get(operation);
    if (!handler) {
      const entry = [...routes, fallbackRoute].find((r) => r.operation === operation)?.entry;
      if (!entry) throw new Error(`No route for ${operation}`);
      handler = await loadHandler(entry);
      this.handlers.set(operation, handler);
    }
    const event = benchEvent(spec);
    const context = lambdaContext(operation, { logStreamName: 'bench' });
    let logBytes = 0;
    const write = process.stdout.write;
    // Swallow (and count) what the handler writes: Powertools' logger and metrics write to stdout.
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
      return true;
    }) as typeof process.stdout.write;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let result;
    try {
      result = await handler(event, context);
    } finally {
      process.stdout.write = write;
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    let body: unknown = result.body;
    try {
      body = JSON.parse(result.body ?? '');
    } catch {
      // not JSON
    }
    return { status: result.statusCode ?? 200, body, ms, cpuMs: (cpu.user + cpu.system) / 1000, logBytes };
  }

  /** Invokes and insists on the expected status. */
  async expect(operation: string, spec: EventSpec, status = 200): Promise<Invocation> {
    const r = await this.invoke(operation, spec);
    if (r.status !== status)
      throw new Error(`${operation} answered ${r.status}, expected ${status}: ${JSON.stringify(r.body).slice(0, 500)}`);
    return r;
  }
}
