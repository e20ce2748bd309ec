/**
 * How exports run, shared by the state machine (lib/export-machine.ts) and the in-process runner of
 * npm start (lib/local/export-runner.ts), so both behave alike. Pure data.
 */

/** Timeout of a range worker; it hands its cursor on HANDOFF_MARGIN_MS (functions/domain/export-worker.ts) before. */
export const EXPORT_WORKER_TIMEOUT_SECONDS = 900;
/** Timeout of the finishing task (manifest and state); it reads only the export's own records. */
export const EXPORT_FINISH_TIMEOUT_SECONDS = 120;

/**
 * Retries of a failed worker or finishing task (any error: a crash, a timeout, throttling): the
 * task is rerun with the same input, which rewrites the same file. Up to 5 retries (6 attempts in
 * all), waiting about 2, 4, 8, 16, 32 s (full jitter in AWS) before each.
 */
export const EXPORT_RETRY = { retries: 5, intervalSeconds: 2, backoffRate: 2, maxDelaySeconds: 60 } as const;

/**
 * Retries of a stream record whose start failed (the export starter; each attempt already includes
 * the SDK's own 4): then the record's description goes to the starter's dead-letter queue (alarm).
 */
export const EXPORT_START_RETRIES = 10;
