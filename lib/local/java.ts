/**
 * Whether Java 17 or newer is there for DynamoDB Local. Its own module, without the AWS SDK, so
 * that vitest.config.ts can check it first thing (npm test's first line then says what is missing).
 */
import { spawnSync } from 'node:child_process';

/** A message saying what is missing and how to install it, or undefined when Java is fine. */
export function javaProblem(): string | undefined {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return [
      'DynamoDB Local needs Java 17 or newer, and `java` was not found on the PATH.',
      'Install it, for example on Debian or Ubuntu:',
      '  sudo apt-get update && sudo apt-get install -y openjdk-17-jre-headless',
      'or on macOS: brew install openjdk@17 (then put it on the PATH as brew says).',
    ].join('\n');
  }
  const version = /version "(\d+)/.exec(probe.stderr ?? '')?.[1];
  if (version && Number(version) < 17) {
    return `DynamoDB Local needs Java 17 or newer; found Java ${version}. Install openjdk-17-jre-headless.`;
  }
  return undefined;
}
