/**
 * `npm start`: the service on http://127.0.0.1:3000, backed by DynamoDB Local that this command
 * starts itself (in memory unless --persist). `npm start -- --help` lists the options.
 *
 * Whatever stops it (Ctrl+C, SIGTERM to npm or to this process, SIGKILL, its parent dying),
 * DynamoDB Local stops too; if DynamoDB Local stops on its own, this process says so and exits 1.
 * With --dynamodb-endpoint it starts no DynamoDB Local: it uses the one given, and leaves it running.
 * Exports (POST /internal/batch/export) run in-process and write to .exports/ (git-ignored); with
 * EXPORT_BUCKET and EXPORT_S3_ENDPOINT set they go to that bucket of any S3-compatible server
 * instead (credentials EXPORT_S3_ACCESS_KEY_ID / EXPORT_S3_SECRET_ACCESS_KEY).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, isIPv4, isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

// Before the AWS SDK loads: it warns about Node 20 (harmless here; Lambda runs Node 24).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const DEFAULT_PORT = 3000;
const HELP = `Usage: npm start -- [options]      (options go after "--": npm keeps the ones before it)

Serves the clickstream API on http://127.0.0.1:3000/api/v1/clickstream, backed by an embedded
DynamoDB Local (Java 17+), with the very route table and handlers the stack deploys. No
authorization is checked: keep it on your machine.

Options:
  --port N            Port of the API (default: the PORT environment variable, else ${DEFAULT_PORT}).
  --host ADDRESS      Address to listen on (default 127.0.0.1). Only this option changes it: the HOST
                      environment variable is ignored. Any address other than loopback exposes the
                      unauthenticated API to your network (a warning says so).
  --cors-origin LIST  Browser origins allowed by CORS, comma-separated or repeated, e.g.
                      --cors-origin http://localhost:5173. Same rules as the stack's corsOrigins
                      setting (default: cdk.json's corsOrigins context, else none: no CORS).
  --persist           Keep the data in .dynamodb/ (git-ignored) between runs. By default the data is
                      in memory and gone when npm start stops.
  --in-memory         Keep no data (the default; kept for older scripts).
  --dynamodb-port N   Port of DynamoDB Local (default: a free port). DynamoDB Local listens on every
                      interface: its jar has no option to choose the address.
  --dynamodb-endpoint URL
                      Use a DynamoDB Local that is already running (or any DynamoDB endpoint that
                      takes the local credentials), e.g. http://127.0.0.1:8000, instead of starting
                      one. The table is created there if it is missing; stopping npm start leaves
                      that DynamoDB running. Excludes --persist, --in-memory and --dynamodb-port.
  -h, --help          This text.

Environment:
  PORT                Port of the API when --port is not given.
  TABLE_NAME          Table name in DynamoDB Local (default clickstream-local).
  HOST                Ignored (use --host).`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'cors-origin': { type: 'string', multiple: true },
  persist: { type: 'boolean' },
  'in-memory': { type: 'boolean' },
  'dynamodb-port': { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function fail(message: string): never {
  console.error(`npm start: ${message}\nnpm start -- --help lists the options.`);
  process.exit(2);
}

// `npm start --port 3001` (without `--`): npm takes `--port` as its own setting and passes only
// `3001`. npm then exports npm_config_port; name the fix instead of starting on the default port.
const swallowed = Object.keys(OPTIONS).filter(
  (name) => process.env[`npm_config_${name.replace(/-/g, '_')}`] !== undefined,
);
if (swallowed.length > 0 && process.env.npm_lifecycle_event === 'start') {
  fail(
    `npm kept ${swallowed.map((n) => `--${n}`).join(', ')} for itself. Put the options after "--", e.g.: npm start -- --port 3001`,
  );
}

let values: {
  port?: string;
  host?: string;
  'cors-origin'?: string[];
  persist?: boolean;
  'in-memory'?: boolean;
  'dynamodb-port'?: string;
  'dynamodb-endpoint'?: string;
  help?: boolean;
};
let positionals: string[];
try {
  ({ values, positionals } = parseArgs({ options: OPTIONS, allowPositionals: true }));
} catch (err) {
  const { code, message } = err as NodeJS.ErrnoException;
  fail(
    code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? `unknown option ${/'([^']*)'/.exec(message)?.[1] ?? message}` : message,
  );
}
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (positionals.length > 0) {
  fail(
    `unexpected argument ${positionals.map((p) => JSON.stringify(p)).join(' ')}. Options go after "--", e.g.: npm start -- --port 3001`,
  );
}
if (values.persist && values['in-memory']) fail('--persist and --in-memory exclude each other');
/** An endpoint of a DynamoDB that runs already (--dynamodb-endpoint): nothing is started or stopped. */
const givenEndpoint = values['dynamodb-endpoint'];
if (givenEndpoint !== undefined) {
  let url: URL | undefined;
  try {
    url = new URL(givenEndpoint);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.hostname === '') {
    fail(
      `--dynamodb-endpoint must be an http(s) URL such as http://127.0.0.1:8000, got ${JSON.stringify(givenEndpoint)}`,
    );
  }
  for (const other of ['persist', 'in-memory', 'dynamodb-port'] as const) {
    if (values[other] !== undefined)
      fail(
        `--dynamodb-endpoint and --${other} exclude each other (--${other} is about the DynamoDB Local that npm start starts)`,
      );
  }
}

function portOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535)
    fail(`${name} must be a port number from 1 to 65535, got ${JSON.stringify(value)}`);
  return Number(value);
}
const port = portOption(values.port, '--port') ?? portOption(process.env.PORT || undefined, 'PORT') ?? DEFAULT_PORT;
const dynamoPort = portOption(values['dynamodb-port'], '--dynamodb-port');
const host = values.host ?? '127.0.0.1';
if (host === '' || /\s/.test(host)) fail(`--host must be an address such as 127.0.0.1, got ${JSON.stringify(host)}`);
const persist = values.persist === true;

const { ensureTable, javaProblem, LOCAL_AWS_ENV, LOCAL_REGION, startDynamoDbLocal } =
  await import('../lib/local/dynamodb-local.js');
const { startLocalServer } = await import('../lib/local/server.js');
const { inProcessExportRunner } = await import('../lib/local/export-runner.js');
const { setExportRunner } = await import('../functions/domain/exports.js');
const { inProcessErasureRunner } = await import('../lib/local/erasure-runner.js');
const { BASE_PATH, routes } = await import('../lib/routes.js');
const { readSettings } = await import('../lib/settings.js');

/** The stack's corsOrigins setting, with its rules: --cors-origin, else cdk.json's context. */
function corsOrigins(): string[] {
  let given: unknown = values['cors-origin']?.join(',');
  if (given === undefined) {
    try {
      given = (JSON.parse(readFileSync('cdk.json', 'utf8')) as { context?: Record<string, unknown> }).context
        ?.corsOrigins;
    } catch {
      given = undefined;
    }
  }
  try {
    return readSettings((key) => (key === 'corsOrigins' ? given : undefined)).corsOrigins;
  } catch (err) {
    fail(`--cors-origin: ${(err as Error).message}`);
  }
}
const cors = corsOrigins();

/** The local HMAC key of erasure receipts: kept in .dynamodb/ with persisted data, else new for this run. */
function localErasureKey(): string {
  if (!persist) return randomBytes(32).toString('hex');
  const file = resolve('.dynamodb', 'erasure-key');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const key = randomBytes(32).toString('hex');
    mkdirSync(resolve('.dynamodb'), { recursive: true });
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    return key;
  }
}

const problem = givenEndpoint === undefined ? javaProblem() : undefined;
if (problem) {
  console.error(problem);
  process.exit(1);
}

const isLoopback = (address: string) =>
  address === 'localhost' ||
  (isIPv4(address) && address.startsWith('127.')) ||
  (isIPv6(address) && /^(::1|0*:(0*:)*0*1|::ffff:127\.[\d.]+)$/i.test(address));

