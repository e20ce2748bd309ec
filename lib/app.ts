/**
 * Builds the CDK app: settings from context, the stack, and cdk-nag's AwsSolutions rules as a
 * policy-validation plugin, so that synthesis fails on any finding that is not acknowledged in
 * lib/clickstream-stack.ts (each acknowledgement names its reason there). bin/app.ts runs it; the
 * tests build the same app.
 */
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ClickstreamStack } from './clickstream-stack.js';
import { checkContextKeys, readSettings } from './settings.js';

export function buildApp(props: AppProps = {}): { app: App; stack: ClickstreamStack; nag: AwsSolutionsChecks } {
  const app = new App(props);
  checkContextKeys(Object.keys(app.node.getAllContext()));
  const settings = readSettings((key) => app.node.tryGetContext(key));
  const stack = new ClickstreamStack(app, app.node.tryGetContext('stackName') ?? 'ClickstreamStack', {
    settings,
    // Pinned to the account and region of the credentials when there are any (cdk deploy); without
    // them (an offline synth, SAM) environment-agnostic, so the template names no region of its own.
    env: process.env.CDK_DEFAULT_ACCOUNT
      ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
      : undefined,
  });
  // CDK runs the plugin after synthesis; an unacknowledged error fails `cdk synth`/`deploy`.
  // Acknowledged findings are also written to the template's Metadata (cdk_nag) for auditors.
  const nag = new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true });
  Validations.of(app).addPlugins(nag);
  return { app, stack, nag };
}
