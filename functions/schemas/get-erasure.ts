/** get_erasure's query string (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { idSchema } from './shared.js';

export const getErasureQuery = z.object({ request_id: idSchema });
