/**
 * Calls the real handlers in this process, one at a time (as one Lambda execution environment serves
 * one request at a time), timing each call (wall and CPU) and counting the bytes it writes to stdout
 * (its log lines as Lambda's JSON log format writes them, which CloudWatch Logs ingests). The
 * environment must be set before the first call: the handlers read it when they are loaded.
 */
import { lambdaContext } from '../../lib/local/lambda-events.js';
import { inInvocation, useLambdaConsole } from '../../lib/local/lambda-logs.js';
import { loadHandler } from '../../lib/local/server.js';
import { fallbackRoute, routes } from '../../lib/routes.js';
import { httpEvent } from '../support/events.js';

/** `path`: below the API's base path, e.g. `/session/events`. */
export type EventSpec = { method: 'GET' | 'POST'; path: string; query?: Record<string, string>; body?: unknown };

/** The event API Gateway sends for a JSON request below the base path (the tests' builder). */
export const benchEvent = (spec: EventSpec) =>
  httpEvent({ ...spec, headers: { host: '127.0.0.1', 'user-agent': 'clickstream-bench' } });

export type Invocation = Awaited<ReturnType<Invoker['invoke']>>;

export class Invoker {
  private handlers = new Map<string, Awaited<ReturnType<typeof loadHandler>>>();

  async invoke(operation: string, spec: EventSpec) {
    const entry = [...routes, fallbackRoute].find((r) => r.operation === operation)?.entry;
    if (!entry) throw new Error(`No route for ${operation}`);
    const handler = this.handlers.get(operation) ?? (await loadHandler(entry));
    this.handlers.set(operation, handler);
    const [event, context] = [benchEvent(spec), lambdaContext(operation, { logStreamName: 'bench' })];
    let logBytes = 0;
    const write = process.stdout.write;
    // Swallow (and count) what the handler writes: its log lines, as Lambda would write them, on stdout.
    useLambdaConsole();
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
      return true;
    }) as typeof process.stdout.write;
    const [cpu0, t0] = [process.cpuUsage(), performance.now()];
    const result = await inInvocation(context.awsRequestId, () => handler(event, context)).finally(
      () => (process.stdout.write = write),
    );
    const [ms, cpu] = [performance.now() - t0, process.cpuUsage(cpu0)];
    let body: any = result.body;
    try {
      body = JSON.parse(result.body ?? '');
    } catch {
      // not JSON
    }
    return { status: result.statusCode ?? 200, body, ms, cpuMs: (cpu.user + cpu.system) / 1000, logBytes };
  }

  /** Invokes and insists on the expected status. */
  async expect(operation: string, spec: EventSpec, status = 200) {
    const r = await this.invoke(operation, spec);
    if (r.status === status) return r;
    throw new Error(`${operation} answered ${r.status}, expected ${status}: ${JSON.stringify(r.body).slice(0, 500)}`);
  }
}
