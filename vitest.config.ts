import { configDefaults, defineConfig } from 'vitest/config';
import { javaProblem } from './lib/local/java.js';

// Every test run starts DynamoDB Local (Java): without Java, say so first, not after "No test files".
const javaMissing = javaProblem();
if (javaMissing) {
  console.error(`\x1b[31mnpm test: ${javaMissing}\x1b[39m`);
  process.exit(1);
}

// The global setup (DynamoDB Local) loads the AWS SDK in this process: no Node-version warning there.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Headless Chromium: `npm run test:browser` (vitest.browser.config.ts), which .ci/run runs too.
    exclude: [...configDefaults.exclude, 'test/browser/**'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/env.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: integration suites share one DynamoDB Local, each in its own table.
    maxWorkers: 2,
  },
});
