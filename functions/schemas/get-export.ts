/** get_export's query string (the shared pieces: ./shared.ts). */
import * as z from 'zod/mini';
import { exportId } from './shared.js';

export const getExportQuery = z.object({ export_id: exportId() });