/** Fails early, before DynamoDB Local starts, when the port is taken (another `npm start`, say). */
async function portProblem(): Promise<string | undefined> {
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
const portIssue = await portProblem();
if (portIssue) {
  console.error(portIssue);
  process.exit(1);
}

const TABLE_NAME = process.env.TABLE_NAME || 'clickstream-local';
const dynamo =
  givenEndpoint === undefined
    ? await startDynamoDbLocal({ dbPath: persist ? '.dynamodb' : undefined, port: dynamoPort })
    : undefined;
const endpoint = dynamo?.endpoint ?? givenEndpoint!.replace(/\/+$/, '');
// From here on, whatever stops this process stops DynamoDB Local too (no java process left behind).
if (dynamo) process.once('exit', () => dynamo.kill());
let stopping = false;
// Storage that stops under a running server would turn every answer into a 503: say so and stop.
void dynamo?.exited.then((code) => {
  if (stopping) return;
  console.error(
    [
      '',
      '!!! DynamoDB Local stopped on its own (java exited' +
        (code === null ? ' on a signal' : ` with code ${code}`) +
        ').',
      '!!! The API cannot store or read anything without it, so npm start stops too. Start it again.',
      '',
    ].join('\n'),
  );
  process.exit(1);
});
try {
  await ensureTable(endpoint, TABLE_NAME);
} catch (err) {
  if (dynamo) throw err;
  console.error(
    `npm start: cannot use the table ${TABLE_NAME} at ${endpoint} (--dynamodb-endpoint): ${(err as Error).message}`,
  );
  process.exit(1);
}

Object.assign(process.env, {
  TABLE_NAME,
  DYNAMODB_ENDPOINT: endpoint,
  ...LOCAL_AWS_ENV,
  AWS_REGION: process.env.AWS_REGION ?? LOCAL_REGION,
  // The functions' lines, as Lambda's JSON log format writes them (lib/local/lambda-logs.ts), from
  // this level up: INFO, as the stack's default (one line per request).
  AWS_LAMBDA_LOG_LEVEL: process.env.AWS_LAMBDA_LOG_LEVEL ?? 'INFO',
  EXPORT_DIR: process.env.EXPORT_DIR ?? resolve('.exports'),
});
// No Step Functions locally: the same workers run in this process.
setExportRunner(inProcessExportRunner());
// No schedule locally: the erasure worker runs in this process as soon as a request is accepted. The
// receipts' HMAC key: CLICKSTREAM_ERASURE_KEY, else one kept with the data (--persist) or made for this run.
process.env.CLICKSTREAM_ERASURE_KEY ||= localErasureKey();
inProcessErasureRunner();

const server = await startLocalServer({ port, host, corsOrigins: cors });
console.log(
  dynamo
    ? `DynamoDB Local: ${endpoint} (${persist ? 'data in .dynamodb/' : 'in memory'}), table ${TABLE_NAME}`
    : `DynamoDB: ${endpoint} (--dynamodb-endpoint: not started or stopped here), table ${TABLE_NAME}`,
);
console.log(`Clickstream API: ${server.url}${BASE_PATH}`);
for (const r of routes)
  console.log(`  ${r.method.padEnd(4)} ${BASE_PATH}${r.path}${r.internal ? '   (internal)' : ''}`);
if (cors.length > 0) console.log(`CORS: ${cors.join(', ')}`);
if (!isLoopback(host)) {
  console.warn(
    `WARNING: listening on ${host}, not loopback: anyone who can reach this machine can read and write the API; nothing is authorized locally.`,
  );
}
console.log(
  process.env.EXPORT_BUCKET
    ? `Exports: s3://${process.env.EXPORT_BUCKET}/ at ${process.env.EXPORT_S3_ENDPOINT ?? 'AWS'} (in-process workers)`
    : `Exports: ${process.env.EXPORT_DIR} (in-process workers)`,
);
console.log(dynamo ? 'Ctrl+C stops both.' : 'Ctrl+C stops it.');

const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close();
  await dynamo?.stop();
  process.exit(0);
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop());

// `kill <npm's pid>` (what `timeout`, systemd or a process manager sends) ends npm without passing
// the signal on; this process is then orphaned, and its parent id changes. Stop then, as on SIGTERM.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stop();
}, 250).unref();
