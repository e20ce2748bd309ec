/**
 * Batch assignment and release against DynamoDB Local: concurrent creators and releases, the
 * release invariants of the contract, and exact paging of released batches.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { getBatch, getBatchSessions, releaseBatch, type ReleaseAnswer } from '../../functions/domain/batches.js';
import { createSession, getSession, markIrrelevant } from '../../functions/domain/sessions.js';
import { DomainError } from '../../functions/shared/errors.js';
import { getBatch as readBatchItem, queryMembers } from '../../functions/storage/batch-store.js';
import { content } from '../support/sessions.js';
import { useFreshTable } from '../support/table.js';
import { FaultProxy } from '../robustness/support/fault-proxy.js';

const create = (id: string, i = 0) => createSession({ sessionId: id, content: content(i) });

/** The membership items of a released batch, read straight from the table. */
async function membershipItems(batchId: string): Promise<string[]> {
  const batch = await readBatchItem(batchId);
  const ids: string[] = [];
  for (let shard = 0; shard < (batch?.shardCount ?? 0); shard++) {
    let after = 0;
    for (;;) {
      const page = await queryMembers(batchId, shard, after, 500);
      if (page.length === 0) break;
      ids.push(...page.map((m) => m.sessionId));
      after = page.at(-1)!.sessionNumber;
    }
  }
  return ids.sort();
}

/** Every session of a released batch, paging with `limit`. */
async function members(batchId: string, limit = 1000, includeIrrelevant = true): Promise<{ id: string; n: number }[]> {
  const out: { id: string; n: number }[] = [];
  let after = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    const page = await getBatchSessions({
      batchId,
      afterNumber: after,
      limit,
      includeIrrelevant,
      events: { limit: 1 },
    });
    if (page.lastNumber === null) {
      expect(page.sessions).toEqual([]);
      return out;
    }
    out.push(...page.sessions.map((s) => ({ id: s.session.sessionId, n: s.session.sessionNumber })));
    expect(page.lastNumber).toBe(page.sessions.at(-1)!.session.sessionNumber);
    after = page.lastNumber;
  }
  throw new Error('paging did not end');
}

async function expectDomainError(p: Promise<unknown>, kind: string, message?: string) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).kind).toBe(kind);
  if (message) expect((err as DomainError).message).toBe(message);
}

describe('release_batch', () => {
  beforeAll(async () => {
    await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '4' });
  });

  it('has no collecting batch before the first session, and 404s an empty release', async () => {
    await expectDomainError(releaseBatch('r-empty'), 'not_found', 'There is no collecting batch');
    await expectDomainError(getBatch(), 'not_found');
  });

  it('releases the collecting batch once per release_id and opens a new one', async () => {
    await create('a1');
    await create('a2');
    const collecting = await getBatch();
    expect(collecting).toMatchObject({ status: 'collecting', sessionCount: 2 });

    const first = await releaseBatch('r1');
    expect(first).toMatchObject({ releaseId: 'r1', batchId: collecting.batchId, sessionCount: 2 });
    expect(await releaseBatch('r1')).toEqual(first);

    const released = await getBatch(first.batchId);
    expect(released).toMatchObject({
      status: 'released',
      releaseId: 'r1',
      releasedAt: first.releasedAt,
      sessionCount: 2,
    });

    const next = await getBatch();
    expect(next.batchId).not.toBe(first.batchId);
    expect(next).toMatchObject({ status: 'collecting', sessionCount: 0 });
    await expectDomainError(releaseBatch('r2'), 'not_found', 'There is no collecting batch');

    await create('a3');
    const second = await releaseBatch('r2');
    expect(second).toMatchObject({ batchId: next.batchId, sessionCount: 1 });
    expect(await releaseBatch('r1')).toEqual(first); // an old release_id still answers the same
    expect((await getSession('a3', { limit: 10 })).session.batchId).toBe(second.batchId);
  });

  it('answers 404 and 409 for unknown and collecting batches', async () => {
    await expectDomainError(
      getBatchSessions({ batchId: 'nope', afterNumber: 0, limit: 10, includeIrrelevant: false, events: { limit: 10 } }),
      'not_found',
      'Batch with id=nope not found',
    );
    await create('collecting-1');
    const collecting = await getBatch();
    await expectDomainError(
      getBatchSessions({
        batchId: collecting.batchId,
        afterNumber: 0,
        limit: 10,
        includeIrrelevant: false,
        events: { limit: 10 },
      }),
      'conflict',
      `Batch with id=${collecting.batchId} is still collecting`,
    );
    await expectDomainError(getBatch('nope'), 'not_found', 'Batch with id=nope not found');
  });
});

