/**
 * Throughput and latency through the local HTTP server (its own process, the real handlers), beside
 * the floor on this machine: the same items written straight to DynamoDB Local with the SDK (floor.ts,
 * also in its own process) at the same concurrency, with the same client options and the same
 * in-request parallelism. Segments alternate (API, floor, API, floor, ...) so that drifting load on
 * the machine touches both sides alike. Every loop is bounded in requests and in time; traffic goes
 * to 127.0.0.1 only.
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../clickstream-function.js';
import { BASE_PATH } from '../routes.js';
import { DEFAULT_SETTINGS } from '../settings.js';
import { clickEvent, sessionBody } from './events.js';
import { type BatchToRead, closedLoop, EVENTS_PER_REQUEST, PUT_CONCURRENCY, READ_CONCURRENCY, type FloorOptions, type Segment } from './floor.js';
import { quantile, round, sleep } from './stats.js';

interface Child {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Forks a TypeScript module of lib/bench under tsx, with an IPC channel; resolves on its first message. */
async function forkTs(file: string, env: Record<string, string>): Promise<{ child: ChildProcess; first: any; stop(): Promise<void> }> {
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), [], {
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
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not start within 60 s:\n${stderr}`));
    }, 60_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited (${code}):\n${stderr}`));
    });
  });
  return {
    child,
    first,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      if (child.connected) child.send('stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface LocalServerProcess extends Child {
  url: string;
  baseUrl: string;
}

/** Starts lib/bench/server-process.ts (the local server) with the given environment. */
export async function startServerProcess(env: Record<string, string>): Promise<LocalServerProcess> {
  const { child, first, stop } = await forkTs('./server-process.ts', env);
  if (!first?.url) throw new Error('The local server sent no URL');
  return { child, stop, url: first.url, baseUrl: `${first.url}${BASE_PATH}` };
}

/** The floor process: setup once, then one segment per call. */
async function startFloorProcess(env: Record<string, string>, options: FloorOptions) {
  const { child, stop } = await forkTs('./floor-process.ts', env);
  let nextId = 0;
  const call = (message: Record<string, unknown>) =>
    new Promise<any>((resolve, reject) => {
      const id = nextId++;
      const onMessage = (m: any) => {
        if (m?.id !== id) return;
        child.off('message', onMessage);
        if (m.error) reject(new Error(`floor process: ${m.error}`));
        else resolve(m);
      };
      child.on('message', onMessage);
      child.send({ id, ...message });
    });
  await call({ setup: options });
  return {
    stop,
    run: async (kind: 'push' | 'create', concurrency: number, maxRequests: number, maxMs: number): Promise<Segment> =>
      (await call({ run: kind, concurrency, maxRequests, maxMs })).segment as Segment,
    read: async (batch: BatchToRead, maxMs: number): Promise<Segment> => (await call({ read: batch, maxMs })).segment as Segment,
  };
}

export interface ThroughputRow {
  scenario: 'push_events' | 'create_session' | 'batch_read' | 'batch_export';
  mode: 'api' | 'floor';
  what: string;
  concurrency: number;
  itemsPerRequest: number;
  requests: number;
  items: number;
  errors: number;
  seconds: number;
  itemsPerSec: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface ThroughputResult {
  rows: ThroughputRow[];
  pushRatio: number;
  createRatio: number;
  /** One API reader of a released batch against the direct-SDK reader (sessions/s). */
  readRatio: number;
  /** The server-side export of that batch (in-process workers, local folder) against the direct-SDK reader (sessions/s). */
  exportRatio: number;
  rounds: number;
  segmentMs: number;
  concurrency: number;
}

/** Sessions per page of the batch read (both readers). */
export const READ_PAGE = 1000;

export interface ThroughputOptions {
  server: LocalServerProcess;
  endpoint: string;
  /** Environment of the floor process (region and credentials for DynamoDB Local). */
  env: Record<string, string>;
  /** The table the floor writes to (created by the floor process). */
  floorTable: string;
  /** The local server's table (the batch read compares both readers on it). */
  tableName: string;
  concurrency: number;
  rounds: number;
  segmentMs: number;
  runId: string;
  shards: number;
  log?: (line: string) => void;
}

/**
 * A small HTTP client for the load generator: keep-alive sockets, bodies already serialized, answers
 * checked with a regular expression; it keeps the generator's own CPU use (which competes with the
 * server and DynamoDB Local for this machine's cores) low.
 */
function httpClient(maxSockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const post = (url: string, body: string) =>
    new Promise<string>((resolve, reject) => {
      const req = http.request(
        url,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
            else resolve(text);
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(body);
    });
  const get = (url: string) =>
    new Promise<string>((resolve, reject) => {
      const req = http.request(url, { method: 'GET', agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          else resolve(text);
        });
        res.on('error', reject);
      });
      req.setTimeout(30_000, () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end();
    });
  return { post, get, destroy: () => agent.destroy() };
}

function summarize(scenario: ThroughputRow['scenario'], mode: ThroughputRow['mode'], what: string, concurrency: number, itemsPerRequest: number, segs: Segment[]): ThroughputRow {
  const latencies = segs.flatMap((s) => s.latencies);
  const seconds = segs.reduce((a, s) => a + s.elapsedMs, 0) / 1000;
  const items = segs.reduce((a, s) => a + s.items, 0);
  const requests = segs.reduce((a, s) => a + s.requests, 0);
  const errors = segs.reduce((a, s) => a + s.errors, 0);
  const firstError = segs.find((s) => s.firstError)?.firstError;
  if (errors > 0) throw new Error(`${scenario} (${mode}): ${errors} of ${requests} requests failed, e.g. ${firstError}`);
  return {
    scenario,
    mode,
    what,
    concurrency,
    itemsPerRequest,
    requests,
    items,
    errors,
    seconds: round(seconds, 1),
    itemsPerSec: round(items / seconds, 1),
    requestsPerSec: round(requests / seconds, 1),
    p50Ms: round(quantile(latencies, 0.5), 1),
    p99Ms: round(quantile(latencies, 0.99), 1),
  };
}

export async function measureThroughput(o: ThroughputOptions): Promise<ThroughputResult> {
  const base = o.server.baseUrl;
  const c = o.concurrency;
  const floor = await startFloorProcess(o.env, { endpoint: o.endpoint, tableName: o.floorTable, shards: o.shards, runId: o.runId, sessions: c });
  const cleanup: (() => void)[] = [];
  try {
    const client = httpClient(c);
    cleanup.push(() => client.destroy());
    // One session per worker for the pushes.
    const sessions = Array.from({ length: c }, (_, w) => `${o.runId}-t-${w}`);
    for (const sid of sessions) await client.post(`${base}/session`, JSON.stringify(sessionBody(sid)));
    // Released at once, so that the batch read below holds only the sessions of the create segments.
    await client.post(`${base}/internal/batch/release`, JSON.stringify({ release_id: `${o.runId}-push-sessions` }));
    // Request bodies from a template: only the session and the event ids change.
    const pushTemplate = JSON.stringify({
      session_id: '@SESSION@',
      events: Array.from({ length: EVENTS_PER_REQUEST }, (_, k) => clickEvent(`t@N@-${k}`, k)),
    });
    const createTemplate = JSON.stringify(sessionBody('@SESSION@'));
    const accepted = new RegExp(`"accepted":${EVENTS_PER_REQUEST},`);
    let pushSeq = 0;
    let createSeq = 0;
    const apiPush = async (i: number) => {
      const body = pushTemplate.replace('@SESSION@', sessions[i % c]!).replaceAll('@N@', String(pushSeq++));
      const text = await client.post(`${base}/session/events`, body);
      if (!accepted.test(text)) throw new Error(`not all accepted: ${text.slice(0, 200)}`);
      return EVENTS_PER_REQUEST;
    };
    const apiCreate = async () => {
      const text = await client.post(`${base}/session`, createTemplate.replace('@SESSION@', `${o.runId}-tc-${createSeq++}`));
      if (!text.includes('"created":true')) throw new Error(`not created: ${text.slice(0, 200)}`);
      return 1;
    };

    const MAX_REQUESTS = 1_000_000;
    // Warm-up (not counted): JIT, connection pools, DynamoDB Local's own warm-up.
    o.log?.('  throughput: warming up');
    await closedLoop(c, 4 * c, 10_000, apiPush);
    await floor.run('push', c, 4 * c, 10_000);
    await closedLoop(c, 8 * c, 10_000, apiCreate);
    await floor.run('create', c, 8 * c, 10_000);

    const segs: Record<'apiPush' | 'floorPush' | 'apiCreate' | 'floorCreate', Segment[]> = { apiPush: [], floorPush: [], apiCreate: [], floorCreate: [] };
    for (let r = 0; r < o.rounds; r++) {
      o.log?.(`  throughput: round ${r + 1}/${o.rounds}`);
      segs.apiPush.push(await closedLoop(c, MAX_REQUESTS, o.segmentMs, apiPush));
      await sleep(200);
      segs.floorPush.push(await floor.run('push', c, MAX_REQUESTS, o.segmentMs));
      await sleep(200);
      segs.apiCreate.push(await closedLoop(c, MAX_REQUESTS, o.segmentMs, apiCreate));
      await sleep(200);
      segs.floorCreate.push(await floor.run('create', c, MAX_REQUESTS, o.segmentMs));
      await sleep(200);
    }

    // One reader of a released batch (the sessions the create segments made, each under 1 KB with
    // no events): pages of READ_PAGE through the local server, against the same reads straight
    // from the SDK in the floor process, on the same table of the same DynamoDB Local.
    const released = JSON.parse(await client.post(`${base}/internal/batch/release`, JSON.stringify({ release_id: `${o.runId}-read` }))) as { batch_id: string; session_count: number };
    const toRead: BatchToRead = { tableName: o.tableName, batchId: released.batch_id, shards: o.shards, limit: READ_PAGE };
    const apiRead = async (maxMs: number): Promise<Segment> => {
      const seg: Segment = { latencies: [], items: 0, requests: 0, errors: 0, elapsedMs: 0 };
      const started = performance.now();
      for (let after = 0; performance.now() < started + maxMs; ) {
        const t0 = performance.now();
        const text = await client.get(`${base}/internal/batch/sessions?batch_id=${released.batch_id}&after_number=${after}&limit=${READ_PAGE}`);
        const last = /"last_number":(null|\d+)/.exec(text)?.[1];
        if (last === undefined) throw new Error(`unexpected page: ${text.slice(0, 200)}`);
        if (last === 'null') {
          after = 0; // read it again from the start until the segment's time is up
          continue;
        }
        seg.items += text.split('"events_truncated":').length - 1;
        seg.requests++;
        seg.latencies.push(performance.now() - t0);
        after = Number(last);
      }
      seg.elapsedMs = performance.now() - started;
      return seg;
    };
    o.log?.(`  throughput: reading a released batch of ${released.session_count} sessions`);
    await apiRead(Math.min(3_000, o.segmentMs));
    await floor.read(toRead, Math.min(3_000, o.segmentMs));
    const reads: Record<'api' | 'floor', Segment[]> = { api: [], floor: [] };
    for (let r = 0; r < o.rounds; r++) {
      reads.api.push(await apiRead(o.segmentMs));
      await sleep(200);
      reads.floor.push(await floor.read(toRead, o.segmentMs));
      await sleep(200);
    }

    // The server-side export of the same batch (POST /internal/batch/export; the local server runs the
    // export's workers in-process, as npm start does, and writes gzip JSON Lines to a local folder),
    // from the POST until GET says succeeded, against the direct-SDK reader's rate.
    const exports: Segment[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const exportId = `${o.runId}-export-${r}`;
      const started = performance.now();
      await client.post(`${base}/internal/batch/export`, JSON.stringify({ batch_id: released.batch_id, export_id: exportId }));
      let state: { state: string; sessions: number; error?: string };
      do {
        await sleep(50);
        state = JSON.parse(await client.get(`${base}/internal/batch/export?export_id=${exportId}`)) as typeof state;
      } while (state.state === 'running');
      if (state.state !== 'succeeded') throw new Error(`export ${exportId} ${state.state}: ${state.error ?? ''}`);
      const elapsedMs = performance.now() - started;
      exports.push({ latencies: [elapsedMs], items: state.sessions, requests: 1, errors: 0, elapsedMs });
      await sleep(200);
    }

    const rows = [
      summarize('push_events', 'api', `POST /session/events, ${EVENTS_PER_REQUEST} events a request, through the local server`, c, EVENTS_PER_REQUEST, segs.apiPush),
      summarize('push_events', 'floor', `the same ${EVENTS_PER_REQUEST} event items a "request": conditional PutItems, ${PUT_CONCURRENCY} in flight, straight from the SDK`, c, EVENTS_PER_REQUEST, segs.floorPush),
      summarize('create_session', 'api', 'POST /session through the local server', c, 1, segs.apiCreate),
      summarize('create_session', 'floor', 'the same TransactWriteItems (session, membership, shard counter) straight from the SDK', c, 1, segs.floorCreate),
      summarize('batch_read', 'api', `one reader of a released batch: GET /internal/batch/sessions, pages of ${READ_PAGE}, through the local server`, 1, READ_PAGE, reads.api),
      summarize('batch_read', 'floor', `the same reads straight from the SDK: a members Query per ${READ_PAGE}, one Query per session partition, ${READ_CONCURRENCY} at once`, 1, READ_PAGE, reads.floor),
      summarize('batch_export', 'api', `server-side export of that batch: POST /internal/batch/export until GET says succeeded (in-process workers, ${DEFAULT_SETTINGS.exportConcurrency} ranges at once, gzip JSON Lines to a folder)`, DEFAULT_SETTINGS.exportConcurrency, released.session_count, exports),
    ];
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
    for (const f of cleanup) f();
    await floor.stop();
  }
}
