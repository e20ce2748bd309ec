/**
 * list_batches against DynamoDB Local: every batch, newest first, found however the release that
 * made it ended, with the same status and count as get_batch; the cursor pages exactly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { getBatch, listBatches, releaseBatch, type BatchInfo } from '../../functions/domain/batches.js';
import { createSession } from '../../functions/domain/sessions.js';
import { claimRelease, getRegistry } from '../../functions/storage/batch-store.js';
import type { BatchLogPosition } from '../../functions/storage/batch-store.js';
import { useFreshTable } from '../support/table.js';

const create = (id: string) =>
  createSession({
    sessionId: id,
    content: {
      search_query: id,
      search_results: [],
      search_meta: null,
      payload_filter: null,
      sort_by: null,
      user_id: null,
    },
  });

async function everyBatch(limit: number): Promise<BatchInfo[]> {
  const out: BatchInfo[] = [];
  let before: BatchLogPosition | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = await listBatches(limit, before);
    expect(page.batches.length).toBeLessThanOrEqual(limit);
    out.push(...page.batches);
    if (!page.next) return out;
    expect(page.batches).toHaveLength(limit); // only the last page is short
    before = page.next;
  }
  throw new Error('paging did not end');
}

describe('list_batches', () => {
  beforeAll(async () => {
    await useFreshTable({ CLICKSTREAM_BATCH_SHARDS: '3' });
  });

  it('is empty before the first session', async () => {
    expect(await listBatches(10)).toEqual({ batches: [] });
  });

  it('lists every batch newest first, with the counts get_batch reports, at every page size', async () => {
    const released: string[] = [];
    for (let r = 0; r < 7; r++) {
      for (let i = 0; i <= r; i++) await create(`list-${r}-${i}`);
      released.push((await releaseBatch(`list-release-${r}`)).batchId);
    }
    await create('list-collecting');
    const collecting = await getBatch();

    for (const limit of [1, 2, 3, 7, 8, 100]) {
      const all = await everyBatch(limit);
      expect(all.map((b) => b.batchId)).toEqual([collecting.batchId, ...released.slice().reverse()]);
      for (const b of all) {
        const { ranges: _ranges, ...described } = await getBatch(b.batchId); // ranges are get_batch's alone
        expect(b).toEqual(described);
      }
      expect(all[0]).toMatchObject({ status: 'collecting', sessionCount: 1 });
      expect(all.slice(1).map((b) => b.sessionCount)).toEqual([7, 6, 5, 4, 3, 2, 1]);
      expect(all.slice(1).every((b) => b.status === 'released' && b.releaseId !== undefined)).toBe(true);
    }
  });

  it('lists a batch whose release was interrupted after its claim, and shows it released once finished', async () => {
    await create('interrupted-1'); // the batch also holds 'list-collecting' from the test before
    const registry = (await getRegistry())!;
    const interrupted = registry.collectingBatchId;
    // A release that claimed and then crashed: nobody retries its release_id.
    expect(
      await claimRelease({ releaseId: 'crashed', batchId: interrupted, nextBatchId: 'after-crash', now: Date.now() }),
    ).toBe(true);
    const during = await everyBatch(50);
    expect(during[0]).toMatchObject({ batchId: 'after-crash', status: 'collecting' });
    expect(during[1]).toMatchObject({ batchId: interrupted, status: 'collecting', sessionCount: 2 });

    // Another caller's release finishes the interrupted one first, then finds nothing of its own to
    // release: its answer does not name the batch, the list does.
    await expect(releaseBatch('someone-else')).rejects.toMatchObject({ kind: 'not_found' });
    const after = await everyBatch(50);
    const found = after.find((b) => b.batchId === interrupted)!;
    expect(found).toMatchObject({ status: 'released', releaseId: 'crashed', sessionCount: 2 });
  });
});