describe('paging a released batch', () => {
  let batchId: string;
  const ids = Array.from({ length: 57 }, (_, i) => `p${i}`);
  const irrelevant = new Set(ids.filter((_, i) => i % 5 === 0));

  beforeAll(async () => {
    await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '4' });
    for (const [i, id] of ids.entries()) await create(id, i);
    for (const id of irrelevant) await markIrrelevant(id);
    batchId = (await releaseBatch('page-release')).batchId;
  });

  it.each([1, 2, 3, 7, 10, 56, 57, 1000])('visits every session exactly once with pages of %i', async (limit) => {
    const all = await members(batchId, limit);
    expect(all.map((m) => m.id).sort()).toEqual([...ids].sort());
    const numbers = all.map((m) => m.n);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it('leaves irrelevant sessions out unless asked, still visiting the rest exactly once', async () => {
    for (const limit of [1, 4, 10]) {
      const relevant = await members(batchId, limit, false);
      expect(relevant.map((m) => m.id).sort()).toEqual(ids.filter((id) => !irrelevant.has(id)).sort());
    }
  });

  it('starts after any number, also one that is not a session number', async () => {
    const all = await members(batchId, 1000);
    const pivot = all[20]!.n;
    const page = await getBatchSessions({
      batchId,
      afterNumber: pivot + 0,
      limit: 5,
      includeIrrelevant: true,
      events: { limit: 1 },
    });
    expect(page.sessions.map((s) => s.session.sessionId)).toEqual(all.slice(21, 26).map((m) => m.id));
    const beyond = await getBatchSessions({
      batchId,
      afterNumber: Number.MAX_SAFE_INTEGER,
      limit: 5,
      includeIrrelevant: true,
      events: { limit: 1 },
    });
    expect(beyond).toMatchObject({ lastNumber: null, sessions: [] });
  });
});

describe('concurrent creators and releases', () => {
  beforeAll(async () => {
    await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '4' });
  });

  it('keeps every session in exactly one batch and every released batch frozen', { timeout: 300_000 }, async () => {
    await concurrentCreatorsAndReleases();
  });
});

/**
 * DynamoDB's transaction conflicts, which DynamoDB Local does not apply, simulated by the fault proxy
 * in front of it: a transaction holds its items for 20 ms; any other transaction or single write that
 * touches a held item is refused as AWS refuses it. The same scenario, the same invariants.
 */
