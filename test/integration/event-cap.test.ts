/**
 * The cap on events per session (CLICKSTREAM_MAX_EVENTS_PER_SESSION) against DynamoDB Local: at the
 * cap and past it, with duplicates and conflicts in the same request, and under concurrency. The
 * session's counter (on its membership item) must always equal the events stored once a request
 * has answered, and never let more than the cap in.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSession, type EventInput, pushEvents } from '../../functions/domain/sessions.js';
import { documentClient } from '../../functions/storage/client.js';
import { EVENT_PREFIX, keys } from '../../functions/storage/keys.js';
import { getSessionHead } from '../../functions/storage/session-store.js';
import { useFreshTable } from '../support/table.js';
import { emptyContent } from '../support/sessions.js';

const CAP = 20;
let tableName: string;

beforeAll(async () => {
  ({ tableName } = await useFreshTable({
    CLICKSTREAM_MAX_EVENTS_PER_SESSION: String(CAP),
    CLICKSTREAM_BATCH_SHARDS: '2',
  }));
});

const content = emptyContent();
const newSession = async (id: string) => {
  await createSession({ sessionId: id, content });
  return id;
};
const ev = (id: string, objectId = 'o'): EventInput => ({
  eventId: id,
  content: { object_id: objectId, event_type: 'click', meta: null },
});
const evs = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => ev(`${prefix}${from + i}`));

/** Event ids stored in the session's partition, read straight from the table. */
async function storedIds(sessionId: string): Promise<string[]> {
  const ids: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await documentClient().send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': keys.sessionPartition(sessionId), ':p': EVENT_PREFIX },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    ids.push(...(out.Items ?? []).map((i) => keys.eventIdOf(i.sk as string)));
    start = out.LastEvaluatedKey;
  } while (start);
  return ids.sort();
}

async function counter(sessionId: string): Promise<number> {
  const head = (await getSessionHead(sessionId))!;
  const out = await documentClient().send(
    new GetCommand({
      TableName: tableName,
      Key: keys.eventCounter(head.batchId, head.sessionNumber),
      ConsistentRead: true,
    }),
  );
  return (out.Item?.eventCount as number | undefined) ?? 0;
}

const statuses = (r: Awaited<ReturnType<typeof pushEvents>>) => r.results.map((x) => `${x.event_id}:${x.status}`);

describe('events per session are capped', () => {
  it('accepts up to the cap, rejects each event past it with a clear detail, and stores nothing more', async () => {
    const sid = await newSession('cap-1');
    const first = await pushEvents(sid, evs('e', 0, 15));
    expect(first.accepted).toBe(15);
    const second = await pushEvents(sid, evs('e', 15, 25));
    expect(second).toMatchObject({ accepted: 5, duplicates: 0, rejected: 5 });
    expect(statuses(second)).toEqual([
      ...['e15', 'e16', 'e17', 'e18', 'e19'].map((id) => `${id}:accepted`),
      ...['e20', 'e21', 'e22', 'e23', 'e24'].map((id) => `${id}:rejected`),
    ]);
    expect(second.results[5]!.detail).toBe(
      `Session ${sid} holds its maximum of ${CAP} events; the event was not stored`,
    );
    expect(await storedIds(sid)).toHaveLength(CAP);
    expect(await counter(sid)).toBe(CAP);

    // At the cap: a new event is rejected, nothing is written and the counter stays.
    const past = await pushEvents(sid, [ev('new-1')]);
    expect(statuses(past)).toEqual(['new-1:rejected']);
    expect(await storedIds(sid)).toHaveLength(CAP);
    expect(await counter(sid)).toBe(CAP);
  });

  it('at the cap, a retry of a stored event is a duplicate (or a conflict), never refused for the cap', async () => {
    const sid = await newSession('cap-2');
    await pushEvents(sid, evs('e', 0, CAP));
    const retry = await pushEvents(sid, [ev('e3'), ev('e4', 'other'), ev('e99'), ev('e3')]);
    expect(statuses(retry)).toEqual(['e3:duplicate', 'e4:conflict', 'e99:rejected', 'e3:duplicate']);
    expect(retry).toMatchObject({ accepted: 0, duplicates: 2, rejected: 2 });
    expect(await counter(sid)).toBe(CAP);
    expect(await storedIds(sid)).toHaveLength(CAP);
  });

  it('near the cap, the slots left go to new events, not to duplicates in the same request', async () => {
    const sid = await newSession('cap-3');
    await pushEvents(sid, evs('e', 0, CAP - 2));
    const r = await pushEvents(sid, [ev('e0'), ev('n1'), ev('e1'), ev('n2'), ev('n3')]);
    expect(statuses(r)).toEqual(['e0:duplicate', 'n1:accepted', 'e1:duplicate', 'n2:accepted', 'n3:rejected']);
    expect(await counter(sid)).toBe(CAP);
    expect(await storedIds(sid)).toHaveLength(CAP);
  });

  it('below the cap, slots reserved for duplicates and refused timestamps are given back', async () => {
    const sid = await newSession('cap-4');
    await pushEvents(sid, evs('e', 0, 5));
    const old = { ms: Date.now() - 10 * 86_400_000, raw: 1 };
    const r = await pushEvents(sid, [...evs('e', 0, 5), ...evs('n', 0, 3), { ...ev('late'), createdAt: old }]);
    expect(r).toMatchObject({ accepted: 3, duplicates: 5, rejected: 1 });
    expect(await counter(sid)).toBe(8);
    expect(await storedIds(sid)).toHaveLength(8);
  });

  it('concurrent pushes of new events never store more than the cap, and the counter matches', async () => {
    const sid = await newSession('cap-5');
    const pushes = await Promise.all(Array.from({ length: 10 }, (_, p) => pushEvents(sid, evs(`p${p}-`, 0, 5))));
    const accepted = pushes.reduce((n, r) => n + r.accepted, 0);
    const rejected = pushes.reduce((n, r) => n + r.rejected, 0);
    expect(accepted).toBe(CAP);
    expect(rejected).toBe(50 - CAP);
    expect(await storedIds(sid)).toHaveLength(CAP);
    expect(await counter(sid)).toBe(CAP);
  });

  it('concurrent retries of one push below the cap store each event once and report the rest duplicate', async () => {
    // 3 x 5 slots held at once stay within the cap (20): slots held by in-flight requests count.
    const sid = await newSession('cap-6');
    const pushes = await Promise.all(Array.from({ length: 3 }, () => pushEvents(sid, evs('r', 0, 5))));
    expect(pushes.reduce((n, r) => n + r.accepted, 0)).toBe(5);
    expect(pushes.reduce((n, r) => n + r.duplicates, 0)).toBe(10);
    expect(pushes.reduce((n, r) => n + r.rejected, 0)).toBe(0);
    expect(await storedIds(sid)).toHaveLength(5);
    expect(await counter(sid)).toBe(5);
  });
});
