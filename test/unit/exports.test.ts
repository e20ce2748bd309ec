/**
 * Unit tests of the export's calls with mocked AWS clients: the exact S3 requests (manifest, a small
 * file), the Step Functions start (name from the export_id, input from the record, repeated starts
 * tolerated), the export starter's handling of stream records, the export records' conditional
 * writes, and a failure description.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { ExportRecord } from '../../functions/domain/types.js';
import { handler as finishHandler } from '../../functions/handlers/finish-export.js';
import { handler as starterHandler } from '../../functions/handlers/export-starter.js';
import { executionNameOf, setSfnClient, stepFunctionsRunner } from '../../functions/orchestration/step-functions.js';
import { DomainError } from '../../functions/shared/errors.js';
import { resetConfig } from '../../functions/shared/config.js';
import { documentClient, setDocumentClient } from '../../functions/storage/client.js';
import { exportFiles, setS3Client } from '../../functions/storage/export-files.js';
import { locationOf } from '../../functions/storage/export-location.js';
import { createExport, endExport } from '../../functions/storage/export-store.js';

const s3 = mockClient(S3Client);
const sfn = mockClient(SFNClient);
const ddb = mockClient(DynamoDBDocumentClient);

beforeEach(() => {
  process.env.TABLE_NAME = 'unit-table';
  delete process.env.DYNAMODB_ENDPOINT;
  process.env.EXPORT_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:exports';
  resetConfig();
  setDocumentClient(undefined);
  documentClient();
  setS3Client(new S3Client({ region: 'us-east-1' }));
  setSfnClient(new SFNClient({ region: 'us-east-1' }));
  s3.reset();
  sfn.reset();
  ddb.reset();
});
afterAll(() => {
  setS3Client(undefined);
  setSfnClient(undefined);
  delete process.env.EXPORT_STATE_MACHINE_ARN;
});

const target = { kind: 's3', bucket: 'exports-bucket' } as const;

describe('S3 output', () => {
  it('writes the manifest with one PutObject: bucket, key, body and content type exactly', async () => {
    s3.on(PutObjectCommand).resolves({});
    await exportFiles(target).put('exports/b1/e1/manifest.json', '{"schema_version":1}\n', 'application/json');
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input)).toEqual([
      {
        Bucket: 'exports-bucket',
        Key: 'exports/b1/e1/manifest.json',
        Body: '{"schema_version":1}\n',
        ContentType: 'application/json',
      },
    ]);
  });

  it('streams a small file as one PutObject of exactly the bytes written', async () => {
    s3.on(PutObjectCommand).resolves({});
    const sink = exportFiles(target).create('exports/b1/e1/sessions-s0000-p00000.jsonl.gz', 'application/gzip');
    sink.stream.end(Buffer.from('hello'));
    await sink.done();
    const calls = s3.commandCalls(PutObjectCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect({ Bucket: input.Bucket, Key: input.Key, ContentType: input.ContentType }).toEqual({
      Bucket: 'exports-bucket',
      Key: 'exports/b1/e1/sessions-s0000-p00000.jsonl.gz',
      ContentType: 'application/gzip',
    });
    expect(Buffer.from(input.Body as Uint8Array).toString()).toBe('hello');
  });

  it('a failed upload fails the file (done rejects), it never passes as written', async () => {
    s3.on(PutObjectCommand).rejects(new Error('AccessDenied'));
    const sink = exportFiles(target).create('exports/b1/e1/x.jsonl.gz', 'application/gzip');
    sink.stream.end(Buffer.from('x'));
    await expect(sink.done()).rejects.toThrow('AccessDenied');
  });

  it('names locations as s3:// and file:// folder URLs', () => {
    expect(locationOf('exports/b1/e1/', target)).toBe('s3://exports-bucket/exports/b1/e1/');
    expect(locationOf('exports/b1/e1/', { kind: 'folder', root: '/srv/data/.exports' })).toBe(
      'file:///srv/data/.exports/exports/b1/e1/',
    );
  });
});

describe('Step Functions runner', () => {
  const input = {
    exportId: 'exp-1',
    batchId: 'b1',
    format: 'sessions' as const,
    ranges: [{ shard: 0, after: 0, until: 2 ** 40 - 1, sessions: 3 }],
  };

  it('starts one execution named after the export_id, with the export as its input', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:x', startDate: new Date() });
    await stepFunctionsRunner().start(input);
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
      {
        stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:exports',
        name: createHash('sha256').update('exp-1').digest('hex'),
        input: JSON.stringify(input),
      },
    ]);
    expect(executionNameOf('exp-1')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('an execution of that name that already ended starts nothing and is no error', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    await expect(stepFunctionsRunner().start(input)).resolves.toBeUndefined();
  });

  it('throttling after the SDK retries is a 503-kind domain error', async () => {
    const err = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    sfn.on(StartExecutionCommand).rejects(err);
    const caught = await stepFunctionsRunner()
      .start(input)
      .catch((e: unknown) => e);
    expect(caught).toBeInstanceOf(DomainError);
    expect((caught as DomainError).kind).toBe('unavailable');
  });
});

/** A running export as stored (the starter's tests vary its format and ranges). */
const exportRecord: ExportRecord = {
  exportId: 'exp-1',
  batchId: 'b1',
  format: 'sessions',
  state: 'running',
  location: 's3://exports-bucket/exports/b1/exp-1/',
  createdAt: 1_700_000_000_000,
  ranges: [{ shard: 0, after: 0, until: 2 ** 40 - 1, sessions: 3 }],
};

