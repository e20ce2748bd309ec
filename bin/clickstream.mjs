#!/usr/bin/env node
// The package's `clickstream` command (`npx clickstream ...` in a clone after `npm ci`): loads the
// TypeScript entry bin/clickstream.ts with tsx, the project's TypeScript runner, with no build step.
import { register } from 'tsx/esm/api';

register();
await import('./clickstream.ts');
