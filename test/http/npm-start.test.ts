/**
 * `npm start` itself (bin/local.ts), as a newcomer runs it: it starts DynamoDB Local, serves the
 * routes, answers, and on Ctrl+C stops both, leaving no java process behind. A port that is taken
 * gives a clear message before anything starts. Whatever else stops it (SIGTERM to npm, SIGKILL of
 * the server), DynamoDB Local's java stops too; if java dies, the server says so and exits 1.
 * Argument mistakes get a message, not a stack trace; it listens on loopback unless --host says
 * otherwise, and answers CORS preflights for --cors-origin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/clickstream-function.js';
import { freePort } from '../../lib/local/dynamodb-local.js';
import { getRaw } from '../robustness/support/storage.js';

const TSX = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
const children: ChildProcess[] = [];
const servers: Server[] = [];
/** Server and java processes of a test, ended by pid if the test failed before they stopped. */
const leftovers: number[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const pid of leftovers.splice(0)) {
    try {
      if (running(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function start(
  args: string[],
  options: { viaNpm?: boolean; env?: Record<string, string> } = {},
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const [command, argv] = options.viaNpm ? ['npm', ['start', '--', ...args]] : [TSX, ['bin/local.ts', ...args]];
  const child = spawn(command, argv, {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

/** The DynamoDB Local processes started for `port` (their command line names it), read from /proc. */
function javaOnPort(port: number): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (args.some((a) => a.endsWith('DynamoDBLocal.jar')) && args[args.indexOf('-port') + 1] === String(port))
      found.push(pid);
  }
  return found;
}

describe('npm start (bin/local.ts)', () => {
  it('serves the API on DynamoDB Local, and Ctrl+C stops both', async () => {
    const [port, dynamoPort] = [await freePort(), await freePort()];
    const run = start(['--in-memory', '--port', String(port), '--dynamodb-port', String(dynamoPort)]);
    const url = `http://127.0.0.1:${port}/api/v1/clickstream`;
    for (let i = 0; !run.output().includes('Ctrl+C stops both.'); i++) {
      if (run.child.exitCode !== null || i > 600) throw new Error(`npm start did not come up:\n${run.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(run.output()).not.toMatch(/NodeVersionSupportWarning/);
    const created = await fetch(`${url}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ session_id: 'started', search_query: 'q', search_results: [] }),
    });
    expect(await created.json()).toEqual({ session_id: 'started', created: true });
    expect(javaOnPort(dynamoPort)).toHaveLength(1);

    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    for (let i = 0; javaOnPort(dynamoPort).length > 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 100));
    expect(javaOnPort(dynamoPort), 'DynamoDB Local outlived npm start').toEqual([]);
  }, 90_000);

  it('says plainly that the port is taken, and starts nothing', async () => {
    const busy = createServer();
    servers.push(busy);
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const { port } = busy.address() as AddressInfo;
    const dynamoPort = await freePort();
    const run = start(['--in-memory', '--port', String(port), '--dynamodb-port', String(dynamoPort)]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain(`Port ${port} on 127.0.0.1 is already in use`);
    expect(run.output()).toContain(`npm start -- --port ${port + 1}`);
    expect(javaOnPort(dynamoPort)).toEqual([]);
  }, 60_000);
});

/** Whether a process is still there (a zombie waiting for its parent to read its status is not). */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The parent of a process, from /proc. */
const parentOf = (pid: number) => Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

async function until(what: string, done: () => boolean, output: () => string, timeoutMs = 60_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !done();) {
    if (Date.now() > end) throw new Error(`${what} did not happen:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts npm start and waits until it serves; returns the java and server pids. */
async function startServing(args: string[], options: Parameters<typeof start>[1] = {}) {
  const [port, dynamoPort] = [await freePort(), await freePort()];
  const run = start(['--port', String(port), '--dynamodb-port', String(dynamoPort), ...args], options);
  await until(
    'npm start coming up',
    () => run.output().includes('Ctrl+C stops both.') || run.child.exitCode !== null,
    run.output,
  );
  expect(run.output()).toContain('Ctrl+C stops both.');
  const [java] = javaOnPort(dynamoPort).map(Number);
  expect(java).toBeGreaterThan(0);
  const server = parentOf(java!);
  leftovers.push(java!, server);
  return { ...run, port, dynamoPort, java: java!, server };
}

describe('npm start stops DynamoDB Local whatever stops it', () => {
  it('SIGTERM to npm (as timeout, systemd or a process manager send it) stops the server and java', async () => {
    const run = await startServing([], { viaNpm: true });
    expect(run.server).not.toBe(run.child.pid);
    run.child.kill('SIGTERM');
    await until('java ending', () => !running(run.java) && !running(run.server), run.output, 20_000);
    await expect(fetch(`http://127.0.0.1:${run.port}/`)).rejects.toThrow();
  }, 120_000);

  it.each([
    ['setpriv --pdeathsig', {}],
    ['the watchdog alone', { DYNAMODB_LOCAL_NO_PDEATHSIG: '1' }],
  ])(
    'SIGKILL of the server process leaves no java behind (%s)',
    async (_how, env) => {
      const run = await startServing([], { viaNpm: true, env });
      process.kill(run.server, 'SIGKILL');
      await until('java ending', () => !running(run.java), run.output, 20_000);
    },
    120_000,
  );

  it('says loudly that DynamoDB Local stopped, and exits 1', async () => {
    const run = await startServing([]);
    process.kill(run.java, 'SIGKILL');
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/!!! DynamoDB Local stopped on its own \(java exited on a signal\)/);
  }, 120_000);
});

