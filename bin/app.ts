#!/usr/bin/env node
/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy -c clientAuth=jwt ...`. Settings come from CDK
 * context (docs/operations.md lists them). cdk-nag's AwsSolutions rules run on every synthesis and
 * fail it on an unacknowledged finding (lib/app.ts).
 */
import { buildApp } from '../lib/app.js';

buildApp();
