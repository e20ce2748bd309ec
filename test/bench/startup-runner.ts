/**
 * One cold start, timed from inside a fresh process (test/bench/startup.ts bundles this file and
 * runs it): imports a function's bundle (Lambda's INIT phase), then serves one request.
 * Arguments: the bundle's file URL, the event as JSON, the function's name. Prints one `@@BENCH` line.
 * As Lambda's runtime does before INIT, `console` first becomes the JSON log format's (one JSON line
 * per call, lib/local/lambda-logs.ts), so a function's request line costs what it costs in Lambda.
 */
import dc from 'node:diagnostics_channel';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { lambdaContext } from '../../lib/local/lambda-events.js';
import { inInvocation, useLambdaConsole } from '../../lib/local/lambda-logs.js';

const boot = performance.now();
const [bundleUrl, eventJson, functionName] = process.argv.slice(2) as [string, string, string];
// Time spent waiting for DynamoDB: the union of the intervals in which an HTTP request is out.
let [open, since, waitMs] = [0, 0, 0];
const done = new WeakSet<object>();
dc.subscribe('http.client.request.start', () => void (open++ === 0 && (since = performance.now())));
const end = (message: unknown) => {
  const { request } = message as { request: object };
  if (done.has(request)) return;
  done.add(request);
  if (--open === 0) waitMs += performance.now() - since;
};
dc.subscribe('http.client.response.finish', end);
dc.subscribe('http.client.request.error', end);

useLambdaConsole();
type Handler = (e: APIGatewayProxyEventV2, c: Context) => Promise<APIGatewayProxyStructuredResultV2>;
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
const [c0, t0] = [process.cpuUsage(), performance.now()];
const { handler } = (await import(bundleUrl)) as { handler: Handler };
const [t1, importCpuMs] = [performance.now(), cpuMs(process.cpuUsage(c0))];
const context = lambdaContext(functionName, { logStreamName: 'bench' });
const status = await inInvocation(context.awsRequestId, () => handler(JSON.parse(eventJson), context)).then(
  (r) => r.statusCode,
  (err) => `threw: ${(err as Error)?.message}`,
);
const [t2, coldCpuMs] = [performance.now(), cpuMs(process.cpuUsage(c0))];
const rssMb = process.memoryUsage().rss / 1048576;
const sample = { boot, importMs: t1 - t0, firstMs: t2 - t1, waitMs, importCpuMs, coldCpuMs, status, rssMb };
process.stdout.write(`\n@@BENCH ${JSON.stringify(sample)}\n`);
process.exit(0);
