/**
 * Erasure of a user (issue 12) on the synthesized template: the HMAC key's secret (generated, not
 * rotated, retained in production), who may read it, the worker (its schedule, one at a time, its
 * timeout) and its grants. cdk-nag runs in the synthesis (synthApp goes through the real app).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ERASURE_SCHEDULE_MINUTES, ERASURE_WORKER_TIMEOUT_SECONDS } from '../../functions/domain/erasure.js';
import { erasureWorker, routes } from '../../lib/routes.js';
import { type CfnTemplate, onlyResource, resourcesOf, synthApp } from './ops-app.js';

let t: CfnTemplate;
beforeAll(() => {
  t = synthApp({}).json;
});

const fn = (logicalId: string) => t.Resources[logicalId]!.Properties;
const statementsOf = (logicalId: string) => {
  const roleRef = fn(logicalId).Role['Fn::GetAtt'][0] as string;
  return resourcesOf(t, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleRef))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
};
const readsSecret = (logicalId: string) =>
  statementsOf(logicalId).filter((s) => ([] as string[]).concat(s.Action).includes('secretsmanager:GetSecretValue'));

describe('erasure', () => {
  it('the HMAC key is a generated secret, retained with the stack in production', () => {
    const [id, secret] = onlyResource(t, 'AWS::SecretsManager::Secret');
    expect(id).toBe('ErasureKey');
    expect(secret.Properties.GenerateSecretString).toMatchObject({ PasswordLength: 64, ExcludePunctuation: true });
    expect(secret.UpdateReplacePolicy).toBe('Retain');
    expect(secret.DeletionPolicy).toBe('Retain');
    expect(resourcesOf(t, 'AWS::SecretsManager::RotationSchedule')).toEqual([]);
    expect(t.Outputs!.ErasureKeySecretArn!.Value).toEqual({ Ref: 'ErasureKey' });
  });

  it('only erase_user and the worker may read the key, that secret only, and are told where it is', () => {
    const readers = [...routes.filter((r) => r.readsErasureKey).map((r) => r.logicalId), erasureWorker.logicalId];
    expect(readers.sort()).toEqual(['EraseUserFunction', 'ErasureWorkerFunction']);
    for (const [id] of resourcesOf(t, 'AWS::Lambda::Function')) {
      const statements = readsSecret(id);
      if (!readers.includes(id)) {
        expect(statements, id).toEqual([]);
        expect(fn(id).Environment.Variables.ERASURE_KEY_SECRET_ARN, id).toBeUndefined();
        continue;
      }
      expect(statements.map((s) => [s.Action, s.Resource])).toEqual([
        ['secretsmanager:GetSecretValue', { Ref: 'ErasureKey' }],
      ]);
      expect(fn(id).Environment.Variables).toMatchObject({
        ERASURE_KEY_SECRET_ARN: { Ref: 'ErasureKey' },
        CLICKSTREAM_ERASURE_KEY: '',
      });
    }
  });

  it('the readers get the AWS Parameters and Secrets extension (arm64 layer, its port, a 5-minute cache); no other function', () => {
    const layerMap = t.Mappings!.ParamsandsecretslayerMap!;
    expect(layerMap['us-east-1']!['1x0x103xarm64']).toMatch(
      /^arn:aws:lambda:us-east-1:\d{12}:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:\d+$/,
    );
    for (const [id] of resourcesOf(t, 'AWS::Lambda::Function')) {
      if (id !== 'EraseUserFunction' && id !== erasureWorker.logicalId) {
        expect(fn(id).Layers, id).toBeUndefined();
        continue;
      }
      expect(fn(id).Layers, id).toEqual([
        { 'Fn::FindInMap': ['ParamsandsecretslayerMap', { Ref: 'AWS::Region' }, '1x0x103xarm64'] },
      ]);
      expect(fn(id).Environment.Variables, id).toMatchObject({
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: '2773',
        PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED: 'true',
        SECRETS_MANAGER_TTL: '300',
      });
    }
  });

  it('a schedule runs the worker, one at a time, for up to 15 minutes', () => {
    const [, rule] = onlyResource(t, 'AWS::Events::Rule');
    expect(rule.Properties.ScheduleExpression).toBe(`rate(${ERASURE_SCHEDULE_MINUTES} minutes)`);
    expect(rule.Properties.State).toBe('ENABLED');
    expect(rule.Properties.Targets).toHaveLength(1);
    expect(rule.Properties.Targets[0].Arn).toEqual({ 'Fn::GetAtt': [erasureWorker.logicalId, 'Arn'] });
    const permissions = resourcesOf(t, 'AWS::Lambda::Permission').filter(
      ([, p]) => p.Properties.Principal === 'events.amazonaws.com',
    );
    expect(permissions.map(([, p]) => p.Properties.FunctionName)).toEqual([
      { 'Fn::GetAtt': [erasureWorker.logicalId, 'Arn'] },
    ]);
    expect(fn(erasureWorker.logicalId)).toMatchObject({
      Timeout: ERASURE_WORKER_TIMEOUT_SECONDS,
      ReservedConcurrentExecutions: 1,
    });
  });

  it('the worker may Scan and delete, within the session, batch and erasure partitions; the routes only touch erasure records', () => {
    const dynamo = (id: string) =>
      statementsOf(id).filter((s) => ([] as string[]).concat(s.Action).some((a) => a.startsWith('dynamodb:')));
    const [worker] = dynamo(erasureWorker.logicalId);
    expect([...worker.Action].sort()).toEqual([...erasureWorker.actions].sort());
    expect(worker.Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys']).toEqual([
      'ERASURE*',
      'SESSION#*',
      'BATCH#*',
    ]);
    for (const id of ['EraseUserFunction', 'GetErasureFunction']) {
      const statements = dynamo(id);
      expect(statements, id).toHaveLength(1);
      expect(statements[0].Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys'], id).toEqual(['ERASURE*']);
    }
  });
});
