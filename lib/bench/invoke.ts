/**
 * Calls the real handlers in this process, one at a time (as one Lambda execution environment serves
 * one request at a time), timing each call (wall and CPU) and counting the bytes it writes to stdout
 * (its logs and EMF metrics, which CloudWatch Logs ingests). The environment must be set before the
 * first call: the handlers read it when they are loaded.
 */
import { loadHandler } from '../local/server.js';
import { fallbackRoute, routes } from '../routes.js';
import { apiEvent, type EventSpec, lambdaContext } from './events.js';

type Handler = Awaited<ReturnType<typeof loadHandler>>;

export interface Invocation {
  status: number;
  body: any;
  ms: number;
  cpuMs: number;
  logBytes: number;
}

export class Invoker {
  private handlers = new Map<string, Handler>();

  async handler(operation: string): Promise<Handler> {
    let h = this.handlers.get(operation);
    if (!h) {
      const route = routes.find((r) => r.operation === operation);
      const entry = route?.entry ?? (operation === fallbackRoute.operation ? fallbackRoute.entry : undefined);
      if (!entry) throw new Error(`No route for ${operation}`);
      h = await loadHandler(entry);
      this.handlers.set(operation, h);
    }
    return h;
  }

  async invoke(operation: string, spec: EventSpec): Promise<Invocation> {
    const handler = await this.handler(operation);
    const event = apiEvent(spec);
    const context = lambdaContext(operation);
    let logBytes = 0;
    const write = process.stdout.write;
    // Swallow (and count) what the handler writes: Powertools' logger and metrics write to stdout.
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
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
    if (r.status !== status) throw new Error(`${operation} answered ${r.status}, expected ${status}: ${JSON.stringify(r.body).slice(0, 500)}`);
    return r;
  }
}
