/**
 * The last task of the export state machine (not an HTTP route): writes the manifest and marks the
 * export succeeded, or - called from the state machine's Catch with the failure - marks it failed.
 */
import { finishExport } from '../domain/export-worker.js';
import { finishExportInput } from '../schemas/finish-export.js';

const MAX_ERROR_CHARS = 1000;

/** Step Functions' Error and Cause (for a Lambda error, Cause is JSON with errorMessage) as one line. */
function describeFailure(failure: { Error?: string; Cause?: string }): string {
  let cause = failure.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') cause = parsed.errorMessage;
  } catch {
    // not JSON: as it is
  }
  return (
    [failure.Error, cause]
      .filter((s) => s)
      .join(': ')
      .slice(0, MAX_ERROR_CHARS) || 'The export failed'
  );
}

export const handler = async (event: unknown): Promise<{ exportId: string }> => {
  const input = finishExportInput.parse(event);
  await finishExport({ exportId: input.exportId, ...(input.failure ? { error: describeFailure(input.failure) } : {}) });
  return { exportId: input.exportId };
};
