import { releaseBatch } from '../domain/batches.js';
import { httpHandler, json } from '../http/handler.js';
import { releaseBody } from '../schemas/release-batch.js';

export const handler = httpHandler({ name: 'release_batch', body: releaseBody }, async ({ body, count }) => {
  const release = await releaseBatch(body.release_id);
  count({ released: true });
  return json(200, {
    release_id: release.releaseId,
    batch_id: release.batchId,
    released_at: release.releasedAt,
    session_count: release.sessionCount,
  });
});
