/** erase_user's request body (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { idSchema } from './shared.js';

/** `user_id`: as sessions carry it; `request_id`: the idempotency key (the same id always names the same request). */
export const eraseUserBody = z.object({ user_id: idSchema, request_id: idSchema });
