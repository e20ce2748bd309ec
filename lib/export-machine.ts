/**
 * The export state machine: one worker chain per shard range, at most `concurrency` at once (an
 * inline Map), each a loop that invokes the range worker until it says `done` (each invocation
 * writes one file and hands its cursor to the next). A failed worker or finishing task is retried
 * (lib/export-policy.ts): the retry has the same input and rewrites the same file. When every range
 * is written the finishing task writes the manifest and marks the export succeeded; any failure
 * that outlasts the retries is caught, marks the export failed, and fails the execution (alarm).
 *
 * Execution input (functions/domain/exports.ts, ExportRunInput): {exportId, batchId, format, ranges}.
 */
import { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  Errors,
  Fail,
  JitterType,
  JsonPath,
  LogLevel,
  Map as MapState,
  type RetryProps,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { EXPORT_RETRY } from './export-policy.js';

export interface ExportMachineProps {
  rangeFunction: IFunction;
  finishFunction: IFunction;
  /** Ranges written at once (the Map's MaxConcurrency). */
  concurrency: number;
  logRetention: RetentionDays;
}

/** The Retry of every task: any error, EXPORT_RETRY's count and waits, full jitter. */
export const EXPORT_TASK_RETRY: RetryProps = {
  errors: [Errors.ALL],
  maxAttempts: EXPORT_RETRY.retries,
  interval: Duration.seconds(EXPORT_RETRY.intervalSeconds),
  backoffRate: EXPORT_RETRY.backoffRate,
  maxDelay: Duration.seconds(EXPORT_RETRY.maxDelaySeconds),
  jitterStrategy: JitterType.FULL,
};

export class ExportMachine extends Construct {
  readonly stateMachine: StateMachine;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ExportMachineProps) {
    super(scope, id);
    const invoke = (name: string, fn: IFunction, payload?: TaskInput) => {
      const task = new LambdaInvoke(this, name, {
        lambdaFunction: fn,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false, // EXPORT_TASK_RETRY covers them
        // The worker's answer is the next iteration's input; the others keep theirs.
        ...(payload ? { payload, resultPath: JsonPath.DISCARD } : {}),
      });
      task.addRetry(EXPORT_TASK_RETRY);
      return task;
    };

    const writeFile = invoke('WriteRangeFile', props.rangeFunction);
    writeFile.next(
      new Choice(this, 'RangeDone')
        .when(Condition.booleanEquals('$.done', true), new Succeed(this, 'RangeWritten'))
        .otherwise(writeFile),
    );
    const ranges = new MapState(this, 'ExportRanges', {
      itemsPath: '$.ranges',
      maxConcurrency: props.concurrency,
      itemSelector: {
        'exportId.$': '$.exportId',
        'batchId.$': '$.batchId',
        'format.$': '$.format',
        'range.$': '$$.Map.Item.Value',
        'cursor.$': '$$.Map.Item.Value.after',
        part: 0,
      },
      // The files are recorded in the table; the execution's state stays small.
      resultPath: JsonPath.DISCARD,
    });
    ranges.itemProcessor(writeFile);

    const markFailed = invoke(
      'MarkExportFailed',
      props.finishFunction,
      TaskInput.fromObject({ exportId: JsonPath.stringAt('$.exportId'), failure: JsonPath.objectAt('$.failure') }),
    ).next(new Fail(this, 'ExportFailed', { error: 'ExportFailed', causePath: '$.failure.Cause' }));
    const finish = invoke(
      'WriteManifest',
      props.finishFunction,
      TaskInput.fromObject({ exportId: JsonPath.stringAt('$.exportId') }),
    );
    ranges.addCatch(markFailed, { errors: [Errors.ALL], resultPath: '$.failure' });
    finish.addCatch(markFailed, { errors: [Errors.ALL], resultPath: '$.failure' });

    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(ranges.next(finish).next(new Succeed(this, 'ExportSucceeded'))),
      tracingEnabled: true,
      // Every state transition is logged; the execution data (ids and cursors only) is left out.
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
      comment: 'Clickstream: exports a released batch to S3, one worker chain per shard range',
    });
  }
}
