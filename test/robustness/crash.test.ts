/**
 * Crash test (issue 11). The local server, Lambda's stand-in, runs as a process of its own
 * (`npm start -- --dynamodb-endpoint`) on the fault proxy in front of the suite's DynamoDB Local. While
 * clients create sessions, push events and release batches (some releases called twice at once with
 * one release_id), it is SIGKILLed, at a random moment or right after a release claimed its batch.
 * DynamoDB Local keeps running: killed, it loses acknowledged transactions, and the test would test
 * it. Delays on the release's writes and on creates widen the windows, so kills land between a
 * release's claim and its finalize, in the middle of its shard writes, and in the middle of creates.
 *
 * Each round restarts the server on the same table, with the shard count raised in some rounds, and
 * sends again every request that got no answer (the same body, the same release_id). Checked:
 * - right after a restart that follows a kill inside a release, creates answer 200 at once, before
 *   anyone calls release_batch (they never wait on a pending release, also when the shard count was
 *   raised meanwhile), and get_batch / list_batches report the interrupted batch released;
 * - every acknowledged session and event is stored exactly once (the ledger's audit of the table);
 * - every acknowledged session is in exactly one released batch at the end (after a final release);
 * - a released batch's membership, read right after its release answered, is the same at the end;
 * - the same release_id always gets the identical answer;
 * - every released batch appears in GET /internal/batches with its status, release_id and count.
 * Rounds stop when the time budget is spent (CRASH_BUDGET_MS, CRASH_ROUNDS); nothing is timed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTable } from '../../lib/local/dynamodb-local.js';
import { FaultProxy, type FaultRule } from './support/fault-proxy.js';
import { randomEvent, randomSession } from './support/generators.js';
import { get, post, releasedSessions, type Answer } from './support/invoke.js';
import { Ledger } from './support/model.js';
import { ServerProcess } from './support/server.js';
import { getRaw, readState, scanAll } from './support/storage.js';

/** Time for the kill rounds (the final checks follow); rounds stop when it is spent. */
const BUDGET_MS = Number(process.env.CRASH_BUDGET_MS ?? 50_000);
const MAX_ROUNDS = Number(process.env.CRASH_ROUNDS ?? 12);
/** Rounds run whatever the budget: kills at random and inside releases, with the shard count raised after both. */
const MIN_ROUNDS = Math.min(MAX_ROUNDS, 5);
/** The shard count of each round: raised after rounds that kill inside a release (odd rounds). */
const SHARDS = [2, 2, 3, 3, 5, 5, 5, 5, 6, 6, 6, 6];
const CREATORS = 4;

/** Widen the windows: a release's writes and creates are held a moment before they reach DynamoDB. */
const DELAYS: FaultRule[] = [
  // Shard pointers (sort key SHARD): a release's switch of each shard; also a create's number block.
  { kind: 'delay', operation: 'UpdateItem', bodyIncludes: '"sk":{"S":"SHARD"}', delayMs: 150 },
  // Claim and finalize.
  { kind: 'delay', operation: 'TransactWriteItems', bodyIncludes: 'RELEASE#', delayMs: 250 },
  // Creates.
  { kind: 'delay', operation: 'TransactWriteItems', bodyIncludes: 'SESSION#', delayMs: 40 },
  // A sealing's writes into member partitions (tombstones).
  { kind: 'delay', operation: ['PutItem', 'BatchWriteItem'], bodyIncludes: '#SHARD#', delayMs: 80 },
];

let proxy: FaultProxy;
let dynamo: string;
let tableName: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);

type Server = ServerProcess;
/** The server on the fault proxy, with `shards` batch shards. */
const startServer = (shards: number) =>
  ServerProcess.start(proxy.url, {
    ...process.env,
    TABLE_NAME: tableName,
    CLICKSTREAM_BATCH_SHARDS: String(shards),
    AWS_LAMBDA_LOG_LEVEL: 'FATAL',
  });

// ------------------------------------------------------------------ what the clients know

