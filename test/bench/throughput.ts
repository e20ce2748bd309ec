/**
 * Throughput through the local server (its own process) beside the floor (floor.ts, its own process).
 * A phase runs its segments in turn (API, floor, ...) each round; a new figure is one more segment.
 */ import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { PUT_CONCURRENCY } from '../../functions/domain/sessions.js';
import { EVENT_READ_CONCURRENCY } from '../../functions/domain/batches.js';
import { PROJECT_ROOT } from '../../lib/clickstream-function.js';
import { BASE_PATH } from '../../lib/routes.js';
import { DEFAULT_SETTINGS } from '../../lib/settings.js';
import { clickEvent, sessionBody } from './events.js';
import { type BatchToRead, closedLoop, EVENTS_PER_REQUEST, type FloorOptions, type Segment } from './floor.js';
import { quantile, round, sleep } from './stats.js';

export interface ChildHandle {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Forks test/bench/child.ts in `mode` under tsx, with an IPC channel; resolves with its first message. */
async function forkChild(mode: 'server' | 'floor', env: Record<string, string>): Promise<ChildHandle & { first: any }> {
  const child = fork(fileURLToPath(new URL('./child.ts', import.meta.url)), [mode], {
    env,
    cwd: PROJECT_ROOT,
    execArgv: ['--import', 'tsx'],
    // The handlers log and emit EMF metrics to stdout, as in Lambda: read and dropped here.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout?.resume();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const first = await new Promise<any>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`bench child (${mode}) ${why}:\n${stderr}`));
    const timer = setTimeout(() => (child.kill('SIGKILL'), fail('did not start within 60 s')), 60_000);
    child.once('message', (m) => (clearTimeout(timer), resolve(m)));
    child.once('exit', (code) => (clearTimeout(timer), fail(`exited (${code})`)));
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    if (child.connected) child.send('stop');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, first, stop };
}

export interface LocalServerProcess extends ChildHandle {
  url: string;
  baseUrl: string;
}

/** The local server in a process of its own, with the given environment. */
export async function startServerProcess(env: Record<string, string>): Promise<LocalServerProcess> {
  const { child, first, stop } = await forkChild('server', env);
  if (!first?.url) throw new Error('The local server sent no URL');
  return { child, stop, url: first.url, baseUrl: `${first.url}${BASE_PATH}` };
}

/** The floor process: setup once, then one segment per call. */
async function startFloorProcess(env: Record<string, string>, options: FloorOptions) {
  const { child, stop } = await forkChild('floor', env);
  // One call at a time (the bench awaits each segment): the next message is its answer.
  const call = (message: Record<string, unknown>) =>
    new Promise<any>((resolve, reject) => {
      child.once('message', (m: any) => (m?.error ? reject(new Error(`floor process: ${m.error}`)) : resolve(m)));
      child.send(message);
    });
  await call({ setup: options });
  return {
    stop,
    run: async (run: 'push' | 'create', concurrency: number, maxRequests: number, maxMs: number): Promise<Segment> =>
      (await call({ run, concurrency, maxRequests, maxMs })).segment,
    read: async (batch: BatchToRead, maxMs: number): Promise<Segment> => (await call({ read: batch, maxMs })).segment,
  };
}

export type ThroughputRow = ReturnType<typeof summarize>;

/** Ratios in items/s against the floor: the export's against the direct-SDK reader's. */
export type ThroughputResult = Awaited<ReturnType<typeof measureThroughput>>;

/** Sessions per page of the batch read (both readers). */
export const READ_PAGE = 1000;

/** `env`: the floor process's; `floorTable`: the floor's own; `tableName`: the server's (both readers read it). */
export type ThroughputOptions = Record<'concurrency' | 'rounds' | 'segmentMs' | 'shards', number> &
  Record<'endpoint' | 'floorTable' | 'tableName' | 'runId', string> & {
    server: LocalServerProcess;
    env: Record<string, string>;
    log: (line: string) => void;
  };

/**
 * A small HTTP client for the load generator: keep-alive sockets, bodies already serialized; it keeps
 * the generator's own CPU use (which competes with the server and DynamoDB Local for the cores) low.
 */
function httpClient(maxSockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const send = (method: 'GET' | 'POST', url: string, body?: string) =>
    new Promise<string>((resolve, reject) => {
      const headers =
        body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const req = http.request(url, { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) reject(new Error(`HTTP ${status}: ${text.slice(0, 300)}`));
          else resolve(text);
        });
        res.on('error', reject);
      });
      req.setTimeout(30_000, () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(body);
    });
  return {
    post: (url: string, body: string) => send('POST', url, body),
    get: (url: string) => send('GET', url),
    destroy: () => agent.destroy(),
  };
}

/** One figure: its segments, run in turn with the others of its phase. */
interface SegmentSpec {
  scenario: string;
  mode: 'api' | 'floor';
  what: string;
  concurrency: number;
  itemsPerRequest: number;
  /** Uncounted, before the rounds. */
  warm?: () => Promise<unknown>;
  run: () => Promise<Segment>;
}

