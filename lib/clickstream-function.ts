/**
 * One construct builds every function the same way: Node.js 24 on ARM64, ESM bundle (minified,
 * source maps beside it) made by the local esbuild, its own log group with retention and Lambda's
 * JSON log format (the metric filters of lib/monitoring.ts read its lines), X-Ray tracing, and its own role: writing to its own log group, and exactly the DynamoDB actions its
 * route needs (no managed policy, whose logs permissions would cover every log group).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  ApplicationLogLevel,
  Architecture,
  type CfnFunction,
  LoggingFormat,
  ParamsAndSecretsLayerVersion,
  ParamsAndSecretsLogLevel,
  ParamsAndSecretsVersions,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { fileURLToPath } from 'node:url';
import { LEADING_KEY_PATTERNS, type PartitionKind } from '../functions/storage/keys.js';
import { type DynamoAction, WRITE_ACTIONS } from './routes.js';
import type { LogLevel } from './settings.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Bundling options shared by the stack and the benchmark (which measures the same bundles). */
export const BUNDLING = {
  format: OutputFormat.ESM,
  target: 'node22',
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  mainFields: ['module', 'main'],
  // Some dependencies still call require(); give the ESM bundle one.
  banner: "import{createRequire as __cr}from'module';const require=__cr(import.meta.url);",
  externalModules: [] as string[],
};

/**
 * Environment every function gets besides its settings. NODE_OPTIONS carries no
 * `--enable-source-maps`: parsing the bundle's source map at start-up costs every cold start about
 * 15 ms (docs/benchmarks.md). The maps still ship beside the bundles, so setting
 * NODE_OPTIONS=--enable-source-maps on a function turns mapped stack traces on while debugging.
 */
export const FUNCTION_RUNTIME_ENV: Record<string, string> = {};

export interface ClickstreamFunctionProps {
  logicalId: string;
  entry: string;
  operation: string;
  table: ITable;
  actions: DynamoAction[];
  /** The partitions it may touch (`dynamodb:LeadingKeys`) and, if given, the only attributes it may name. */
  partitions: readonly PartitionKind[];
  attributes?: readonly string[];
  environment: Record<string, string>;
  memorySize: number;
  logRetention: RetentionDays;
  /**
   * The application log level (Lambda drops the functions' lines below it). The request lines are
   * INFO and carry the function metrics: above INFO, the metric filters count only 5xx answers.
   */
  logLevel: LogLevel;
  /** Reserved concurrency (its own pool, and at most that many at once); 0 or absent: none. */
  reservedConcurrency?: number;
  /** The table's customer-managed KMS key, if it has one: the function may use it through DynamoDB. */
  tableKey?: IKey;
  /** Default: 29 s (API Gateway's limit); the export tasks run longer. */
  timeout?: Duration;
  /** Confines the write actions to these partition kinds (a second statement; reads keep `partitions`). */
  writePartitions?: readonly PartitionKind[];
  /** Grants beyond the table (S3, Step Functions), each as narrow as its use. */
  statements?: PolicyStatement[];
  /**
   * Adds the AWS Parameters and Secrets Lambda Extension (a layer): the function reads its secret
   * with one GET to the extension on localhost instead of bundling a Secrets Manager client. It still
   * needs its own `secretsmanager:GetSecretValue` grant (in `statements`): the extension uses the
   * function's credentials.
   */
  readsSecrets?: boolean;
}

/** The extension's settings: it caches the one secret for its maximum, 5 minutes; warnings only in the logs. */
const SECRETS_EXTENSION = () =>
  ParamsAndSecretsLayerVersion.fromVersion(ParamsAndSecretsVersions.V1_0_103, {
    cacheSize: 10,
    logLevel: ParamsAndSecretsLogLevel.WARN,
  });

/**
 * The conditions of a function's DynamoDB statement: every key it sends must lie in one of its
 * partition kinds (patterns from functions/storage/keys.ts, the module that builds the keys), and,
 * for a function that updates one attribute, only those attributes may be named.
 */
export function dynamoConditions(
  partitions: readonly PartitionKind[],
  attributes?: readonly string[],
): Record<string, Record<string, string[]>> {
  if (partitions.length === 0) throw new Error('A function with DynamoDB actions must name the partitions it touches');
  return {
    'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': partitions.map((p) => LEADING_KEY_PATTERNS[p]) },
    ...(attributes ? { 'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...attributes] } } : {}),
  };
}

export class ClickstreamFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: ClickstreamFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });
    this.role = new Role(this, 'ServiceRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Clickstream ${props.operation}: its own log group and its DynamoDB actions`,
    });
    // The log group exists before the function (the stack creates it), so no logs:CreateLogGroup.
    this.role.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    this.fn = new NodejsFunction(this, 'Function', {
      role: this.role,
      entry: `${PROJECT_ROOT}${props.entry}`,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout ?? Duration.seconds(29),
      tracing: Tracing.ACTIVE,
      logGroup: this.logGroup,
      // JSON lines: `console.info(object)` becomes {"timestamp","level","requestId","message": object}.
      // System lines stay at INFO: the REPORT line is where each cold start's Init Duration is.
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel[props.logLevel],
      systemLogLevelV2: SystemLogLevel.INFO,
      description: `Clickstream ${props.operation}`,
      environment: { ...props.environment, ...FUNCTION_RUNTIME_ENV },
      bundling: BUNDLING,
      ...(props.reservedConcurrency ? { reservedConcurrentExecutions: props.reservedConcurrency } : {}),
      ...(props.readsSecrets ? { paramsAndSecrets: SECRETS_EXTENSION() } : {}),
    });
    (this.fn.node.defaultChild as CfnFunction).overrideLogicalId(props.logicalId);
    const confined = props.writePartitions ? props.actions.filter((a) => WRITE_ACTIONS.includes(a)) : [];
    const free = props.actions.filter((a) => !confined.includes(a));
    const statement = (actions: DynamoAction[], partitions: readonly PartitionKind[]) =>
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions,
        resources: [props.table.tableArn],
        conditions: dynamoConditions(partitions, props.attributes),
      });
    if (free.length > 0) this.fn.addToRolePolicy(statement(free, props.partitions));
    if (confined.length > 0) this.fn.addToRolePolicy(statement(confined, props.writePartitions!));
    if (props.actions.length > 0) {
      if (props.tableKey) {
        // As aws-cdk-lib's table grants do: readers decrypt, writers also encrypt; only through DynamoDB.
        const writes = props.actions.some((a) => a === 'dynamodb:PutItem' || a === 'dynamodb:UpdateItem');
        this.fn.addToRolePolicy(
          new PolicyStatement({
            effect: Effect.ALLOW,
            actions: ['kms:Decrypt', 'kms:DescribeKey', ...(writes ? ['kms:Encrypt', 'kms:GenerateDataKey'] : [])],
            resources: [props.tableKey.keyArn],
            conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` } },
          }),
        );
      }
    }
    for (const statement of props.statements ?? []) this.fn.addToRolePolicy(statement);
    Stack.of(this);
  }
}