const ledger = new Ledger();
type Pending = { kind: 'create' | 'push'; body: Record<string, any> } | { kind: 'release'; releaseId: string };
/** Requests that got no answer (or a 503): sent again after the restart. */
let pending: Pending[] = [];
/** Released batches whose membership read a kill cut short. */
const toRead = new Set<string>();
/** Faults of the service found on the way (the test fails at the end, listing them all). */
const problems: string[] = [];
const stats = {
  rounds: 0,
  kills: 0,
  killsInRelease: 0,
  killsInReleaseWithRaise: 0,
  creates: 0,
  pushes: 0,
  releaseCalls: 0,
  retried: 0,
  answers503: 0,
  createsAfterInterruptedRelease: 0,
  finishedByReads: 0,
};

const pushBody = (id: string) => ({ session_id: id, events: [0, 1].map((k) => randomEvent(`e${k}`)) });

/** A create's answer: recorded; false when it got none (or a 503) and must be sent again. */
function onCreate(body: Record<string, any>, a: Answer | undefined, ctx: string, retried = false): boolean {
  if (a === undefined || a.status === 503) {
    if (a) stats.answers503++;
    return false;
  }
  expect(a.status, `${ctx}: ${a.text}`).toBe(200);
  ledger.onCreate(body, a, ctx, { retried });
  stats.creates++;
  return true;
}

function onPush(body: Record<string, any>, a: Answer | undefined, ctx: string, retried = false): boolean {
  if (a === undefined || a.status === 503) {
    if (a) stats.answers503++;
    return false;
  }
  expect(a.status, `${ctx}: ${a.text}`).toBe(200);
  ledger.onPush(body, a, ctx, { retried });
  stats.pushes++;
  return true;
}

/**
 * The answers of one or more concurrent calls with one release_id, checked by the ledger. False when
 * none of them was answered (it must be sent again).
 */
async function onRelease(
  server: Server,
  releaseId: string,
  answers: (Answer | undefined)[],
  ctx: string,
): Promise<boolean> {
  const got = answers.filter((a): a is Answer => a !== undefined && a.status !== 503);
  stats.answers503 += answers.filter((a) => a?.status === 503).length;
  if (got.length === 0) return false;
  const answer = ledger.onRelease(releaseId, got, ctx);
  if (!answer) return true;
  const members = await readMembers(server, answer.batch_id);
  if (members === undefined) toRead.add(answer.batch_id);
  else ledger.onMembers(answer.batch_id, members, ctx);
  return true;
}

/** A released batch's session ids, sorted; undefined if a kill cut the paging short. */
async function readMembers(server: Server, batchId: string): Promise<string[] | undefined> {
  const read = await releasedSessions((r) => server.send(r), batchId, 1);
  if (!('failed' in read)) return read.sessions.map((s) => s.session_id as string).sort();
  const a = read.failed;
  if (a !== undefined && a.status !== 503) expect(a.status, `pages of batch ${batchId}: ${a.text}`).toBe(200);
  return undefined;
}

