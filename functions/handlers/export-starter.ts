/**
 * The export starter (not an HTTP route): the table's stream delivers each inserted export record
 * (the stack's event source mapping filters on them), and this starts its run on the export state
 * machine. Step Functions dedupes by execution name, so a record delivered twice starts one run.
 *
 * A record whose start fails is reported as the batch's first failure: Lambda retries the stream
 * from it (ReportBatchItemFailures), up to the mapping's retry limit, then sends its description to
 * the starter's dead-letter queue, which has an alarm (README, "Exports").
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { runRecordedExport } from '../domain/exports.js';
import { errorFields, log } from '../http/observability.js';
import { stepFunctionsRunner } from '../orchestration/step-functions.js';
import { exportRecordOfImage } from '../storage/export-store.js';

const runner = stepFunctionsRunner();

export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  let started = 0;
  for (const record of event.Records) {
    const image = record.dynamodb?.NewImage as Record<string, AttributeValue> | undefined;
    const exported = exportRecordOfImage(image);
    if (record.eventName !== 'INSERT' || !exported) continue;
    try {
      await runRecordedExport(exported, runner);
      started++;
    } catch (err) {
      log.error('export start failed', { exportId: exported.exportId, ...errorFields(err) });
      log.info('export starter', { started, failed: 1 });
      return { batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' }] };
    }
  }
  log.info('export starter', { started, failed: 0 });
  return { batchItemFailures: [] };
};
