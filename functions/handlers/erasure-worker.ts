/**
 * The erasure worker (not an HTTP route): invoked by the stack's schedule, it works on the queued
 * erasure requests until nothing is due or its time nears its end; the pass's state is in the table,
 * so the next invocation goes on where this one stopped (functions/domain/erasure.ts).
 */
import type { Context } from 'aws-lambda';
import { AWS_ERASURE_POLICY, workOnErasures, type WorkStep } from '../domain/erasure.js';
import { log } from '../http/observability.js';

/** Stop scanning this long before the function's timeout: a page and its erasures finish in time. */
const MARGIN_MS = 120_000;

export const handler = async (_event: unknown, context: Context): Promise<{ step: WorkStep['kind'] }> => {
  const deadline = Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS;
  let step: WorkStep;
  do step = await workOnErasures(AWS_ERASURE_POLICY, deadline);
  while (step.kind === 'more' && Date.now() < deadline);
  log.info('erasure worker', { step: step.kind });
  return { step: step.kind };
};
