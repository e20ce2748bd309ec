#!/usr/bin/env node
/** The CDK app: `npx cdk synth` / `npx cdk deploy`. Settings come from CDK context (see README). */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ClickstreamStack } from '../lib/clickstream-stack.js';
import { readSettings } from '../lib/settings.js';

const app = new App();
const settings = readSettings((key) => app.node.tryGetContext(key));
new ClickstreamStack(app, app.node.tryGetContext('stackName') ?? 'ClickstreamStack', {
  settings,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
