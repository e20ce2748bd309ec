/**
 * Throughput through the local server (`npm start` in a process of its own:
 * test/robustness/support/server.ts) beside the floor (floor.ts, its own process). A phase runs its
 * segments in turn (API, floor, ...) each round; a new figure is one more segment.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../../lib/clickstream-function.js';
import { DEFAULT_SETTINGS } from '../../lib/settings.js';
import type { ServerProcess } from '../robustness/support/server.js';
import { events, EVENTS_PER_REQUEST, sessionBody } from './events.js';
import type { FloorCall, FloorOptions } from './floor.js';
import { closedLoop, quantile, round, type Segment, sleep } from './stats.js';

/**
 * The floor process (floor.ts under tsx, with an IPC channel), on a table of its own in the server's
 * environment: one segment per call, the next message its answer.
 */
async function startFloorProcess(serverEnv: Record<string, string>, options: FloorOptions) {
  const child = fork(fileURLToPath(new URL('./floor.ts', import.meta.url)), [JSON.stringify(options)], {
    ...{ env: { ...serverEnv, TABLE_NAME: 'bench-floor' }, cwd: PROJECT_ROOT, execArgv: ['--import', 'tsx'] },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`floor process ${why}:\n${stderr}`));
    const timer = setTimeout(() => (child.kill('SIGKILL'), fail('did not start within 60 s')), 60_000);
    child.once('message', () => (clearTimeout(timer), resolve()));
    child.once('exit', (code) => (clearTimeout(timer), fail(`exited (${code})`)));
  });
  /** Closes the channel, on which the process ends (killed if it has not within 5 s). */
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    if (child.connected) child.disconnect();
    await once(child, 'exit');
    clearTimeout(timer);
  };
  const call = (message: FloorCall) =>
    new Promise<Segment>((resolve, reject) => {
      child.once('message', ({ segment, error }: any) =>
        error ? reject(new Error(`floor: ${error}`)) : resolve(segment),
      );
      child.send(message);
    });
  return { stop, call };
}

/**
 * A small HTTP client for the load generator: keep-alive sockets, bodies already serialized; it keeps
 * the generator's own CPU use (which competes with the server and DynamoDB Local for the cores) low.
 */
function httpClient(maxSockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  /** A POST of `body` (JSON), or a GET without one; the answer's text (anything but 2xx rejects). */
  const send = (url: string, body?: string) =>
    new Promise<string>((resolve, reject) => {
      const headers = body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {};
      const req = http.request(url, { method: body ? 'POST' : 'GET', agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d)).on('error', reject);
        res.on('end', () => {
          const [text, status] = [Buffer.concat(chunks).toString('utf8'), res.statusCode ?? 0];
          if (status < 200 || status > 299) reject(new Error(`HTTP ${status}: ${text.slice(0, 300)}`));
          else resolve(text);
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error('request timed out'))).on('error', reject);
      req.end(body);
    });
  return { send, destroy: () => agent.destroy() };
}

type Spec = [scenario: string, mode: 'api' | 'floor', concurrency: number, itemsPerRequest: number];
type Loop = (maxRequests: number, maxMs: number) => Promise<Segment>;
/** One figure: its loop, run in turn with the others of its phase (`warm`: its bounds for one uncounted run first). */
type SegmentSpec = { spec: Spec; loop: Loop; warm?: [maxRequests: number, maxMs: number] };

function summarize([scenario, mode, concurrency, itemsPerRequest]: Spec, segs: Segment[]) {
  const total = (k: 'elapsedMs' | 'items' | 'requests' | 'errors') => segs.reduce((a, s) => a + s[k], 0);
  const [seconds, items] = [total('elapsedMs') / 1000, total('items')];
  const [requests, errors] = [total('requests'), total('errors')];
  const firstError = segs.find((s) => s.firstError)?.firstError;
  if (errors > 0)
    throw new Error(`${scenario} (${mode}): ${errors} of ${requests} requests failed, e.g. ${firstError}`);
  const latencies = segs.flatMap((s) => s.latencies);
  const ms = (q: number) => round(quantile(latencies, q), 1);
  const figures = { scenario, mode, concurrency, itemsPerRequest, requests, items, seconds: round(seconds, 1) };
  const rates = { itemsPerSec: round(items / seconds, 1), requestsPerSec: round(requests / seconds, 1) };
  return { ...figures, ...rates, p50Ms: ms(0.5), p99Ms: ms(0.99) };
}

