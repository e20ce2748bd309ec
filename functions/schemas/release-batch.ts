/** release_batch's request body (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { idSchema } from './shared.js';

export const releaseBody = z.object({ release_id: idSchema });