describe('concurrent creators and releases under the transaction conflict simulation', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await FaultProxy.start(inject('dynamoEndpoint'));
    await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '4', DYNAMODB_ENDPOINT: proxy.url });
    proxy.simulateConflicts({ holdMs: 20 });
  });
  afterAll(async () => {
    proxy.simulateConflicts(false);
    await proxy.close();
    await useFreshTable(); // the functions' client points at DynamoDB Local again
  });

  it('keeps every session in exactly one batch and every released batch frozen', { timeout: 400_000 }, async () => {
    const started = Date.now();
    const figures = await concurrentCreatorsAndReleases();
    console.log(
      `under the conflict simulation (hold 20 ms): ${figures.sessions} sessions by 8 creators, ${figures.releases} releases (${figures.calls} calls), ` +
        `${proxy.conflicts.transactions} transactions and ${proxy.conflicts.singleWrites} single writes refused for conflicts, ${proxy.conflicts.held} transactions held, ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });
});

/** 8 creators and a releaser at once (some releases called concurrently with one release_id), then every invariant. */
async function concurrentCreatorsAndReleases(): Promise<{ sessions: number; releases: number; calls: number }> {
  const CREATORS = 8;
  const PER_CREATOR = 260;
  const created: string[] = [];
  let creatorsDone = false;

  const creators = Array.from({ length: CREATORS }, async (_, c) => {
    for (let i = 0; i < PER_CREATOR; i++) {
      const id = `c${c}-${i}`;
      const { created: isNew } = await create(id, i);
      expect(isNew, `create ${id}`).toBe(true);
      created.push(id);
      if (i % 50 === 0) expect((await create(id, i)).created).toBe(false); // a retry changes nothing
    }
  });

  const answers = new Map<string, ReleaseAnswer>();
  const membershipAtRelease = new Map<string, string[]>();
  const releasedBatchIds = new Set<string>();
  let releaseCalls = 0;

  const releaseOnce = async (releaseId: string, parallel: number) => {
    const results = await Promise.allSettled(Array.from({ length: parallel }, () => releaseBatch(releaseId)));
    releaseCalls += parallel;
    const ok = results
      .filter((r): r is PromiseFulfilledResult<ReleaseAnswer> => r.status === 'fulfilled')
      .map((r) => r.value);
    for (const r of results) {
      if (r.status === 'rejected')
        expect((r.reason as DomainError).kind, `release ${releaseId}: ${String(r.reason)}`).toBe('not_found'); // nothing to release
    }
    if (ok.length === 0) return;
    // Calls that counted an empty batch before its first session arrived may answer 404 (nothing was
    // released for them); every call that succeeded got the one identical answer (README).
    if (ok.length < parallel) expect(answers.has(releaseId)).toBe(false);
    for (const answer of ok) expect(answer).toEqual(ok[0]); // identical answers
    const answer = ok[0]!;
    const earlier = answers.get(releaseId);
    if (earlier) {
      expect(answer).toEqual(earlier); // the same release_id later: the identical answer
      return;
    }
    expect(releasedBatchIds.has(answer.batchId)).toBe(false); // one release_id released one new batch
    releasedBatchIds.add(answer.batchId);
    answers.set(releaseId, answer);
    const now = await membershipItems(answer.batchId);
    expect(now).toHaveLength(answer.sessionCount);
    membershipAtRelease.set(answer.batchId, now);
  };

  const releaser = (async () => {
    for (let r = 0; !creatorsDone && r < 2_000; r++) {
      await releaseOnce(`rel-${r}`, r % 3 === 0 ? 4 : 2);
      if (r % 4 === 3) await releaseOnce(`rel-${r - 2}`, 2); // an earlier id, later again
    }
  })();

  await Promise.all(creators);
  creatorsDone = true;
  await releaser;
  await releaseOnce('final', 3);

  expect(created).toHaveLength(CREATORS * PER_CREATOR);
  expect(releaseCalls).toBeGreaterThanOrEqual(40);
  expect(answers.size).toBeGreaterThanOrEqual(21); // at least 20 while creators ran, plus the final one

  // Repeating every release later gives the identical answer and releases nothing new.
  for (const [id, answer] of answers) expect(await releaseBatch(id)).toEqual(answer);
  await expectDomainError(releaseBatch('after-everything'), 'not_found');

  // Every created session is in exactly one released batch, the one its record names.
  const home = new Map<string, string>();
  for (const batchId of releasedBatchIds) {
    const now = (await members(batchId, 97)).map((m) => m.id).sort(); // the paged API agrees
    expect(now).toEqual(membershipAtRelease.get(batchId)); // frozen since its release answered
    expect(await membershipItems(batchId)).toEqual(now);
    for (const id of now) {
      expect(home.has(id)).toBe(false);
      home.set(id, batchId);
    }
  }
  expect([...home.keys()].sort()).toEqual([...created].sort());
  for (const id of created.filter((_, i) => i % 97 === 0)) {
    expect((await getSession(id, { limit: 1 })).session.batchId).toBe(home.get(id));
  }
  return { sessions: created.length, releases: answers.size, calls: releaseCalls };
}
