/**
 * Export records: the export itself (`EXPORT#<id>` / `EXPORT`, its state and the ranges it reads) and
 * one record per written file (`EXPORT#<id>` / `FILE#<path>`), all in the export's own partition, so
 * that one query reads an export with its progress. Every key and expression of exports lives here.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { ExportFileEntry, ExportRecord, ExportTotals } from '../domain/types.js';
import { config } from '../shared/config.js';
import { documentClient, queryPages } from './client.js';
import { conditionFailedItem, isConditionFailed, storageCall } from './errors.js';
import type { Item } from './items.js';
import { EXPORT_FILE_PREFIX, itemOf, type Key, keys } from './keys.js';

const table = () => config().tableName;

function toExportRecord(i: Item): ExportRecord {
  return {
    exportId: i.exportId as string,
    batchId: i.batchId as string,
    format: i.format as ExportRecord['format'],
    state: i.state as ExportRecord['state'],
    location: i.location as string,
    createdAt: i.createdAt as number,
    ranges: i.ranges as ExportRecord['ranges'],
    ...(i.finishedAt !== undefined ? { finishedAt: i.finishedAt as number } : {}),
    ...(i.error !== undefined ? { error: i.error as string } : {}),
    ...(i.totals !== undefined ? { totals: i.totals as ExportTotals } : {}),
  };
}

/**
 * The export record in a table stream's image (DynamoDB JSON, as the stream delivers it), or
 * undefined when the image is of another item: the export starter's input.
 */
export function exportRecordOfImage(image: Record<string, AttributeValue> | undefined): ExportRecord | undefined {
  if (!image) return undefined;
  const item = unmarshall(image);
  return itemOf(item as Key)?.kind === 'export' ? toExportRecord(item) : undefined;
}

/**
 * Records a new export (state `running`) unless one with that id exists: a conditional put, so of
 * concurrent calls with one id exactly one creates it. Otherwise answers the stored export.
 */
export async function createExport(
  record: ExportRecord,
): Promise<{ created: true } | { created: false; existing: ExportRecord }> {
  try {
    await storageCall('create export', () =>
      documentClient().send(
        new PutCommand({
          TableName: table(),
          Item: { ...keys.export(record.exportId), ...record },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ),
    );
    return { created: true };
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const old = conditionFailedItem(err);
    if (!old) throw err;
    return { created: false, existing: toExportRecord(old) };
  }
}

export async function getExport(exportId: string): Promise<ExportRecord | undefined> {
  const out = await storageCall('get export', () =>
    documentClient().send(new GetCommand({ TableName: table(), Key: keys.export(exportId), ConsistentRead: true })),
  );
  return out.Item ? toExportRecord(out.Item) : undefined;
}

/** The export with the files written so far (one strongly consistent query of its partition). */
export async function getExportWithFiles(
  exportId: string,
): Promise<{ record?: ExportRecord; files: ExportFileEntry[] }> {
  let record: ExportRecord | undefined;
  const files: ExportFileEntry[] = [];
  const pages = queryPages(
    'query export',
    {
      TableName: table(),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.exportPartition(exportId) },
      ConsistentRead: true,
    },
    storageCall,
  );
  for await (const { items } of pages) {
    for (const i of items) {
      if ((i.sk as string).startsWith(EXPORT_FILE_PREFIX)) {
        files.push({
          path: i.path as string,
          sessions: i.sessions as number,
          events: i.events as number,
          bytes: i.bytes as number,
          sha256: i.sha256 as string,
        });
      } else record = toExportRecord(i);
    }
  }
  return { record, files };
}

/**
 * Records a file once it is stored. Its key is the file's path, which is a function of the worker's
 * input alone: a retried worker rewrites the same file and then this same record.
 */
export async function putExportFile(exportId: string, entry: ExportFileEntry): Promise<void> {
  await storageCall('record export file', () =>
    documentClient().send(
      new PutCommand({ TableName: table(), Item: { ...keys.exportFile(exportId, entry.path), ...entry } }),
    ),
  );
}

/** Ends a running export; false when it had already ended (a repeated finish changes nothing). */
export async function endExport(
  exportId: string,
  end: { state: 'succeeded'; totals: ExportTotals; now: number } | { state: 'failed'; error: string; now: number },
): Promise<boolean> {
  const values: Record<string, unknown> = { ':state': end.state, ':running': 'running', ':now': end.now };
  let set = '#state = :state, finishedAt = :now';
  if (end.state === 'succeeded') {
    set += ', totals = :totals';
    values[':totals'] = end.totals;
  } else {
    set += ', #error = :error';
    values[':error'] = end.error;
  }
  try {
    await storageCall('end export', () =>
      documentClient().send(
        new UpdateCommand({
          TableName: table(),
          Key: keys.export(exportId),
          UpdateExpression: `SET ${set}`,
          ConditionExpression: '#state = :running',
          ExpressionAttributeNames: { '#state': 'state', ...(end.state === 'failed' ? { '#error': 'error' } : {}) },
          ExpressionAttributeValues: values,
        }),
      ),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}
