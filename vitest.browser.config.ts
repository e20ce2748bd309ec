/**
 * `npm run test:browser`: the README's web page in headless Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser download). The same setup as `npm test` (DynamoDB Local for the run).
 */
import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: { ...base.test, include: ['test/browser/**/*.test.ts'], exclude: [...configDefaults.exclude] },
});
