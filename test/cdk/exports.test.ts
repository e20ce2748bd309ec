/**
 * The export resources of the synthesized stack: the bucket (encryption, public access, TLS only,
 * lifecycle, removal), the state machine (map over the ranges with bounded concurrency, the loop per
 * range, the retry policy, the catch that marks the export failed), the export starter (the table's
 * stream, its filter, retries and dead-letter queue), the exact grants of every export function, the
 * failed-execution and failed-start alarms, and cdk-nag (synthesis throws on an unacknowledged finding).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { LEADING_KEY_PATTERNS, type PartitionKind } from '../../functions/storage/keys.js';
import { EXPORT_RETRY, EXPORT_START_RETRIES } from '../../lib/export-policy.js';
import { exportTasks, routes, taskFunctions } from '../../lib/routes.js';
import { acknowledgements, type CfnTemplate, onlyResource, resourcesOf, synthApp } from './ops-app.js';

let byDefault: ReturnType<typeof synthApp>;
let keep: ReturnType<typeof synthApp>;

beforeAll(() => {
  byDefault = synthApp();
  keep = synthApp({ exportRetentionDays: '0', exportConcurrency: '4', production: 'false' });
});

const bucketOf = (t: CfnTemplate) => onlyResource(t, 'AWS::S3::Bucket');

/** The state machine's definition, with the Fn::Join of its ARNs rendered as "<logicalId>". */
function definitionOf(t: CfnTemplate): any {
  const [, sm] = onlyResource(t, 'AWS::StepFunctions::StateMachine');
  const parts = sm.Properties.DefinitionString['Fn::Join'][1] as unknown[];
  const text = parts
    .map((p) => (typeof p === 'string' ? p : `<${(p as any)['Fn::GetAtt']?.[0] ?? JSON.stringify(p)}>`))
    .join('');
  return JSON.parse(text);
}

/** Every statement of the policies attached to the role of a function. */
function statementsOfFunction(t: CfnTemplate, logicalId: string) {
  const roleRef = t.Resources[logicalId]!.Properties.Role['Fn::GetAtt'][0];
  return resourcesOf(t, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleRef))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[])
    .map((s) => ({ actions: ([] as string[]).concat(s.Action).sort(), resource: s.Resource, condition: s.Condition }))
    .filter((s) => !s.actions.every((a) => a.startsWith('xray:')));
}

