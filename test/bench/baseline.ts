/**
 * The start-up baseline, bundled like a function: only the functions' DynamoDB document client,
 * built while the module is imported, and one GetItem when invoked. The least any function can do.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../../functions/storage/client.js';
import { config } from '../../functions/shared/config.js';

const client = documentClient();

export const handler = async () => {
  const out = await client.send(
    new GetCommand({ TableName: config().tableName, Key: { pk: 'BASELINE', sk: 'BASELINE' }, ConsistentRead: true }),
  );
  return { statusCode: out.Item ? 200 : 404, body: '' };
};
