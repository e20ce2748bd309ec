import { getBatch } from '../domain/batches.js';
import { httpHandler, json } from '../http/handler.js';
import { getBatchQuery } from '../shared/schemas.js';

export const handler = httpHandler({ name: 'get_batch', query: getBatchQuery }, async ({ query }) => {
  const batch = await getBatch(query.batch_id);
  return json(200, {
    batch_id: batch.batchId,
    status: batch.status,
    created_at: batch.createdAt,
    ...(batch.releasedAt !== undefined ? { released_at: batch.releasedAt } : {}),
    ...(batch.releaseId !== undefined ? { release_id: batch.releaseId } : {}),
    session_count: batch.sessionCount,
    ...(batch.ranges
      ? {
          ranges: batch.ranges.map((r) => ({
            shard: r.shard,
            after_number: r.afterNumber,
            until_number: r.untilNumber,
            session_count: r.sessionCount,
          })),
        }
      : {}),
  });
});
