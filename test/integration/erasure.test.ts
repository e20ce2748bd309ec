/**
 * Erasure of a user (issue 12) end to end on DynamoDB Local, through the local server's routes, the
 * in-process export runner and the in-process erasure runner (the worker of functions/domain/erasure.ts
 * with short waits): what is erased and what is not, the receipt, idempotency, and the races (late
 * pushes, creates and releases while an erasure runs).
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setExportRunner } from '../../functions/domain/exports.js';
import { documentClient } from '../../functions/storage/client.js';
import { resetErasureKey } from '../../functions/storage/erasure-key.js';
import { putEventOnce } from '../../functions/storage/session-store.js';
import { inProcessErasureRunner, type InProcessErasureRunner } from '../../lib/local/erasure-runner.js';
import { inProcessExportRunner, type InProcessRunner } from '../../lib/local/export-runner.js';
import { readExportFolder } from '../support/exports.js';
import { Api, sessionBody } from '../support/http.js';
import { useFreshTable } from '../support/table.js';

const KEY = 'erasure-test-key';
const hmacOf = (userId: string) => `hmac-sha256:${createHmac('sha256', KEY).update(userId, 'utf8').digest('hex')}`;

let api: Api;
let exports: InProcessRunner;
let eraser: InProcessErasureRunner;
let tableName: string;

beforeAll(async () => {
  ({ tableName } = await useFreshTable({
    CLICKSTREAM_BATCH_SHARDS: '2',
    EXPORT_DIR: mkdtempSync(join(tmpdir(), 'erasure-exports-')),
    CLICKSTREAM_ERASURE_KEY: KEY,
  }));
  resetErasureKey();
  exports = inProcessExportRunner({ retryDelayMs: 5 });
  setExportRunner(exports);
  eraser = inProcessErasureRunner({ settleMs: 300, sweepDelayMs: 600 });
  api = await Api.start();
}, 60_000);

afterAll(async () => {
  eraser?.stop();
  setExportRunner(undefined);
  await api?.close();
});

async function scanAll(): Promise<Record<string, any>[]> {
  const items: Record<string, any>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await documentClient().send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

const create = async (id: string, userId: string | null) => {
  const res = await api.post('/session', sessionBody(id, { user_id: userId }));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
};
const push = (id: string, eventIds: string[]) =>
  api.post('/session/events', { session_id: id, events: eventIds.map((e) => ({ event_id: e, object_id: 'o1' })) });
const release = async (releaseId: string): Promise<string> => {
  const res = await api.post('/internal/batch/release', { release_id: releaseId });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.batch_id as string;
};
async function allPages(batchId: string): Promise<string[]> {
  const ids: string[] = [];
  let after = 0;
  for (;;) {
    const page = await api.get('/internal/batch/sessions', {
      batch_id: batchId,
      after_number: after,
      limit: 1000,
      include_irrelevant: true,
    });
    expect(page.status).toBe(200);
    ids.push(...page.body.sessions.map((s: { session_id: string }) => s.session_id));
    if (page.body.last_number === null) return ids;
    after = page.body.last_number;
  }
}
async function erase(userId: string, requestId: string) {
  const res = await api.post('/internal/users/erase', { user_id: userId, request_id: requestId });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}
/** Items the erasure of these sessions must have removed: their partitions and their memberships. */
const leftOf = (items: Record<string, any>[], sessionIds: string[]) =>
  items.filter((i) =>
    sessionIds.some((id) => i.pk === `SESSION#${id}` || (String(i.pk).includes('#SHARD#') && i.sessionId === id)),
  );
/** Event items whose session item is gone: orphans. */
function orphans(items: Record<string, any>[]) {
  const sessions = new Set(items.filter((i) => i.sk === 'SESSION').map((i) => i.pk));
  return items.filter((i) => String(i.sk).startsWith('EVENT#') && !sessions.has(i.pk));
}

