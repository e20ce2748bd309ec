/** The export's range task (Step Functions input; not HTTP). The shared pieces: ./shared.ts. */
import * as z from 'zod/mini';
import { EXPORT_FORMATS, exportId, idSchema } from './shared.js';

const safeInt = z.int().check(z.gte(-1), z.lte(Number.MAX_SAFE_INTEGER));

export const exportRangeSchema = z.object({
  shard: z.int().check(z.gte(0)),
  after: safeInt,
  until: safeInt,
  sessions: safeInt,
});

export const rangeTaskSchema = z.object({
  exportId: exportId(),
  batchId: idSchema,
  format: z.enum(EXPORT_FORMATS),
  range: exportRangeSchema,
  cursor: safeInt,
  part: z.int().check(z.gte(0)),
});