const TABLE = { 'Fn::GetAtt': ['ClickstreamTable', 'Arn'] };
const LOGS = (id: string) =>
  expect.objectContaining({ 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${id}Logs`)), 'Arn'] });
const EXPORT_OBJECTS = () => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ExportBucket', 'Arn'] }, '/exports/*']] });
const bucketLogicalId = () => 'ExportBucket';
const CONFINED = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['EXPORT#*'] } };
/** LeadingKeys of the given partition kinds (the reads of a function whose writes are CONFINED). */
const KEYS = (kinds: readonly PartitionKind[]) => ({
  'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': kinds.map((k) => LEADING_KEY_PATTERNS[k]) },
});

describe('the export bucket', () => {
  it('is encrypted, blocks all public access, keeps no versions, and is owned by the account', () => {
    const [, bucket] = bucketOf(byDefault.json);
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    expect(bucket.Properties.VersioningConfiguration).toBeUndefined();
  });

  it('refuses every request without TLS', () => {
    const [, policy] = onlyResource(byDefault.json, 'AWS::S3::BucketPolicy');
    expect(policy.Properties.PolicyDocument.Statement).toContainEqual({
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Resource: [
        { 'Fn::GetAtt': [bucketLogicalId(), 'Arn'] },
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketLogicalId(), 'Arn'] }, '/*']] },
      ],
    });
  });

  it('expires exports after exportRetentionDays (default 30) and aborts stale multipart uploads', () => {
    expect(bucketOf(byDefault.json)[1].Properties.LifecycleConfiguration.Rules).toEqual([
      { Id: 'ExpireExports', Prefix: 'exports/', ExpirationInDays: 30, Status: 'Enabled' },
      { Id: 'AbortIncompleteUploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' },
    ]);
  });

  it('keeps exports with exportRetentionDays=0', () => {
    expect(bucketOf(keep.json)[1].Properties.LifecycleConfiguration.Rules.map((r: { Id: string }) => r.Id)).toEqual([
      'AbortIncompleteUploads',
    ]);
  });

  it('is retained with production=true, as the table is, and goes with the stack otherwise', () => {
    expect(bucketOf(byDefault.json)[1]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(bucketOf(keep.json)[1]).toMatchObject({ DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    expect(keep.json.Resources.ClickstreamTable).toMatchObject({ DeletionPolicy: 'Delete' });
  });
});

describe('the export state machine', () => {
  it('is a standard state machine, traced, logging every transition', () => {
    const [, sm] = onlyResource(byDefault.json, 'AWS::StepFunctions::StateMachine');
    expect(sm.Properties).toMatchObject({
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
  });

  it('maps over the ranges with bounded concurrency (exportConcurrency, default 16), a worker loop per range', () => {
    const d = definitionOf(byDefault.json);
    expect(d.StartAt).toBe('ExportRanges');
    const map = d.States.ExportRanges;
    expect(map).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.ranges',
      MaxConcurrency: 16,
      ResultPath: null,
      Next: 'WriteManifest',
    });
    expect(map.ItemSelector).toEqual({
      'exportId.$': '$.exportId',
      'batchId.$': '$.batchId',
      'format.$': '$.format',
      'range.$': '$$.Map.Item.Value',
      'cursor.$': '$$.Map.Item.Value.after',
      part: 0,
    });
    const p = map.ItemProcessor;
    expect(p.StartAt).toBe('WriteRangeFile');
    expect(p.States.WriteRangeFile).toMatchObject({
      Type: 'Task',
      Resource: '<ExportRangeFunction>',
      Next: 'RangeDone',
    });
    expect(p.States.RangeDone).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.done', BooleanEquals: true, Next: 'RangeWritten' }],
      Default: 'WriteRangeFile',
    });
    expect(definitionOf(keep.json).States.ExportRanges.MaxConcurrency).toBe(4);
  });

  it('retries every task on any error, with backoff and jitter', () => {
    const d = definitionOf(byDefault.json);
    const retry = [
      {
        ErrorEquals: ['States.ALL'],
        IntervalSeconds: 2,
        MaxAttempts: EXPORT_RETRY.retries,
        BackoffRate: 2,
        MaxDelaySeconds: 60,
        JitterStrategy: 'FULL',
      },
    ];
    expect(EXPORT_RETRY.retries).toBe(5);
    expect(d.States.ExportRanges.ItemProcessor.States.WriteRangeFile.Retry).toEqual(retry);
    expect(d.States.WriteManifest.Retry).toEqual(retry);
    expect(d.States.MarkExportFailed.Retry).toEqual(retry);
  });

  it('catches a failure of the ranges or the manifest, marks the export failed and fails the execution', () => {
    const d = definitionOf(byDefault.json);
    const catchAll = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'MarkExportFailed' }];
    expect(d.States.ExportRanges.Catch).toEqual(catchAll);
    expect(d.States.WriteManifest.Catch).toEqual(catchAll);
    expect(d.States.WriteManifest).toMatchObject({
      Resource: '<FinishExportFunction>',
      Parameters: { 'exportId.$': '$.exportId' },
      Next: 'ExportSucceeded',
    });
    expect(d.States.MarkExportFailed).toMatchObject({
      Resource: '<FinishExportFunction>',
      Parameters: { 'exportId.$': '$.exportId', 'failure.$': '$.failure' },
      ResultPath: null,
      Next: 'ExportFailed',
    });
    expect(d.States.ExportFailed).toEqual({ Type: 'Fail', Error: 'ExportFailed', CausePath: '$.failure.Cause' });
  });

  it('may invoke exactly the two export functions', () => {
    const t = byDefault.json;
    const [, sm] = onlyResource(t, 'AWS::StepFunctions::StateMachine');
    const roleId = sm.Properties.RoleArn['Fn::GetAtt'][0];
    const statements = resourcesOf(t, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
    const invoke = statements.filter((s) => ([] as string[]).concat(s.Action).includes('lambda:InvokeFunction'));
    const targets = invoke.flatMap((s) => ([] as any[]).concat(s.Resource)).map((r) => JSON.stringify(r));
    expect(targets.sort()).toEqual(
      [
        { 'Fn::GetAtt': ['ExportRangeFunction', 'Arn'] },
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ExportRangeFunction', 'Arn'] }, ':*']] },
        { 'Fn::GetAtt': ['FinishExportFunction', 'Arn'] },
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['FinishExportFunction', 'Arn'] }, ':*']] },
      ]
        .map((r) => JSON.stringify(r))
        .sort(),
    );
    for (const s of statements) {
      for (const a of ([] as string[]).concat(s.Action))
        expect(a).toMatch(/^(lambda:InvokeFunction|logs:[A-Za-z]+|xray:[A-Za-z]+)$/);
    }
  });

  it('alarms on a failed execution', () => {
    byDefault.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsFailed',
      Namespace: 'AWS/States',
      Dimensions: [
        {
          Name: 'StateMachineArn',
          Value: { Ref: onlyResource(byDefault.json, 'AWS::StepFunctions::StateMachine')[0] },
        },
      ],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
    });
  });
});

describe('grants of the export functions, exactly', () => {
  it('the range worker reads the table, writes only export records, and writes only under exports/', () => {
    expect(statementsOfFunction(byDefault.json, exportTasks.range.logicalId)).toEqual([
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resource: LOGS('ExportRange'), condition: undefined },
      {
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resource: TABLE,
        condition: KEYS(exportTasks.range.partitions),
      },
      { actions: ['dynamodb:PutItem'], resource: TABLE, condition: CONFINED },
      { actions: ['s3:AbortMultipartUpload', 's3:PutObject'], resource: EXPORT_OBJECTS(), condition: undefined },
    ]);
  });

  it('the finishing task reads and ends export records only, and writes only under exports/', () => {
    expect(statementsOfFunction(byDefault.json, exportTasks.finish.logicalId)).toEqual([
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resource: LOGS('FinishExport'), condition: undefined },
      // GetItem on the batch item: how many of its sessions were erased (README "Erasing a user").
      {
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resource: TABLE,
        condition: KEYS(exportTasks.finish.partitions),
      },
      { actions: ['dynamodb:UpdateItem'], resource: TABLE, condition: CONFINED },
      { actions: ['s3:AbortMultipartUpload', 's3:PutObject'], resource: EXPORT_OBJECTS(), condition: undefined },
    ]);
  });

  it('start_export reads the batch and records the export in its own partition (it starts nothing itself)', () => {
    expect(statementsOfFunction(byDefault.json, 'StartExportFunction')).toEqual([
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resource: LOGS('StartExport'), condition: undefined },
      {
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resource: TABLE,
        condition: KEYS(routes.find((r) => r.operation === 'start_export')!.partitions),
      },
      { actions: ['dynamodb:PutItem'], resource: TABLE, condition: CONFINED },
    ]);
    const env = byDefault.json.Resources.StartExportFunction!.Properties.Environment.Variables;
    expect(env).toMatchObject({ EXPORT_BUCKET: { Ref: bucketLogicalId() } });
    expect(env.EXPORT_STATE_MACHINE_ARN).toBeUndefined();
  });

  it('the export starter reads the table stream, starts the state machine, and sends what fails to its queue', () => {
    const t = byDefault.json;
    const sm = onlyResource(t, 'AWS::StepFunctions::StateMachine')[0];
    const [queue] = onlyResource(t, 'AWS::SQS::Queue');
    const stream = { 'Fn::GetAtt': ['ClickstreamTable', 'StreamArn'] };
    expect(statementsOfFunction(t, exportTasks.start.logicalId)).toEqual([
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resource: LOGS('ExportStarter'), condition: undefined },
      { actions: ['states:StartExecution'], resource: { Ref: sm }, condition: undefined },
      {
        actions: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        resource: { 'Fn::GetAtt': [queue, 'Arn'] },
        condition: undefined,
      },
      { actions: ['dynamodb:ListStreams'], resource: '*', condition: undefined },
      {
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        resource: stream,
        condition: undefined,
      },
    ]);
    expect(t.Resources[exportTasks.start.logicalId]!.Properties.Environment.Variables).toMatchObject({
      EXPORT_STATE_MACHINE_ARN: { Ref: sm },
    });
    expect(onlyResource(t, 'AWS::DynamoDB::Table')[1].Properties.StreamSpecification).toEqual({
      StreamViewType: 'NEW_IMAGE',
    });
    const [, mapping] = onlyResource(t, 'AWS::Lambda::EventSourceMapping');
    expect(mapping.Properties).toEqual({
      FunctionName: { Ref: exportTasks.start.logicalId },
      EventSourceArn: stream,
      StartingPosition: 'TRIM_HORIZON',
      // Only insertions of export records (sort key EXPORT) reach the starter.
      FilterCriteria: {
        Filters: [
          { Pattern: JSON.stringify({ eventName: ['INSERT'], dynamodb: { Keys: { sk: { S: ['EXPORT'] } } } }) },
        ],
      },
      BatchSize: 10,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: EXPORT_START_RETRIES,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    expect(t.Resources[queue]!.Properties).toMatchObject({ SqsManagedSseEnabled: true });
    const [, alarm] = resourcesOf(t, 'AWS::CloudWatch::Alarm').find(([id]) => id.startsWith('ExportStartFailedAlarm'))!;
    expect(alarm.Properties).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
    });
  });

  it('get_export only reads the table: its export, and the batch item (whether sessions were erased since)', () => {
    expect(statementsOfFunction(byDefault.json, 'GetExportFunction')).toEqual([
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resource: LOGS('GetExport'), condition: undefined },
      { actions: ['dynamodb:GetItem', 'dynamodb:Query'], resource: TABLE, condition: KEYS(['export', 'batch']) },
    ]);
  });

  it('no other function may touch the bucket or the state machine', () => {
    const t = byDefault.json;
    const exportFunctions = new Set([
      exportTasks.range.logicalId,
      exportTasks.finish.logicalId,
      exportTasks.start.logicalId,
    ]);
    for (const [id] of resourcesOf(t, 'AWS::Lambda::Function')) {
      if (exportFunctions.has(id)) continue;
      // Besides logs and the table, only the erasure key (secretsmanager:GetSecretValue) is granted elsewhere.
      for (const s of statementsOfFunction(t, id))
        for (const a of s.actions) expect(a, id).toMatch(/^(logs|dynamodb|secretsmanager):/);
    }
    const starters = [...routes, ...taskFunctions].filter((r) => r.startsExports).map((r) => r.logicalId);
    expect(starters).toEqual([exportTasks.start.logicalId]);
  });

  it('the workers get the Lambda timeouts of lib/export-policy.ts', () => {
    expect(byDefault.json.Resources.ExportRangeFunction!.Properties.Timeout).toBe(900);
    expect(byDefault.json.Resources.FinishExportFunction!.Properties.Timeout).toBe(120);
  });
});

describe('cdk-nag', () => {
  it('synthesizes with no unacknowledged finding (the synthesis above would throw), every acknowledgement with its reason', () => {
    const acks = acknowledgements(byDefault.stack).filter((a) => /Export/.test(a.path));
    expect(acks.map((a) => a.id).sort()).toEqual(
      [
        'AwsSolutions-IAM5[Resource::*]', // the worker's X-Ray (as every function)
        'AwsSolutions-IAM5[Resource::*]', // the finisher's X-Ray
        'AwsSolutions-IAM5[Resource::*]', // start_export's X-Ray
        'AwsSolutions-IAM5[Resource::*]', // the starter's X-Ray and dynamodb:ListStreams
        'AwsSolutions-IAM5[Resource::*]', // get_export's X-Ray
        'AwsSolutions-IAM5[Resource::*]', // the state machine's log delivery and X-Ray
        'AwsSolutions-IAM5[Resource::<ExportRangeFunction.Arn>:*]',
        'AwsSolutions-IAM5[Resource::<FinishExportFunction.Arn>:*]',
        'AwsSolutions-IAM5[Resource::<ExportBucket.Arn>/exports/*]', // the worker's files
        'AwsSolutions-IAM5[Resource::<ExportBucket.Arn>/exports/*]', // the finisher's manifest
        'AwsSolutions-S1',
        'AwsSolutions-SQS3', // the starter's dead-letter queue has none of its own
      ].sort(),
    );
    for (const a of acks) expect(a.reason.length, a.id).toBeGreaterThan(40);
  });
});
