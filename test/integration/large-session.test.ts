/**
 * A session holding 10,000 events (about 30 MB, written straight to the table) is read whole through
 * get_session's pages and through a batch page continued with get_session's cursor, by the real
 * handlers, while memory stays bounded: the heap stays below 512 MB, and what the reader retains
 * (measured after a full garbage collection at storage pages) stays far below the session's size,
 * because event reads are paged and only the events an answer returns are kept.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { releaseBatch } from '../../functions/domain/batches.js';
import { createSession } from '../../functions/domain/sessions.js';
import { handler as getBatchSessions } from '../../functions/handlers/get-batch-sessions.js';
import { handler as getSession } from '../../functions/handlers/get-session.js';
import { documentClient } from '../../functions/storage/client.js';
import { eventItem } from '../../functions/storage/items.js';
import { context, httpEvent } from '../support/events.js';
import { useFreshTable } from '../support/table.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const EVENTS = 10_000;
const META_BYTES = 3_000;
const MB = 1024 * 1024;

let tableName = '';

async function writeEventsDirectly(sessionId: string): Promise<void> {
  const now = Date.now();
  const items = Array.from({ length: EVENTS }, (_, i) =>
    eventItem({
      sessionId,
      eventId: `e${String(i).padStart(5, '0')}`,
      // created_at runs against the event ids, so that the order of the answer is not storage order
      content: { object_id: `o${i % 7}`, event_type: 'click', meta: { pad: String(i % 10).repeat(META_BYTES) } },
      createdAt: now - i,
      createdAtAuto: false,
      receivedAt: now,
    }),
  );
  for (let i = 0; i < items.length; i += 25) {
    let pending = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    while (pending.length > 0) {
      const out = await documentClient().send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
      pending = (out.UnprocessedItems?.[tableName] ?? []) as typeof pending;
    }
  }
}

/** Heap figures while `fn` runs: the peak of heapUsed, and the most retained after a full GC at storage pages. */
async function measureHeap<T>(fn: () => Promise<T>): Promise<{ result: T; peakMb: number; retainedMb: number }> {
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  let retained = 0;
  let pages = 0;
  const sample = () => (peak = Math.max(peak, process.memoryUsage().heapUsed));
  const timer = setInterval(sample, 5);
  const client = documentClient();
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      sample();
      if (++pages % 8 === 0) {
        gc();
        retained = Math.max(retained, process.memoryUsage().heapUsed - base);
      }
      return out;
    },
    { step: 'initialize', name: 'heapSampler' },
  );
  try {
    const result = await fn();
    return { result, peakMb: peak / MB, retainedMb: retained / MB };
  } finally {
    clearInterval(timer);
    client.middlewareStack.remove('heapSampler');
  }
}

const call = async (h: typeof getSession, query: Record<string, string>, path: string) => {
  const res = await h(httpEvent({ method: 'GET', path, query }), context);
  expect(res.statusCode).toBe(200);
  return JSON.parse(res.body!) as {
    events: { event_id: string; created_at: number }[];
    events_count: number;
    events_truncated: boolean;
    events_next_cursor?: string;
  };
};

/** Continues a session through get_session's cursor; returns every event id in answer order. */
async function readRest(
  sessionId: string,
  first: Awaited<ReturnType<typeof call>>,
  eventsLimit: number,
): Promise<string[]> {
  const ids = first.events.map((e) => e.event_id);
  let page = first;
  for (let guard = 0; page.events_truncated && guard < 1000; guard++) {
    expect(page.events_count).toBe(EVENTS);
    page = await call(
      getSession,
      { session_id: sessionId, events_limit: String(eventsLimit), events_after: page.events_next_cursor! },
      '/session',
    );
    ids.push(...page.events.map((e) => e.event_id));
  }
  expect(page.events_truncated).toBe(false);
  return ids;
}

const expectedOrder = Array.from({ length: EVENTS }, (_, i) => `e${String(EVENTS - 1 - i).padStart(5, '0')}`);

describe('a session of 10,000 events', () => {
  let batchId = '';

  beforeAll(async () => {
    ({ tableName } = await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '1' }));
    await createSession({
      sessionId: 'big',
      content: {
        search_query: 'q',
        search_results: [{ object_id: 'o1', rank: 1, meta: null }],
        search_meta: null,
        payload_filter: null,
        sort_by: null,
        user_id: null,
      },
    });
    await writeEventsDirectly('big');
    batchId = (await releaseBatch('big-release')).batchId;
  }, 600_000);

  it('is read whole through get_session pages with bounded memory', { timeout: 600_000 }, async () => {
    const { result, peakMb, retainedMb } = await measureHeap(async () => {
      const first = await call(getSession, { session_id: 'big', events_limit: '1000' }, '/session');
      return readRest('big', first, 1000);
    });
    expect(result).toEqual(expectedOrder);
    expect(peakMb).toBeLessThan(512);
    expect(retainedMb).toBeLessThan(20); // the session is about 30 MB of events
  });

  it(
    'is read whole through a batch page continued with get_session, with bounded memory',
    { timeout: 600_000 },
    async () => {
      const { result, peakMb, retainedMb } = await measureHeap(async () => {
        const page = await call(
          getBatchSessions as typeof getSession,
          { batch_id: batchId, limit: '10', events_limit: '1000' },
          '/internal/batch/sessions',
        );
        const session = (page as unknown as { sessions: Awaited<ReturnType<typeof call>>[] }).sessions[0]!;
        return readRest('big', session, 1000);
      });
      expect(result).toEqual(expectedOrder);
      expect(peakMb).toBeLessThan(512);
      expect(retainedMb).toBeLessThan(20);
    },
  );
});
