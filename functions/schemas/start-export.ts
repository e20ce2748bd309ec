/** start_export's request body (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { EXPORT_FORMATS, exportId, idSchema, withDefault } from './shared.js';

export const startExportBody = z.object({
  batch_id: idSchema,
  export_id: exportId(),
  format: withDefault(z.enum(EXPORT_FORMATS), 'sessions' as const),
});
