/**
 * `npm start` itself (bin/local.ts), as a newcomer runs it: it starts DynamoDB Local, serves the
 * routes, answers, and on Ctrl+C stops both, leaving no java process behind. A port that is taken
 * gives a clear message before anything starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/clickstream-function.js';
import { freePort } from '../../lib/local/dynamodb-local.js';

const TSX = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
const children: ChildProcess[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function start(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(TSX, ['bin/local.ts', ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
    if (args.some((a) => a.endsWith('DynamoDBLocal.jar')) && args[args.indexOf('-port') + 1] === String(port)) found.push(pid);
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
