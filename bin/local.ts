/**
 * `npm start`: the service on http://localhost:3000, backed by DynamoDB Local that this command
 * starts itself. Data stays in .dynamodb/ between runs; `npm start -- --in-memory` keeps none.
 * Options: --port N (default 3000, or PORT), --in-memory, --dynamodb-port N.
 * Exports (POST /internal/batch/export) run in-process and write to .exports/ (git-ignored); with
 * EXPORT_BUCKET and EXPORT_S3_ENDPOINT set they go to that bucket of any S3-compatible server
 * instead (credentials EXPORT_S3_ACCESS_KEY_ID / EXPORT_S3_SECRET_ACCESS_KEY).
 */
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

// Before the AWS SDK loads: it warns about Node 20 (harmless here; Lambda runs Node 24).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { ensureTable, javaProblem, LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDbLocal } = await import('../lib/local/dynamodb-local.js');
const { startLocalServer } = await import('../lib/local/server.js');
const { inProcessExportRunner } = await import('../lib/local/export-runner.js');
const { setExportRunner } = await import('../functions/domain/exports.js');
const { BASE_PATH, routes } = await import('../lib/routes.js');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '3000' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    'in-memory': { type: 'boolean', default: false },
    'dynamodb-port': { type: 'string' },
  },
});

const problem = javaProblem();
if (problem) {
  console.error(problem);
  process.exit(1);
}

/** Fails early, before DynamoDB Local starts, when the port is taken (another `npm start`, say). */
async function portProblem(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      resolve(
        err.code === 'EADDRINUSE'
          ? `Port ${port} on ${host} is already in use (another \`npm start\`?). Stop it, or pick another port: npm start -- --port ${port + 1}`
          : `Cannot listen on ${host}:${port}: ${err.message}`,
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve(undefined)));
  });
}
const portIssue = await portProblem(Number(values.port), values.host);
if (portIssue) {
  console.error(portIssue);
  process.exit(1);
}

const TABLE_NAME = process.env.TABLE_NAME ?? 'clickstream-local';
const dynamo = await startDynamoDbLocal({
  dbPath: values['in-memory'] ? undefined : '.dynamodb',
  port: values['dynamodb-port'] ? Number(values['dynamodb-port']) : undefined,
});
// From here on, whatever stops this process stops DynamoDB Local too (no java process left behind).
process.once('exit', () => dynamo.kill());
await ensureTable(dynamo.endpoint, TABLE_NAME);

Object.assign(process.env, {
  TABLE_NAME,
  DYNAMODB_ENDPOINT: dynamo.endpoint,
  AWS_REGION: process.env.AWS_REGION ?? LOCAL_REGION,
  AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
  POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
  EXPORT_DIR: process.env.EXPORT_DIR ?? resolve('.exports'),
});
// No Step Functions locally: the same workers run in this process.
setExportRunner(inProcessExportRunner());

const server = await startLocalServer({ port: Number(values.port), host: values.host });
console.log(`DynamoDB Local: ${dynamo.endpoint} (${values['in-memory'] ? 'in memory' : 'data in .dynamodb/'}), table ${TABLE_NAME}`);
console.log(`Clickstream API: ${server.url}${BASE_PATH}`);
for (const r of routes) console.log(`  ${r.method.padEnd(4)} ${BASE_PATH}${r.path}${r.internal ? '   (internal)' : ''}`);
console.log(
  process.env.EXPORT_BUCKET
    ? `Exports: s3://${process.env.EXPORT_BUCKET}/ at ${process.env.EXPORT_S3_ENDPOINT ?? 'AWS'} (in-process workers)`
    : `Exports: ${process.env.EXPORT_DIR} (in-process workers)`,
);
console.log('Ctrl+C stops both.');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close();
  await dynamo.stop();
  process.exit(0);
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop());
