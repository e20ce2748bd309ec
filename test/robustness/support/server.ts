/**
 * `npm start` (bin/local.ts) in a process of its own, on a DynamoDB that it neither starts nor stops
 * (`--dynamodb-endpoint`): the crash test SIGKILLs it, the bench's throughput and soak load it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { PROJECT_ROOT } from '../../../lib/clickstream-function.js';
import { freePort } from '../../../lib/local/dynamodb-local.js';
import { BASE_PATH } from '../../../lib/routes.js';
import { viaHttp, type Answer, type RawRequest } from './invoke.js';

export class ServerProcess {
  /** Every server process not ended yet (for the caller's clean-up). */
  static readonly running = new Set<ChildProcess>();

  private constructor(
    readonly origin: string,
    readonly child: ChildProcess,
    readonly exited: Promise<void>,
  ) {}

  get baseUrl(): string {
    return `${this.origin}${BASE_PATH}`;
  }

  /** Starts it with `env` (node, not npm or tsx's wrapper: SIGKILL must reach the process that serves). */
  static async start(dynamodbEndpoint: string, env: NodeJS.ProcessEnv): Promise<ServerProcess> {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bin/local.ts', '--port', String(port), '--dynamodb-endpoint', dynamodbEndpoint],
      { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    ServerProcess.running.add(child);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    void exited.then(() => ServerProcess.running.delete(child));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    for (const end = Date.now() + 90_000; !out.includes('Ctrl+C stops it.');) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`the server did not come up:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The handlers' logs and metrics (stdout, as in Lambda): dropped.
    child.stdout!.removeAllListeners('data').resume();
    child.stderr!.removeAllListeners('data').resume();
    return new ServerProcess(`http://127.0.0.1:${port}`, child, exited);
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGINT');
    await this.exited;
  }

  /** The answer, or undefined when none came (the server died under the request, or was gone). */
  async send(r: RawRequest): Promise<Answer | undefined> {
    try {
      return await viaHttp(this.origin, r);
    } catch {
      return undefined;
    }
  }
}