function summarize(spec: SegmentSpec, segs: Segment[]) {
  const latencies = segs.flatMap((s) => s.latencies);
  const total = (f: (s: Segment) => number) => segs.reduce((a, s) => a + f(s), 0);
  const [seconds, items, requests, errors] = [
    total((s) => s.elapsedMs) / 1000,
    total((s) => s.items),
    total((s) => s.requests),
    total((s) => s.errors),
  ];
  if (errors > 0)
    throw new Error(
      `${spec.scenario} (${spec.mode}): ${errors} of ${requests} requests failed, e.g. ${segs.find((s) => s.firstError)?.firstError}`,
    );
  const { scenario, mode, what, concurrency, itemsPerRequest } = spec;
  return {
    ...{ scenario, mode, what, concurrency, itemsPerRequest, requests, items, errors },
    seconds: round(seconds, 1),
    itemsPerSec: round(items / seconds, 1),
    requestsPerSec: round(requests / seconds, 1),
    p50Ms: round(quantile(latencies, 0.5), 1),
    p99Ms: round(quantile(latencies, 0.99), 1),
  };
}

/** Warms every segment once, then runs `rounds` rounds of all of them in turn. */
async function runPhase(specs: SegmentSpec[], rounds: number, log: (line: string) => void): Promise<ThroughputRow[]> {
  for (const s of specs) await s.warm?.();
  const segs = specs.map((): Segment[] => []);
  for (let r = 0; r < rounds; r++) {
    log(`  throughput: ${specs[0]!.scenario}...: round ${r + 1}/${rounds}`);
    for (const [i, s] of specs.entries()) {
      segs[i]!.push(await s.run());
      await sleep(200);
    }
  }
  return specs.map((s, i) => summarize(s, segs[i]!));
}

