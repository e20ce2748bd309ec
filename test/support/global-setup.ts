/** Starts one DynamoDB Local (Amazon's jar, on a free port) for the whole test run. */
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb-local.js';

let dynamo: DynamoDbLocal | undefined;

export default async function setup(project: TestProject) {
  dynamo = await startDynamoDbLocal();
  // Also when the run is interrupted: no java process outlives it.
  process.once('exit', () => dynamo?.kill());
  project.provide('dynamoEndpoint', dynamo.endpoint);
  return async () => {
    await dynamo?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}
