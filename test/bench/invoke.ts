/**
 * Calls the real handlers in this process, one at a time as a Lambda execution environment does
 * (the robustness suite's `eventFor`), timing each call (wall and CPU) and counting the log bytes it
 * writes to stdout. The environment must be set before the first call: handlers read it when loaded.
 */
import { lambdaContext } from '../../lib/local/lambda-events.js';
import { inInvocation, useLambdaConsole } from '../../lib/local/lambda-logs.js';
import { eventFor, type RawRequest } from '../robustness/support/invoke.js';

export type Invocation = Awaited<ReturnType<typeof invokeTimed>>;

/** Invokes `operation` (the function name its context carries) with `r`; any status but `status` throws. */
export async function invokeTimed(operation: string, r: RawRequest, status = 200) {
  const [{ event, handler }, context] = [await eventFor(r), lambdaContext(operation, { logStreamName: 'bench' })];
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
  const [got, text] = [result.statusCode ?? 200, result.body ?? ''];
  if (got !== status) throw new Error(`${operation} answered ${got}, expected ${status}: ${text.slice(0, 500)}`);
  return { body: JSON.parse(text) as Record<string, any>, ms, cpuMs: (cpu.user + cpu.system) / 1000, logBytes };
}
