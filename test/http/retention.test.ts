/**
 * The retention setting end to end (the stack side is in test/cdk/operations.test.ts: TTL on `expiresAt`,
 * CLICKSTREAM_RETENTION_DAYS in every function). With retentionDays > 0, sessions, events and
 * batch memberships carry `expiresAt` (Unix seconds, receive time + retention); the control items
 * (batch registry, shard pointers, batch records, release records) never do, because expiring them
 * would break release idempotency and session numbering. With 0, no item carries it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemOf } from '../../functions/storage/keys.js';
import { scanAll } from '../robustness/support/storage.js';
import { Api, sessionBody } from '../support/http.js';
import { useFreshTable } from '../support/table.js';

type Item = Record<string, any>;

let api: Api;
beforeAll(async () => {
  api = await Api.start();
});
afterAll(() => api.close());

/** Creates, extends, marks and releases sessions through the API; returns every item of the table. */
async function scenario(retentionDays: number): Promise<{ items: Item[]; started: number; finished: number }> {
  const { endpoint, tableName } = await useFreshTable({ CLICKSTREAM_RETENTION_DAYS: String(retentionDays) });
  const started = Date.now();
  for (const id of ['s1', 's2']) expect((await api.post('/session', sessionBody(id))).status).toBe(200);
  const events = [
    { event_id: 'e1', object_id: 'o1' },
    { event_id: 'e2', object_id: 'o2' },
  ];
  expect((await api.post('/session/events', { session_id: 's1', events })).status).toBe(200);
  expect((await api.post('/session/irrelevant', { session_id: 's2' })).status).toBe(200);
  expect((await api.post('/internal/batch/release', { release_id: 'r1' })).status).toBe(200);
  expect((await api.post('/internal/batch/release', { release_id: 'r1' })).status).toBe(200); // idempotent retry
  expect((await api.post('/session', sessionBody('s3'))).status).toBe(200);
  const finished = Date.now();

  const items: Item[] = await scanAll(endpoint, tableName);
  return { items, started, finished };
}

/** The item's kind (functions/storage/keys.ts); the batch log's entries count with the registry, whose partition they share. */
const kindOf = (item: Item): string => {
  const { pk, sk } = item as { pk: string; sk: string };
  const kind = itemOf({ pk, sk })?.kind;
  return kind === 'batchLog' ? 'registry' : (kind ?? `unknown ${pk} ${sk}`);
};

describe('retentionDays > 0', () => {
  const days = 30;
  let result: Awaited<ReturnType<typeof scenario>>;
  beforeAll(async () => {
    result = await scenario(days);
  });

  it('writes every kind of item the scenario should produce', () => {
    const kinds = new Set(result.items.map(kindOf));
    expect([...kinds].sort()).toEqual(['batch', 'event', 'member', 'registry', 'release', 'session', 'shard']);
  });

  it('sessions, events and batch memberships expire retentionDays after they were received (Unix seconds)', () => {
    const data = result.items.filter((i) => ['session', 'event', 'member'].includes(kindOf(i)));
    expect(data.length).toBe(3 + 2 + 3); // s1..s3, e1..e2, one membership per session
    for (const item of data) {
      expect(typeof item.expiresAt, `${item.pk} ${item.sk}`).toBe('number');
      expect(item.expiresAt).toBeGreaterThanOrEqual(Math.floor(result.started / 1000) + days * 86_400);
      expect(item.expiresAt).toBeLessThanOrEqual(Math.ceil(result.finished / 1000) + days * 86_400);
      if (kindOf(item) !== 'member') expect(item.expiresAt).toBe(Math.floor(item.receivedAt / 1000) + days * 86_400);
    }
  });

  it('a session and its membership expire together; marking it irrelevant keeps its expiry', () => {
    const sessions = result.items.filter((i) => kindOf(i) === 'session');
    const members = result.items.filter((i) => kindOf(i) === 'member');
    for (const s of sessions) {
      const member = members.find((m) => m.sessionId === s.sessionId);
      expect(member?.expiresAt, s.sessionId).toBe(s.expiresAt);
    }
    expect(sessions.find((s) => s.sessionId === 's2')?.isIrrelevant).toBe(true);
  });

  it('control items never expire: registry, shard pointers, batches, releases', () => {
    const control = result.items.filter((i) => ['registry', 'shard', 'batch', 'release'].includes(kindOf(i)));
    expect(control.length).toBeGreaterThanOrEqual(4);
    for (const item of control) expect(item.expiresAt, `${item.pk} ${item.sk}`).toBeUndefined();
  });
});

describe('retentionDays = 0 (the default)', () => {
  it('no item carries expiresAt', async () => {
    const { items } = await scenario(0);
    expect(items.length).toBeGreaterThan(8);
    for (const item of items) expect(item.expiresAt, `${item.pk} ${item.sk}`).toBeUndefined();
  });
});
