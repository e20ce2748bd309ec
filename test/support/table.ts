/**
 * A fresh table in the run's DynamoDB Local for one test file, and the environment that points the
 * functions at it. Module state (config, client, shard allocation) starts anew as in a fresh Lambda.
 */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { ensureTable } from '../../lib/local/dynamodb-local.js';
import { resetAllocation } from '../../functions/domain/allocation.js';
import { resetConfig } from '../../functions/shared/config.js';
import { setDocumentClient } from '../../functions/storage/client.js';

export interface TestTable {
  endpoint: string;
  tableName: string;
}

export async function useFreshTable(env: Record<string, string> = {}): Promise<TestTable> {
  const endpoint = inject('dynamoEndpoint');
  const tableName = `t-${randomUUID()}`;
  await ensureTable(endpoint, tableName);
  Object.assign(process.env, { TABLE_NAME: tableName, DYNAMODB_ENDPOINT: endpoint, ...env });
  resetConfig();
  setDocumentClient(undefined);
  resetAllocation();
  return { endpoint, tableName };
}
