/**
 * Starts an export's run on the export state machine (AWS). The execution's name is derived from
 * the export_id, and its input from the stored export alone: Step Functions answers a repeated
 * StartExecution with the same name and input with the running execution (nothing new starts), and
 * refuses one whose execution has ended (ExecutionAlreadyExists) - then the export has ended or is
 * about to record its end, and nothing must start either.
 */
import { createHash } from 'node:crypto';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { config } from '../shared/config.js';
import { unavailable } from '../shared/errors.js';
import { isTransient } from '../storage/errors.js';
import type { ExportRunInput, ExportRunner } from '../domain/exports.js';

/** 64 hex characters: within the 80 allowed, from any export_id (the id itself may hold characters names may not). */
export const executionNameOf = (exportId: string) => createHash('sha256').update(exportId).digest('hex');

let client: SFNClient | undefined;

export function setSfnClient(next: SFNClient | undefined): void {
  client = next;
}

export function stepFunctionsRunner(): ExportRunner {
  return {
    async start(input: ExportRunInput) {
      const stateMachineArn = config().exportStateMachineArn;
      if (!stateMachineArn) throw new Error('EXPORT_STATE_MACHINE_ARN is not set');
      client ??= new SFNClient({ maxAttempts: 4 });
      try {
        await client.send(
          new StartExecutionCommand({
            stateMachineArn,
            name: executionNameOf(input.exportId),
            input: JSON.stringify(input),
          }),
        );
      } catch (err) {
        if ((err as Error).name === 'ExecutionAlreadyExists') return;
        if (isTransient(err) || (err as Error).name === 'ExecutionLimitExceeded')
          throw unavailable('Could not start the export; retry the request');
        throw err;
      }
    },
  };
}