describe('erasing a user', () => {
  it('erases every session of the user, in the collecting batch and in two released batches, with events and memberships', async () => {
    await create('alice-1', 'alice');
    await create('alice-2', 'alice');
    await create('bob-1', 'bob');
    await create('anon-1', null);
    for (const id of ['alice-1', 'alice-2', 'bob-1', 'anon-1'])
      expect((await push(id, [`${id}-e1`, `${id}-e2`])).status).toBe(200);
    const batch1 = await release('r1');
    await create('alice-3', 'alice');
    await create('bob-2', 'bob');
    await push('alice-3', ['e1', 'e2']);
    await push('bob-2', ['e1']);
    const batch2 = await release('r2');
    await create('alice-4', 'alice');
    await create('bob-3', 'bob');
    await push('alice-4', ['e1', 'e2', 'e3']);
    // An export of batch 1 written before the erasure.
    expect((await api.post('/internal/batch/export', { batch_id: batch1, export_id: 'before' })).status).toBe(202);
    await exports.settled('before');
    expect((await api.get('/internal/batch/export', { export_id: 'before' })).body.sessions).toBe(4);

    const accepted = await erase('alice', 'q1');
    expect(accepted).toMatchObject({
      request_id: 'q1',
      state: 'pending',
      user_id_hmac: hmacOf('alice'),
      started_at: null,
      finished_at: null,
    });
    await eraser.settled();
    const receipt = (await api.get('/internal/users/erase', { request_id: 'q1' })).body;
    expect(receipt).toEqual({
      request_id: 'q1',
      state: 'done',
      user_id_hmac: hmacOf('alice'),
      accepted_at: accepted.accepted_at,
      started_at: expect.any(Number),
      finished_at: expect.any(Number),
      sessions_erased: 4,
      events_erased: 2 + 2 + 2 + 3,
      batch_memberships_erased: 4,
    });
    expect(receipt.started_at).toBeGreaterThanOrEqual(receipt.accepted_at);
    expect(receipt.finished_at).toBeGreaterThanOrEqual(receipt.started_at);
    expect(JSON.stringify(receipt)).not.toContain('alice');

    const alice = ['alice-1', 'alice-2', 'alice-3', 'alice-4'];
    for (const id of alice) expect((await api.get('/session', { session_id: id })).status).toBe(404);
    // Other users' data is untouched.
    for (const [id, events] of [
      ['bob-1', 2],
      ['bob-2', 1],
      ['bob-3', 0],
      ['anon-1', 2],
    ] as const) {
      const s = await api.get('/session', { session_id: id });
      expect(s.status).toBe(200);
      expect(s.body.events_count).toBe(events);
    }
    // Pages and counts: session_count still counts what the batch received, erased_count what left it.
    expect((await allPages(batch1)).sort()).toEqual(['anon-1', 'bob-1']);
    expect(await allPages(batch2)).toEqual(['bob-2']);
    expect((await api.get('/internal/batch', { batch_id: batch1 })).body).toMatchObject({
      session_count: 4,
      erased_count: 2,
    });
    const b2 = (await api.get('/internal/batch', { batch_id: batch2 })).body;
    expect(b2).toMatchObject({ session_count: 2, erased_count: 1 });
    expect(b2.ranges.reduce((n: number, r: { session_count: number }) => n + r.session_count, 0)).toBe(2);
    const collecting = (await api.get('/internal/batch')).body;
    expect(collecting).toMatchObject({ status: 'collecting', session_count: 2, erased_count: 1 });
    // Released after the erasure: its count still counts the erased session, and the pages leave it out.
    const third = await api.post('/internal/batch/release', { release_id: 'after-erasure' });
    expect(third.body).toMatchObject({ batch_id: collecting.batch_id, session_count: 2 });
    expect((await api.get('/internal/batch', { batch_id: collecting.batch_id })).body).toMatchObject({
      status: 'released',
      session_count: 2,
      erased_count: 1,
    });
    expect((await allPages(collecting.batch_id)).length).toBe(1);
    const listed = (await api.get('/internal/batches')).body.batches;
    expect(listed.map((b: { erased_count?: number }) => b.erased_count)).toEqual([undefined, 1, 1, 2]);
    // The export written before is marked; a new export leaves the erased sessions out.
    expect((await api.get('/internal/batch/export', { export_id: 'before' })).body).toMatchObject({
      state: 'succeeded',
      contains_erased_sessions: true,
    });
    expect((await api.post('/internal/batch/export', { batch_id: batch1, export_id: 'after' })).status).toBe(202);
    await exports.settled('after');
    const after = (await api.get('/internal/batch/export', { export_id: 'after' })).body;
    expect(after).toMatchObject({ state: 'succeeded', sessions: 2 });
    expect(after.contains_erased_sessions).toBeUndefined();
    const read = await readExportFolder(after.location);
    expect(read.lines.map((l) => l.session_id).sort()).toEqual(['anon-1', 'bob-1']);

    // A full Scan: nothing with that user_id, nothing of those sessions; the user id nowhere in clear.
    const items = await scanAll();
    expect(leftOf(items, alice)).toEqual([]);
    expect(items.filter((i) => String(i.content ?? '').includes('"user_id":"alice"'))).toEqual([]);
    expect(items.filter((i) => JSON.stringify(i).includes('alice'))).toEqual([]);
    expect(orphans(items)).toEqual([]);
    // Nothing of the erasure's work is left but the receipt.
    expect(items.filter((i) => String(i.pk).startsWith('ERASURE')).map((i) => `${i.pk} ${i.sk}`)).toEqual([
      'ERASURE#q1 REQUEST',
    ]);
  }, 60_000);

  it('the same request_id names the same request: repeats and concurrent calls do the work once and answer the same', async () => {
    await create('carol-1', 'carol');
    await create('carol-2', 'carol');
    await push('carol-1', ['e1']);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => api.post('/internal/users/erase', { user_id: 'carol', request_id: 'q-carol' })),
    );
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202, 202]);
    expect(new Set(answers.map((a) => a.body.accepted_at)).size).toBe(1);
    await eraser.settled();
    const done = (await api.get('/internal/users/erase', { request_id: 'q-carol' })).body;
    expect(done).toMatchObject({ state: 'done', sessions_erased: 2, events_erased: 1, batch_memberships_erased: 2 });
    // A repeat after it is done answers the receipt and starts nothing.
    const again = await api.post('/internal/users/erase', { user_id: 'carol', request_id: 'q-carol' });
    expect(again).toMatchObject({ status: 202, body: done });
    await eraser.settled();
    expect((await api.get('/internal/users/erase', { request_id: 'q-carol' })).body).toEqual(done);
    // The same request_id for another user: 409, and nothing of that user is touched.
    await create('dan-1', 'dan');
    const other = await api.post('/internal/users/erase', { user_id: 'dan', request_id: 'q-carol' });
    expect(other.status).toBe(409);
    expect(other.body.detail).toBe('Erasure request with id=q-carol already exists for another user');
    await eraser.settled();
    expect((await api.get('/session', { session_id: 'dan-1' })).status).toBe(200);
    expect((await api.get('/internal/users/erase', { request_id: 'q-carol' })).body).toEqual(done);
  }, 60_000);

  it('a session created for the user after the request was accepted is new data and is kept', async () => {
    await create('erin-1', 'erin');
    await erase('erin', 'q-erin');
    await create('erin-2', 'erin');
    await push('erin-2', ['e1']);
    await eraser.settled();
    expect((await api.get('/session', { session_id: 'erin-1' })).status).toBe(404);
    const kept = await api.get('/session', { session_id: 'erin-2' });
    expect(kept.status).toBe(200);
    expect(kept.body.events_count).toBe(1);
    expect((await api.get('/internal/users/erase', { request_id: 'q-erin' })).body).toMatchObject({
      state: 'done',
      sessions_erased: 1,
    });
  }, 60_000);

  it('an event written by a push that read the session before it was deleted does not survive (the second sweep)', async () => {
    await create('fay-1', 'fay');
    await push('fay-1', ['e1']);
    const before = Date.now(); // the late push's receipt time: it started before the erasure
    await erase('fay', 'q-fay');
    // Wait until the session is gone (the pass has erased it), then write as a stale push would.
    for (let i = 0; (await api.get('/session', { session_id: 'fay-1' })).status !== 404; i++) {
      expect(i).toBeLessThan(200);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await api.get('/internal/users/erase', { request_id: 'q-fay' })).body.state).toBe('running');
    const late = await putEventOnce({
      sessionId: 'fay-1',
      eventId: 'late',
      content: { object_id: 'o1', event_type: 'click', meta: null },
      createdAt: before,
      createdAtAuto: true,
      receivedAt: before,
    });
    expect(late.stored).toBe(true);
    await eraser.settled();
    expect(leftOf(await scanAll(), ['fay-1'])).toEqual([]);
    expect((await api.get('/internal/users/erase', { request_id: 'q-fay' })).body).toMatchObject({
      state: 'done',
      sessions_erased: 1,
      events_erased: 2,
    });
  }, 60_000);

  it('pushes, creates and a release running while the erasure runs leave nothing of an erased session behind', async () => {
    const users = ['gus', 'hal'];
    for (const u of users) for (let i = 1; i <= 6; i++) await create(`${u}-${i}`, u);
    let running = true;
    let n = 0;
    // Clients keep pushing to every session of the users and creating new ones while the erasures run.
    const clients = Array.from({ length: 4 }, async (_, c) => {
      while (running) {
        const u = users[n % 2]!;
        const k = n++;
        await push(`${u}-${(k % 6) + 1}`, [`c${c}-${k}`]);
        if (k % 5 === 0) await api.post('/session', sessionBody(`${u}-new-${k}`, { user_id: u }));
      }
    });
    await new Promise((r) => setTimeout(r, 100));
    const accepted = await Promise.all(users.map((u) => erase(u, `q-${u}`)));
    const releasing = (async () => {
      await new Promise((r) => setTimeout(r, 350)); // while the pass scans and erases
      await api.post('/internal/batch/release', { release_id: 'during' });
    })();
    await new Promise((r) => setTimeout(r, 1200));
    running = false;
    await Promise.all([...clients, releasing]);
    await eraser.settled();

    const items = await scanAll();
    expect(orphans(items)).toEqual([]);
    const acceptedAt = Math.min(...accepted.map((a) => a.accepted_at as number));
    const survivors = items.filter(
      (i) => i.sk === 'SESSION' && users.some((u) => String(i.sessionId).startsWith(`${u}-`)),
    );
    // Every session of the users received before its request was accepted is gone, with every item of it.
    expect(survivors.filter((s) => s.receivedAt <= acceptedAt)).toEqual([]);
    const erased = [...users.flatMap((u) => Array.from({ length: 6 }, (_, i) => `${u}-${i + 1}`))];
    expect(leftOf(items, erased)).toEqual([]);
    for (const id of erased) expect((await api.get('/session', { session_id: id })).status).toBe(404);
    // No batch, released during the erasure or before, lists an erased session.
    const batches = (await api.get('/internal/batches')).body.batches as { batch_id: string; status: string }[];
    for (const b of batches.filter((x) => x.status === 'released')) {
      const listed = await allPages(b.batch_id);
      expect(listed.filter((id) => erased.includes(id))).toEqual([]);
    }
    for (const u of users) {
      const r = (await api.get('/internal/users/erase', { request_id: `q-${u}` })).body;
      expect(r.state).toBe('done');
      expect(r.sessions_erased).toBeGreaterThanOrEqual(6);
    }
  }, 60_000);
});
