/**
 * Builds the real app (lib/app.ts: settings from context, the stack, cdk-nag as a validation
 * plugin) for one configuration and synthesizes it once. Bundling is skipped: these tests read the
 * template and the construct tree, not the function code, and each bundle costs about a second.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { buildApp } from '../../lib/app.js';

export type Context = Record<string, string>;

export function synthApp(context: Context = {}, extend?: (stack: Stack) => void) {
  const built = buildApp({
    context: { ...context, 'aws:cdk:bundling-stacks': [] },
    outdir: mkdtempSync(join(tmpdir(), 'clickstream-cdk-')),
  });
  extend?.(built.stack);
  // Throws when cdk-nag reports an unacknowledged error (CDK's policy validation, in-memory mode).
  const assembly = built.app.synth();
  const template = Template.fromStack(built.stack);
  return { ...built, assembly, template, json: template.toJSON() as CfnTemplate };
}

export interface CfnResource {
  Type: string;
  Properties?: any;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Metadata?: any;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown }>;
  Mappings?: Record<string, Record<string, Record<string, string>>>;
}

export const resourcesOf = (t: CfnTemplate, type: string): [string, CfnResource][] =>
  Object.entries(t.Resources).filter(([, r]) => r.Type === type);

/** Every acknowledgement recorded in the construct tree: rule id, reason, construct path. */
export function acknowledgements(root: IConstruct): { id: string; reason: string; path: string }[] {
  const out: { id: string; reason: string; path: string }[] = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        out.push({ id: id.replace(/^annotation::/i, ''), reason, path: c.node.path });
      }
    }
  }
  return out;
}

/** The one resource of a type (throws unless there is exactly one): [logical id, resource]. */
export function onlyResource(t: CfnTemplate, type: string): [string, CfnResource] {
  const found = resourcesOf(t, type);
  if (found.length !== 1) throw new Error(`Expected one ${type}, found ${found.length}`);
  return found[0]!;
}

/** The export starter's stream read (its event source mapping's grant), the one DynamoDB grant not on the table. */
export const STREAM_READ = /^dynamodb:(ListStreams|DescribeStream|GetRecords|GetShardIterator)$/;
