/** mark_session_irrelevant's request body (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { idSchema } from './shared.js';

export const sessionIdBody = z.object({ session_id: idSchema });
