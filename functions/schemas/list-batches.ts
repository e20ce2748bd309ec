/** list_batches' query string (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { cursorParam, intParam } from './shared.js';

export const MAX_BATCH_LIST_LIMIT = 100;

export const listBatchesQuery = z.object({
  cursor: cursorParam('The next_cursor of the previous answer: the batches opened before the last one it listed'),
  limit: intParam(1, MAX_BATCH_LIST_LIMIT, 20),
});