/** Warms every segment once, then runs `rounds` rounds of all of them in turn, each for `ms`. */
async function runPhase(specs: SegmentSpec[], rounds: number, ms: number, log: (line: string) => void) {
  for (const s of specs) if (s.warm) await s.loop(...s.warm);
  const segs = specs.map((): Segment[] => []);
  for (let r = 0; r < rounds; r++) {
    log(`  throughput: ${specs[0]!.spec[0]}...: round ${r + 1}/${rounds}`);
    for (const [i, s] of specs.entries()) {
      segs[i]!.push(await s.loop(MAX, ms));
      await sleep(200);
    }
  }
  return specs.map((s, i) => summarize(s.spec, segs[i]!));
}

/** Sessions per page of the batch read (both readers). */
const READ_PAGE = 1000;
const [MAX, SHARDS] = [1_000_000, DEFAULT_SETTINGS.batchShards];

/** `env`: the server's (its table: both readers read it). */
export async function measureThroughput(
  o: Record<'concurrency' | 'rounds' | 'segmentMs', number> & { runId: string; server: ServerProcess } & {
    env: Record<string, string>;
    log: (line: string) => void;
  },
) {
  const [base, c, ms, tableName, shards] = [o.server.baseUrl, o.concurrency, o.segmentMs, o.env.TABLE_NAME!, SHARDS];
  const floor = await startFloorProcess(o.env, { shards, runId: o.runId, sessions: c });
  const client = httpClient(c);
  const postJson = async (path: string, body: unknown) =>
    JSON.parse(await client.send(`${base}${path}`, JSON.stringify(body)));
  try {
    // One session per worker for the pushes, released at once: the batch read below holds only the create segments' sessions.
    const sessions = Array.from({ length: c }, (_, w) => `${o.runId}-t-${w}`);
    for (const sid of sessions) await postJson('/session', sessionBody(sid));
    await postJson('/internal/batch/release', { release_id: `${o.runId}-push-sessions` });
    // Request bodies from a template: only the session and the event ids change.
    const pushTemplate = JSON.stringify({ session_id: '@S@', events: events('t@N@', EVENTS_PER_REQUEST) });
    const createTemplate = JSON.stringify(sessionBody('@S@'));
    const accepted = new RegExp(`"accepted":${EVENTS_PER_REQUEST},`);
    let seq = 0;
    const apiPush = async (i: number) => {
      const body = pushTemplate.replace('@S@', sessions[i % c]!).replaceAll('@N@', String(seq++));
      const text = await client.send(`${base}/session/events`, body);
      if (!accepted.test(text)) throw new Error(`not all accepted: ${text.slice(0, 200)}`);
      return EVENTS_PER_REQUEST;
    };
    const apiCreate = async () => {
      const text = await client.send(`${base}/session`, createTemplate.replace('@S@', `${o.runId}-tc-${seq++}`));
      if (!text.includes('"created":true')) throw new Error(`not created: ${text.slice(0, 200)}`);
      return 1;
    };
    function api(f: (i: number) => Promise<number>, n = c): Loop {
      return (maxRequests, maxMs) => closedLoop(n, maxRequests, maxMs, f);
    }
    function floorLoop(run: 'push' | 'create'): Loop {
      return (maxRequests, maxMs) => floor.call({ run, concurrency: c, maxRequests, maxMs });
    }
    // The API through the local server; the floor: the same items straight from the SDK (floor.ts).
    o.log('  throughput: writes');
    const writes: SegmentSpec[] = [
      { spec: ['push_events', 'api', c, EVENTS_PER_REQUEST], loop: api(apiPush), warm: [4 * c, 10_000] },
      { spec: ['push_events', 'floor', c, EVENTS_PER_REQUEST], loop: floorLoop('push'), warm: [4 * c, 10_000] },
      { spec: ['create_session', 'api', c, 1], loop: api(apiCreate), warm: [8 * c, 10_000] },
      { spec: ['create_session', 'floor', c, 1], loop: floorLoop('create'), warm: [8 * c, 10_000] },
    ];
    const rows = await runPhase(writes, o.rounds, ms, o.log);

    // One reader of a released batch (the create segments' sessions, each under 1 KB with no
    // events), pages of READ_PAGE, through the local server and straight from the SDK; then the
    // server-side export of the same batch (in-process workers, DEFAULT_SETTINGS.exportConcurrency
    // ranges at once, gzip JSON Lines to a local folder), from the POST until GET says succeeded.
    const released = await postJson('/internal/batch/release', { release_id: `${o.runId}-read` });
    const toRead = { tableName, batchId: released.batch_id, shards, limit: READ_PAGE };
    let after = 0;
    const apiPage = async () => {
      for (const path = `${base}/internal/batch/sessions?batch_id=${released.batch_id}`; ;) {
        const text = await client.send(`${path}&after_number=${after}&limit=${READ_PAGE}`);
        const last = /"last_number":(null|\d+)/.exec(text)?.[1];
        if (last === undefined) throw new Error(`unexpected page: ${text.slice(0, 200)}`);
        after = last === 'null' ? 0 : Number(last); // from the start again until the segment's time is up
        if (last !== 'null') return text.split('"events_truncated":').length - 1;
      }
    };
    const apiExport = async () => {
      const [exportId, started] = [`${o.runId}-export-${seq++}`, performance.now()];
      await postJson('/internal/batch/export', { batch_id: released.batch_id, export_id: exportId });
      let state: { state: string; sessions: number; error?: string };
      do {
        await sleep(50);
        state = JSON.parse(await client.send(`${base}/internal/batch/export?export_id=${exportId}`)) as typeof state;
      } while (state.state === 'running');
      if (state.state !== 'succeeded') throw new Error(`export ${exportId} ${state.state}: ${state.error ?? ''}`);
      const elapsedMs = performance.now() - started;
      return { latencies: [elapsedMs], items: state.sessions, requests: 1, errors: 0, elapsedMs } as Segment;
    };
    const warm: [number, number] = [MAX, Math.min(3_000, ms)];
    const reads: SegmentSpec[] = [
      { spec: ['batch_read', 'api', 1, READ_PAGE], loop: api(apiPage, 1), warm },
      { spec: ['batch_read', 'floor', 1, READ_PAGE], loop: (_, maxMs) => floor.call({ read: toRead, maxMs }), warm },
      { spec: ['batch_export', 'api', DEFAULT_SETTINGS.exportConcurrency, released.session_count], loop: apiExport },
    ];
    o.log(`  throughput: reading a released batch of ${released.session_count} sessions`);
    rows.push(...(await runPhase(reads, o.rounds, ms, o.log)));

    const rate = (s: string, m = 'api') => rows.find((x) => x.scenario === s && x.mode === m)!.itemsPerSec;
    // Ratios in items/s against the floor: the export's against the direct-SDK reader's.
    return {
      rows,
      pushRatio: round(rate('push_events') / rate('push_events', 'floor'), 3),
      readRatio: round(rate('batch_read') / rate('batch_read', 'floor'), 3),
      exportRatio: round(rate('batch_export') / rate('batch_read', 'floor'), 3),
      ...{ rounds: o.rounds, segmentMs: o.segmentMs, concurrency: c },
    };
  } finally {
    client.destroy();
    await floor.stop();
  }
}