describe('export starter (the table stream)', () => {
  const record: ExportRecord = {
    ...exportRecord,
    format: 'pairs',
    ranges: [{ shard: 2, after: 5, until: 9, sessions: 4 }],
  };
  /** A stream record as Lambda delivers it: the item's keys and new image in DynamoDB JSON. */
  const streamRecord = (eventName: 'INSERT' | 'MODIFY', item: Record<string, unknown>, seq: string) =>
    ({
      eventName,
      dynamodb: {
        Keys: marshall({ pk: item.pk, sk: item.sk }),
        NewImage: marshall(item, { removeUndefinedValues: true }),
        SequenceNumber: seq,
      },
    }) as any;
  const exportItem = (r: ExportRecord) => ({ pk: `EXPORT#${r.exportId}`, sk: 'EXPORT', ...r });
  const expectedStart = (r: ExportRecord) => ({
    stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:exports',
    name: createHash('sha256').update(r.exportId).digest('hex'),
    input: JSON.stringify({ exportId: r.exportId, batchId: r.batchId, format: r.format, ranges: r.ranges }),
  });

  it('starts the execution of each inserted export record, from the record alone', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:x', startDate: new Date() });
    const second = { ...record, exportId: 'exp-2' };
    const out = await starterHandler({
      Records: [
        streamRecord('INSERT', exportItem(record), '1'),
        streamRecord('INSERT', { pk: 'BATCH#b1', sk: 'BATCH', batchId: 'b1' }, '2'),
        streamRecord('MODIFY', exportItem({ ...record, exportId: 'exp-3' }), '3'),
        streamRecord('INSERT', exportItem(second), '4'),
      ],
    });
    expect(out).toEqual({ batchItemFailures: [] });
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
      expectedStart(record),
      expectedStart(second),
    ]);
  });

  it('a record delivered again (the execution exists) is no failure; an export that has ended starts nothing', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    const ended = { ...record, exportId: 'exp-9', state: 'succeeded' as const };
    const out = await starterHandler({
      Records: [streamRecord('INSERT', exportItem(record), '1'), streamRecord('INSERT', exportItem(ended), '2')],
    });
    expect(out).toEqual({ batchItemFailures: [] });
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual([
      executionNameOf('exp-1'),
    ]);
  });

  it('a failed start reports its record as the first failure, and starts none after it (the stream retries from it)', async () => {
    const err = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    sfn.on(StartExecutionCommand).resolvesOnce({ executionArn: 'arn:x', startDate: new Date() }).rejects(err);
    const out = await starterHandler({
      Records: [
        streamRecord('INSERT', exportItem(record), '1'),
        streamRecord('INSERT', exportItem({ ...record, exportId: 'exp-2' }), '2'),
        streamRecord('INSERT', exportItem({ ...record, exportId: 'exp-3' }), '3'),
      ],
    });
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: '2' }] });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(2);
  });
});

describe('export records', () => {
  const record = exportRecord;

  it('records an export with a conditional put in its own partition', async () => {
    ddb.on(PutCommand).resolves({});
    expect(await createExport(record)).toEqual({ created: true });
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input).toEqual({
      TableName: 'unit-table',
      Item: { pk: 'EXPORT#exp-1', sk: 'EXPORT', ...record },
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('a second create answers the stored export (from the failed condition, no extra read)', async () => {
    const stored = { ...record, format: 'pairs' };
    ddb.on(PutCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'failed',
        $metadata: {},
        Item: marshall({ pk: 'EXPORT#exp-1', sk: 'EXPORT', ...stored }),
      }),
    );
    expect(await createExport(record)).toEqual({ created: false, existing: stored });
  });

  it('ends an export only while it runs', async () => {
    ddb
      .on(UpdateCommand)
      .resolvesOnce({})
      .rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {} }));
    expect(await endExport('exp-1', { state: 'failed', error: 'boom', now: 5 })).toBe(true);
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input).toEqual({
      TableName: 'unit-table',
      Key: { pk: 'EXPORT#exp-1', sk: 'EXPORT' },
      UpdateExpression: 'SET #state = :state, finishedAt = :now, #error = :error',
      ConditionExpression: '#state = :running',
      ExpressionAttributeNames: { '#state': 'state', '#error': 'error' },
      ExpressionAttributeValues: { ':state': 'failed', ':running': 'running', ':now': 5, ':error': 'boom' },
    });
    expect(await endExport('exp-1', { state: 'failed', error: 'boom', now: 6 })).toBe(false);
  });

  it("the finishing task records Step Functions' error and the Lambda's message as the export's error", async () => {
    ddb.on(UpdateCommand).resolves({});
    await finishHandler({
      exportId: 'exp-1',
      failure: { Error: 'Error', Cause: JSON.stringify({ errorMessage: 'worker killed', errorType: 'Error' }) },
    });
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input.ExpressionAttributeValues![':error']).toBe(
      'Error: worker killed',
    );
  });
});
