/** get_batch's query string (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { idSchema, optional } from './shared.js';

export const getBatchQuery = z.object({ batch_id: optional(idSchema) });
