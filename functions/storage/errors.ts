import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { backoff } from '../shared/concurrency.js';
import { unavailable } from '../shared/errors.js';

const TRANSIENT_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
  'TransactionInProgressException',
  'TimeoutError',
  'AbortError',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ECONNABORTED',
]);

/** True for failures that outlasted the SDK's retries but may go away: throttling, 5xx, network. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (TRANSIENT_NAMES.has(e.name)) return true;
  if (e.code && TRANSIENT_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  if (e.$retryable) return true;
  return false;
}

/** Attempts at most of a write that meets an item held by an ongoing transaction. */
const CONFLICT_ATTEMPTS = 12;

export interface CallOptions {
  /**
   * For writes to an item that transactions also touch (registry, release, batch, member): a
   * transaction conflict (`TransactionConflictException`, or a transaction cancelled only by
   * `TransactionConflict`) is retried with backoff before it counts as transient.
   */
  retryConflicts?: boolean;
}

/**
 * THE way every storage module sends a command: a transient failure becomes the domain's
 * `unavailable`, others pass through (conditions are the caller's to read).
 */
export async function storageCall<T>(what: string, fn: () => Promise<T>, o: CallOptions = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (o.retryConflicts && attempt + 1 < CONFLICT_ATTEMPTS && isTransactionConflict(err)) {
        await backoff(attempt);
        continue;
      }
      if (isTransient(err)) throw unavailable(`Storage is unavailable (${what}); retry the request`);
      throw err;
    }
  }
}

/**
 * The write met an item held by another ongoing transaction: a single write fails with
 * `TransactionConflictException`, a transaction is cancelled with reason `TransactionConflict`
 * (and no failed condition, which a retry would only meet again).
 */
export function isTransactionConflict(err: unknown): boolean {
  if (err instanceof Error && err.name === 'TransactionConflictException') return true;
  const reasons = cancellationReasons(err);
  return (
    !!reasons &&
    reasons.some((r) => r.Code === 'TransactionConflict') &&
    !reasons.some((r) => r.Code === 'ConditionalCheckFailed')
  );
}

export const isConditionFailed = (err: unknown): boolean =>
  err instanceof Error && err.name === 'ConditionalCheckFailedException';

/** The item a failed condition returned (ReturnValuesOnConditionCheckFailure: ALL_OLD), unmarshalled. */
export function conditionFailedItem(err: unknown): Record<string, unknown> | undefined {
  const item = (err as { Item?: Record<string, AttributeValue> }).Item;
  return item ? unmarshall(item) : undefined;
}

export interface CancellationReason {
  Code?: string;
  Item?: Record<string, unknown>;
}

/** The per-item reasons of a cancelled transaction (items unmarshalled), or undefined if `err` is something else. */
export function cancellationReasons(err: unknown): CancellationReason[] | undefined {
  if (!(err instanceof Error) || err.name !== 'TransactionCanceledException') return undefined;
  const reasons = (err as { CancellationReasons?: { Code?: string; Item?: Record<string, AttributeValue> }[] })
    .CancellationReasons;
  return (reasons ?? []).map((r) => ({ Code: r.Code, Item: r.Item ? unmarshall(r.Item) : undefined }));
}