/** Every batch of GET /internal/batches, all pages. */
async function listAll(server: Server): Promise<Map<string, Record<string, unknown>> | undefined> {
  const all = new Map<string, Record<string, unknown>>();
  let cursor: string | undefined;
  do {
    const a = await server.send(get('/internal/batches', { limit: 100, ...(cursor ? { cursor } : {}) }));
    if (a === undefined || a.status !== 200) return undefined;
    const page = a.json as { batches: Record<string, unknown>[]; next_cursor: string | null };
    for (const b of page.batches) {
      expect(all.has(b.batch_id as string), `batch ${String(b.batch_id)} listed twice`).toBe(false);
      all.set(b.batch_id as string, b);
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return all;
}

/** Release records still under way, read straight from DynamoDB Local. */
async function pendingReleases(): Promise<{ releaseId: string; batchId: string }[]> {
  const state = await readState(dynamo, tableName);
  return [...state.releases.values()]
    .filter((r) => r.state !== 'released')
    .map((r) => ({ releaseId: r.releaseId as string, batchId: r.batchId as string }));
}

// ------------------------------------------------------------------ the clients under load

async function creator(server: Server, tag: string, stopped: () => boolean): Promise<void> {
  for (let i = 0; !stopped(); i++) {
    const body = randomSession(`${tag}-${i}`);
    if (!onCreate(body, await server.send(post('/session', body)), `create ${body.session_id}`)) {
      pending.push({ kind: 'create', body });
      return;
    }
    if (i % 2 === 1) continue;
    const push = pushBody(body.session_id);
    if (!onPush(push, await server.send(post('/session/events', push)), `push ${body.session_id}`)) {
      pending.push({ kind: 'push', body: push });
      return;
    }
  }
}

/** Releases now and then; every other release_id is sent twice at once; now and then an old one again. */
async function releaser(server: Server, round: number, stopped: () => boolean, inFlight: Set<string>): Promise<void> {
  await sleep(150 + rand(150));
  for (let j = 0; !stopped(); j++) {
    const releaseId = `rel-${round}-${j}`;
    const parallel = j % 2 === 0 ? 2 : 1;
    inFlight.add(releaseId);
    const answers = await Promise.all(
      Array.from({ length: parallel }, () => server.send(post('/internal/batch/release', { release_id: releaseId }))),
    );
    stats.releaseCalls += parallel;
    inFlight.delete(releaseId);
    if (!(await onRelease(server, releaseId, answers, `release ${releaseId}`))) {
      pending.push({ kind: 'release', releaseId });
      return;
    }
    const old = [...ledger.releases.keys()];
    if (j % 3 === 2 && old.length > 0) {
      const again = old[rand(old.length)]!;
      if (
        !(await onRelease(
          server,
          again,
          [await server.send(post('/internal/batch/release', { release_id: again }))],
          `release ${again} again`,
        ))
      )
        return;
    }
    await sleep(100 + rand(200));
  }
}

/**
 * Waits for the moment to kill: a random one once the round has made some progress (this machine's
 * speed varies too much for a fixed time), or just after a release in flight claimed its batch.
 */
async function killMoment(mode: 'random' | 'in-release', inFlight: Set<string>): Promise<void> {
  const from = stats.creates;
  for (const end = Date.now() + 20_000; stats.creates - from < 8 && Date.now() < end;) await sleep(20);
  if (mode === 'random') {
    await sleep(rand(1200));
    return;
  }
  for (const end = Date.now() + 20_000; Date.now() < end; await sleep(15)) {
    for (const releaseId of inFlight) {
      const record = await getRaw(dynamo, tableName, `RELEASE#${releaseId}`, 'RELEASE');
      if (record && record.state !== 'released') {
        await sleep(rand(250));
        return;
      }
    }
  }
}

// ------------------------------------------------------------------ after a restart

/** What the server must do right after a restart, before anyone calls release_batch; then the retries. */
async function afterRestart(server: Server, round: number, shards: number, raised: boolean): Promise<void> {
  const interrupted = await pendingReleases();
  if (interrupted.length > 0) {
    // Creates never wait on a pending release: at once, and also after the shard count was raised.
    const bodies = Array.from({ length: 3 }, (_, i) => randomSession(`after-${round}-${i}`));
    const answers = await Promise.all(bodies.map((b) => server.send(post('/session', b))));
    stats.createsAfterInterruptedRelease += bodies.length;
    bodies.forEach((body, i) => {
      const a = answers[i];
      if (a?.status !== 200) {
        problems.push(
          `round ${round}: create ${body.session_id} answered ${a ? `${a.status} ${a.text}` : 'nothing'} right after a restart with ${shards} shards${raised ? ' (raised)' : ''} while release ${interrupted.map((r) => r.releaseId).join(', ')} was pending, before any release call`,
        );
        pending.push({ kind: 'create', body });
      } else onCreate(body, a, `create ${body.session_id} after a restart`);
    });
    // The interrupted batch is not "collecting" forever: reading it finishes its release (a reader
    // may leave a release claimed a moment ago to its caller: reads are repeated for a while).
    for (const r of interrupted) {
      let a: Answer | undefined;
      let status: string | undefined;
      for (let look = 0; look < 40 && status !== 'released'; look++) {
        if (look > 0) await sleep(500);
        await listAll(server);
        a = await server.send(get('/internal/batch', { batch_id: r.batchId }));
        status = (a?.json as { status?: string } | undefined)?.status;
      }
      if (a?.status === 200 && status === 'released') {
        expect((a.json as { release_id: string }).release_id, `round ${round}: batch ${r.batchId}`).toBe(r.releaseId);
        stats.finishedByReads++;
      } else {
        problems.push(
          `round ${round}: get_batch (after list_batches) reports batch ${r.batchId} of interrupted release ${r.releaseId} as ${a ? `${a.status} ${status ?? a.text}` : 'nothing'}, not released after 40 reads 0.5 s apart: nobody but a release call finishes it`,
        );
      }
    }
  }
  await retryPending(server, round);
}

/** Sends again every request that got no answer: the same body, the same release_id. */
async function retryPending(server: Server, round: number): Promise<void> {
  for (let attempt = 0; pending.length > 0 && attempt < 12; attempt++) {
    if (attempt > 0) await sleep(300);
    const now = pending;
    pending = [];
    for (const p of now) {
      stats.retried++;
      if (p.kind === 'release') {
        const answers = await Promise.all(
          [0, 1].map(() => server.send(post('/internal/batch/release', { release_id: p.releaseId }))),
        );
        stats.releaseCalls += 2;
        if (!(await onRelease(server, p.releaseId, answers, `retry of release ${p.releaseId}`))) pending.push(p);
        continue;
      }
      let answered: boolean;
      if (p.kind === 'create')
        answered = onCreate(
          p.body,
          await server.send(post('/session', p.body)),
          `retry of create ${p.body.session_id}`,
          true,
        );
      else
        answered = onPush(
          p.body,
          await server.send(post('/session/events', p.body)),
          `retry of push ${p.body.session_id}`,
          true,
        );
      if (!answered) pending.push(p);
    }
  }
  if (pending.length > 0)
    problems.push(
      `round ${round}: ${pending.length} requests still unanswered after 12 retries (${pending.map((p) => p.kind).join(', ')})`,
    );
  for (const batchId of [...toRead]) {
    const members = await readMembers(server, batchId);
    if (members === undefined) continue;
    ledger.onMembers(batchId, members, `late read of batch ${batchId}`);
    toRead.delete(batchId);
  }
}

// ------------------------------------------------------------------ the test

beforeAll(async () => {
  dynamo = inject('dynamoEndpoint');
  tableName = `crash-${randomUUID()}`;
  await ensureTable(dynamo, tableName);
  proxy = await FaultProxy.start(dynamo);
  proxy.set(...DELAYS);
});

afterAll(async () => {
  for (const c of ServerProcess.running) c.kill('SIGKILL');
  await proxy?.close();
});

describe('crash test: the server SIGKILLed at random moments, restarted on the same table', () => {
  it(
    'loses, duplicates and moves nothing, never makes creates wait on a pending release, and answers every release_id identically',
    { timeout: 400_000 },
    async () => {
      const started = Date.now();
      let server: Server | undefined;
      let shards = SHARDS[0]!;
      for (let round = 0; round < MAX_ROUNDS && (round < MIN_ROUNDS || Date.now() - started < BUDGET_MS); round++) {
        const next = SHARDS[Math.min(round, SHARDS.length - 1)]!;
        const raised = next > shards;
        shards = next;
        const t0 = Date.now();
        server = await startServer(shards);
        const t1 = Date.now();
        if (raised && (await pendingReleases()).length > 0) stats.killsInReleaseWithRaise++;
        await afterRestart(server, round, shards, raised);
        const t2 = Date.now();
        const createsBefore = stats.creates;

        let stop = false;
        const stopped = () => stop;
        const inFlight = new Set<string>();
        const load = [
          ...Array.from({ length: CREATORS }, (_, w) => creator(server!, `k${round}-${w}`, stopped)),
          releaser(server, round, stopped, inFlight),
        ];
        await killMoment(round % 2 === 1 ? 'in-release' : 'random', inFlight);
        stop = true;
        await server.kill();
        await Promise.all(load);
        stats.kills++;
        stats.rounds++;
        if ((await pendingReleases()).length > 0) stats.killsInRelease++;
        if (process.env.CRASH_VERBOSE)
          console.log(
            `round ${round}: start ${t1 - t0} ms, after restart ${t2 - t1} ms, load ${Date.now() - t2} ms, ${stats.creates - createsBefore} creates, ${pending.length} unanswered`,
          );
      }

      // The end: one more restart, the retries, a final release, then every check.
      server = await startServer(shards);
      await afterRestart(server, stats.rounds, shards, false);
      for (let i = 0; ; i++) {
        const releaseId = `final-${i}`;
        const answers = [await server.send(post('/internal/batch/release', { release_id: releaseId }))];
        expect(await onRelease(server, releaseId, answers, `final release ${releaseId}`)).toBe(true);
        if (answers[0]!.status === 404) break;
        expect(i, 'final releases').toBeLessThan(3);
      }
      expect(toRead.size, 'released batches whose membership could not be read').toBe(0);

      // The same release_id always gets the identical answer.
      for (const [releaseId, answer] of ledger.releases) {
        const a = await server.send(post('/internal/batch/release', { release_id: releaseId }));
        expect(a?.json, `release ${releaseId} at the end`).toEqual(answer);
      }
      // Every acknowledged session in exactly one released batch, whose membership never changed.
      for (const [batchId, members] of ledger.released)
        expect(
          await readMembers(server, batchId),
          `batch ${batchId}: membership at the end against right after its release`,
        ).toEqual([...members].sort());
      const { batchesOf, strangers } = ledger.homes();
      for (const [id, batches] of batchesOf) expect(batches, `session ${id}: released batches`).toHaveLength(1);
      expect(strangers, 'released members that were never acknowledged').toEqual([]);
      // Every released batch listed, as released, with its release_id and count.
      const listed = await listAll(server);
      expect(listed, 'list_batches').toBeDefined();
      for (const answer of ledger.releases.values()) {
        const b = listed!.get(answer.batch_id as string);
        expect(b, `batch ${String(answer.batch_id)} in GET /internal/batches`).toBeDefined();
        expect({ status: b!.status, release_id: b!.release_id, session_count: b!.session_count }).toEqual({
          status: 'released',
          release_id: answer.release_id,
          session_count: answer.session_count,
        });
      }
      await server.stop();
      // The table holds exactly what was acknowledged (sessions, events, one membership each, releases).
      const audited = ledger.audit(await readState(dynamo, tableName), 'crash audit');
      const items = (await scanAll(dynamo, tableName)).length;
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `crash test: ${stats.rounds} rounds, ${stats.kills} SIGKILLs (${stats.killsInRelease} between a release's claim and its finalize, ${stats.killsInReleaseWithRaise} of them followed by a raised shard count), shards ${SHARDS.slice(0, stats.rounds).join('→')}\n` +
          `  ${audited.sessions} sessions, ${audited.events} events, ${ledger.releases.size} releases (${stats.releaseCalls} calls), ${stats.retried} requests sent again, ${stats.answers503} answers 503, ${items} items\n` +
          `  after a kill inside a release: ${stats.createsAfterInterruptedRelease} creates right after the restart, ${stats.finishedByReads} interrupted releases finished by reads; ${proxy.injected.delay} requests delayed; ${seconds} s`,
      );
      expect(problems, 'faults found').toEqual([]);
    },
  );
});