describe('npm start options', () => {
  it('--help exits 0 and lists every option and variable', async () => {
    const run = start(['--help']);
    expect(await run.exited).toBe(0);
    for (const option of [
      '--port',
      '--host',
      '--cors-origin',
      '--persist',
      '--in-memory',
      '--dynamodb-port',
      '--help',
      'PORT',
      'HOST',
      'TABLE_NAME',
    ]) {
      expect(run.output()).toContain(option);
    }
  });

  it.each([
    [['--port', 'abc'], {}, '--port must be a port number from 1 to 65535, got "abc"'],
    [['--port', '70000'], {}, '--port must be a port number from 1 to 65535'],
    [['--dynamodb-port', '1e3'], {}, '--dynamodb-port must be a port number'],
    [['--bogus'], {}, 'unknown option --bogus'],
    [['--port'], {}, "Option '--port <value>' argument missing"],
    [['3001'], {}, 'Options go after "--", e.g.: npm start -- --port 3001'],
    [['--cors-origin', 'https://*.example.com'], {}, 'a wildcard is not allowed'],
    [['--cors-origin', 'https://app.example.com/path'], {}, 'corsOrigins must be origins like'],
    [['--persist', '--in-memory'], {}, '--persist and --in-memory exclude each other'],
    [[], { PORT: 'abc' }, 'PORT must be a port number'],
    // `npm start --port 3001`: npm keeps --port (npm_config_port=true) and passes "3001" on.
    [
      ['3001'],
      { npm_lifecycle_event: 'start', npm_config_port: 'true' },
      'npm kept --port for itself. Put the options after "--"',
    ],
  ])('%j (env %j): exits 2 with a clear message', async (args, env, message) => {
    const run = start(args, { env });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(message);
    expect(run.output()).toContain('npm start -- --help lists the options.');
    expect(run.output()).not.toMatch(/^\s+at /m); // no stack trace
  });

  it('HOST in the environment does not expose it; --cors-origin answers preflights like API Gateway', async () => {
    const origin = 'http://localhost:5173';
    const run = await startServing(['--cors-origin', origin], { env: { HOST: '0.0.0.0' } });
    expect(run.output()).toContain(`Clickstream API: http://127.0.0.1:${run.port}/`);
    expect(run.output()).not.toContain('WARNING');
    const listening = readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .filter((l) => l.includes(`:${run.port.toString(16).toUpperCase().padStart(4, '0')} `) && / 0A /.test(l))
      .map((l) => l.trim().split(/\s+/)[1]);
    expect(listening).toEqual([`0100007F:${run.port.toString(16).toUpperCase().padStart(4, '0')}`]); // 127.0.0.1 only

    const url = `http://127.0.0.1:${run.port}/api/v1/clickstream/session`;
    const preflight = await fetch(url, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    const other = await fetch(url, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(other.status).toBe(204);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const created = await fetch(url, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: JSON.stringify({ session_id: 'cors', search_query: 'q', search_results: [] }),
    });
    expect(created.status).toBe(200);
    expect(created.headers.get('access-control-allow-origin')).toBe(origin);
    expect(created.headers.get('access-control-expose-headers')).toBe('retry-after');
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
  }, 120_000);

  it('warns when --host is not loopback', async () => {
    const run = await startServing(['--host', '0.0.0.0']);
    expect(run.output()).toContain('WARNING: listening on 0.0.0.0, not loopback');
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
  }, 120_000);
});

describe('npm start -- --dynamodb-endpoint URL', () => {
  it('serves on a DynamoDB Local that already runs, creates the table there, and leaves it running', async () => {
    const endpoint = inject('dynamoEndpoint');
    const tableName = `npm-start-${randomUUID()}`;
    const port = await freePort();
    const run = start(['--port', String(port), '--dynamodb-endpoint', `${endpoint}/`], {
      env: { TABLE_NAME: tableName },
    });
    await until(
      'npm start coming up',
      () => run.output().includes('Ctrl+C stops it.') || run.child.exitCode !== null,
      run.output,
    );
    expect(run.output()).toContain(
      `DynamoDB: ${endpoint} (--dynamodb-endpoint: not started or stopped here), table ${tableName}`,
    );
    expect(run.output()).not.toContain('DynamoDB Local:');
    const created = await fetch(`http://127.0.0.1:${port}/api/v1/clickstream/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ session_id: 'given-endpoint', search_query: 'q', search_results: [] }),
    });
    expect(await created.json()).toEqual({ session_id: 'given-endpoint', created: true });
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    // The store outlives npm start, with what it stored (read straight from DynamoDB Local).
    expect((await getRaw(endpoint, tableName, 'SESSION#given-endpoint', 'SESSION'))?.sessionId).toBe('given-endpoint');

    // A second start finds the table there and serves what the first one stored.
    const again = start(['--port', String(port), '--dynamodb-endpoint', endpoint], { env: { TABLE_NAME: tableName } });
    await until(
      'npm start coming up again',
      () => again.output().includes('Ctrl+C stops it.') || again.child.exitCode !== null,
      again.output,
    );
    const read = await fetch(`http://127.0.0.1:${port}/api/v1/clickstream/session?session_id=given-endpoint`);
    expect(read.status).toBe(200);
    again.child.kill('SIGINT');
    expect(await again.exited).toBe(0);
  }, 120_000);

  it('is listed by --help', async () => {
    const run = start(['--help']);
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('--dynamodb-endpoint URL');
  });

  it.each([
    [
      ['--dynamodb-endpoint', 'localhost:8000'],
      '--dynamodb-endpoint must be an http(s) URL such as http://127.0.0.1:8000, got "localhost:8000"',
    ],
    [['--dynamodb-endpoint', 'ftp://127.0.0.1:8000'], '--dynamodb-endpoint must be an http(s) URL'],
    [
      ['--dynamodb-endpoint', 'http://127.0.0.1:8000', '--persist'],
      '--dynamodb-endpoint and --persist exclude each other',
    ],
    [
      ['--dynamodb-endpoint', 'http://127.0.0.1:8000', '--dynamodb-port', '8001'],
      '--dynamodb-endpoint and --dynamodb-port exclude each other',
    ],
  ])('%j: exits 2 with a clear message', async (args, message) => {
    const run = start(args);
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(message);
    expect(run.output()).not.toMatch(/^\s+at /m);
  });

  it('says so and exits 1 when nothing answers at the endpoint', async () => {
    const port = await freePort();
    const run = start(['--port', String(await freePort()), '--dynamodb-endpoint', `http://127.0.0.1:${port}`]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain(
      `npm start: cannot use the table clickstream-local at http://127.0.0.1:${port} (--dynamodb-endpoint):`,
    );
  }, 60_000);
});

describe('without Java', () => {
  it("npm test's first line says that Java 17 is missing and how to install it", async () => {
    const bin = mkdtempSync(join(tmpdir(), 'no-java-'));
    symlinkSync(process.execPath, join(bin, 'node')); // node, and nothing else, on the PATH
    const child = spawn(
      process.execPath,
      [join(PROJECT_ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/unit'],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, PATH: bin },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(1);
    const firstLine = out
      .replace(/\x1b\[[0-9;]*m/g, '')
      .split('\n')
      .find((l) => l.trim() !== '');
    expect(firstLine).toContain('needs Java 17 or newer');
    expect(out).toContain('apt-get install -y openjdk-17-jre-headless');
    expect(out).not.toContain('No test files found');
  }, 60_000);
});