export async function measureThroughput(o: ThroughputOptions) {
  const base = o.server.baseUrl;
  const c = o.concurrency;
  const MAX = 1_000_000;
  const floor = await startFloorProcess(
    { ...o.env, TABLE_NAME: o.floorTable },
    { endpoint: o.endpoint, tableName: o.floorTable, shards: o.shards, runId: o.runId, sessions: c },
  );
  const client = httpClient(c);
  try {
    // One session per worker for the pushes, released at once: the batch read below holds only the create segments' sessions.
    const sessions = Array.from({ length: c }, (_, w) => `${o.runId}-t-${w}`);
    for (const sid of sessions) await client.post(`${base}/session`, JSON.stringify(sessionBody(sid)));
    await client.post(`${base}/internal/batch/release`, JSON.stringify({ release_id: `${o.runId}-push-sessions` }));
    // Request bodies from a template: only the session and the event ids change.
    const pushTemplate = JSON.stringify({
      session_id: '@S@',
      events: Array.from({ length: EVENTS_PER_REQUEST }, (_, k) => clickEvent(`t@N@-${k}`, k)),
    });
    const createTemplate = JSON.stringify(sessionBody('@S@'));
    const accepted = new RegExp(`"accepted":${EVENTS_PER_REQUEST},`);
    let seq = 0;
    const apiPush = async (i: number) => {
      const text = await client.post(
        `${base}/session/events`,
        pushTemplate.replace('@S@', sessions[i % c]!).replaceAll('@N@', String(seq++)),
      );
      if (!accepted.test(text)) throw new Error(`not all accepted: ${text.slice(0, 200)}`);
      return EVENTS_PER_REQUEST;
    };
    const apiCreate = async () => {
      const text = await client.post(`${base}/session`, createTemplate.replace('@S@', `${o.runId}-tc-${seq++}`));
      if (!text.includes('"created":true')) throw new Error(`not created: ${text.slice(0, 200)}`);
      return 1;
    };
    const ms = o.segmentMs;
    const writes: SegmentSpec[] = [
      {
        ...{ scenario: 'push_events', mode: 'api', concurrency: c, itemsPerRequest: EVENTS_PER_REQUEST },
        what: `POST /session/events, ${EVENTS_PER_REQUEST} events a request, through the local server`,
        warm: () => closedLoop(c, 4 * c, 10_000, apiPush),
        run: () => closedLoop(c, MAX, ms, apiPush),
      },
      {
        ...{ scenario: 'push_events', mode: 'floor', concurrency: c, itemsPerRequest: EVENTS_PER_REQUEST },
        what: `the same ${EVENTS_PER_REQUEST} event items a "request": conditional PutItems, ${PUT_CONCURRENCY} in flight, straight from the SDK`,
        warm: () => floor.run('push', c, 4 * c, 10_000),
        run: () => floor.run('push', c, MAX, ms),
      },
      {
        ...{ scenario: 'create_session', mode: 'api', concurrency: c, itemsPerRequest: 1 },
        what: 'POST /session through the local server',
        warm: () => closedLoop(c, 8 * c, 10_000, apiCreate),
        run: () => closedLoop(c, MAX, ms, apiCreate),
      },
      {
        ...{ scenario: 'create_session', mode: 'floor', concurrency: c, itemsPerRequest: 1 },
        what: "the service's create transaction (session, membership, shard counter) straight from the SDK",
        warm: () => floor.run('create', c, 8 * c, 10_000),
        run: () => floor.run('create', c, MAX, ms),
      },
    ];
    o.log('  throughput: writes');
    const rows = await runPhase(writes, o.rounds, o.log);

    // One reader of a released batch (the create segments' sessions, each under 1 KB with no
    // events), pages of READ_PAGE, through the local server and straight from the SDK; then the
    // server-side export of the same batch (in-process workers, gzip JSON Lines to a local folder),
    // from the POST until GET says succeeded.
    const released = JSON.parse(
      await client.post(`${base}/internal/batch/release`, JSON.stringify({ release_id: `${o.runId}-read` })),
    ) as { batch_id: string; session_count: number };
    const toRead: BatchToRead = {
      tableName: o.tableName,
      batchId: released.batch_id,
      shards: o.shards,
      limit: READ_PAGE,
    };
    let after = 0;
    const apiPage = async () => {
      for (;;) {
        const text = await client.get(
          `${base}/internal/batch/sessions?batch_id=${released.batch_id}&after_number=${after}&limit=${READ_PAGE}`,
        );
        const last = /"last_number":(null|\d+)/.exec(text)?.[1];
        if (last === undefined) throw new Error(`unexpected page: ${text.slice(0, 200)}`);
        after = last === 'null' ? 0 : Number(last); // from the start again until the segment's time is up
        if (last !== 'null') return text.split('"events_truncated":').length - 1;
      }
    };
    let exportSeq = 0;
    const apiExport = async (): Promise<Segment> => {
      const exportId = `${o.runId}-export-${exportSeq++}`;
      const started = performance.now();
      await client.post(
        `${base}/internal/batch/export`,
        JSON.stringify({ batch_id: released.batch_id, export_id: exportId }),
      );
      let state: { state: string; sessions: number; error?: string };
      do {
        await sleep(50);
        state = JSON.parse(await client.get(`${base}/internal/batch/export?export_id=${exportId}`)) as typeof state;
      } while (state.state === 'running');
      if (state.state !== 'succeeded') throw new Error(`export ${exportId} ${state.state}: ${state.error ?? ''}`);
      const elapsedMs = performance.now() - started;
      return { latencies: [elapsedMs], items: state.sessions, requests: 1, errors: 0, elapsedMs };
    };
    const warmMs = Math.min(3_000, ms);
    const reads: SegmentSpec[] = [
      {
        ...{ scenario: 'batch_read', mode: 'api', concurrency: 1, itemsPerRequest: READ_PAGE },
        what: `one reader of a released batch: GET /internal/batch/sessions, pages of ${READ_PAGE}, through the local server`,
        warm: () => closedLoop(1, MAX, warmMs, apiPage),
        run: () => closedLoop(1, MAX, ms, apiPage),
      },
      {
        ...{ scenario: 'batch_read', mode: 'floor', concurrency: 1, itemsPerRequest: READ_PAGE },
        what: `the same reads straight from the SDK: a members Query per ${READ_PAGE}, one Query per session partition, ${EVENT_READ_CONCURRENCY} at once`,
        warm: () => floor.read(toRead, warmMs),
        run: () => floor.read(toRead, ms),
      },
      {
        ...{
          scenario: 'batch_export',
          mode: 'api',
          concurrency: DEFAULT_SETTINGS.exportConcurrency,
          itemsPerRequest: released.session_count,
        },
        what: `server-side export of that batch: POST /internal/batch/export until GET says succeeded (in-process workers, ${DEFAULT_SETTINGS.exportConcurrency} ranges at once, gzip JSON Lines to a folder)`,
        run: apiExport,
      },
    ];
    o.log(`  throughput: reading a released batch of ${released.session_count} sessions`);
    rows.push(...(await runPhase(reads, o.rounds, o.log)));

    const rate = (s: string, m: string) => rows.find((x) => x.scenario === s && x.mode === m)!.itemsPerSec;
    return {
      rows,
      pushRatio: round(rate('push_events', 'api') / rate('push_events', 'floor'), 3),
      createRatio: round(rate('create_session', 'api') / rate('create_session', 'floor'), 3),
      readRatio: round(rate('batch_read', 'api') / rate('batch_read', 'floor'), 3),
      exportRatio: round(rate('batch_export', 'api') / rate('batch_read', 'floor'), 3),
      rounds: o.rounds,
      segmentMs: o.segmentMs,
      concurrency: c,
    };
  } finally {
    client.destroy();
    await floor.stop();
  }
}
