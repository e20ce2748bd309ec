/** The export's finishing task (Step Functions input; not HTTP). The shared pieces: ./shared.ts. */
import * as z from 'zod/mini';
import { exportId } from './shared.js';

export const finishExportInput = z.object({
  exportId: exportId(),
  /** Set by the state machine's Catch: the failure to record (Step Functions' Error and Cause). */
  failure: z.optional(z.object({ Error: z.optional(z.string()), Cause: z.optional(z.string()) })),
});
