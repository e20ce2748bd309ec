/**
 * Settings as a platform team types them: a context key that looks like a misspelled setting stops
 * the synthesis and names the setting, CDK's own context keys pass, words take any case, and the
 * README's settings table lists exactly the settings there are.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../lib/app.js';
import { PROJECT_ROOT } from '../../lib/clickstream-function.js';
import { checkContextKeys, meantSetting, readSettings, SETTING_NAMES } from '../../lib/settings.js';

describe('misspelled settings', () => {
  it.each([
    ['retentionDay', 'retentionDays'],
    ['prodution', 'production'],
    ['clientauth', 'clientAuth'],
    ['CORSORIGINS', 'corsOrigins'],
    ['corsOrigin', 'corsOrigins'],
    ['logLevle', 'logLevel'],
    ['alarmEmial', 'alarmEmail'],
    ['stackname', 'stackName'],
  ])('%s is taken for %s', (typo, meant) => {
    expect(meantSetting(typo)).toBe(meant);
    expect(() => checkContextKeys([typo])).toThrow(new RegExp(`${typo} \\(did you mean ${meant}\\?\\)`));
  });

  it("passes the settings themselves, CDK's own keys and unrelated keys", () => {
    const keys = [
      ...SETTING_NAMES,
      '@aws-cdk/core:enablePartitionLiterals',
      '@aws-cdk/aws-iam:minimizePolicies',
      'aws:cdk:bundling-stacks',
      'aws:cdk:enable-path-metadata',
      'availability-zones:account=123456789012:region=us-east-1',
      'acknowledged-issue-numbers',
      'myTeamTag',
    ];
    expect(() => checkContextKeys(keys)).not.toThrow();
  });

  it('stops the app before anything is built, naming the setting', () => {
    expect(() => buildApp({ context: { retentionDay: '30' } })).toThrow(
      /retentionDay \(did you mean retentionDays\?\)/,
    );
    expect(() => buildApp({ context: { retentionDay: '30', prodution: 'false', clientauth: 'none' } })).toThrow(
      /retentionDays.*production.*clientAuth/,
    );
  });

  it('`npx cdk synth -c retentionDay=30` fails and names retentionDays', () => {
    const run = spawnSync(
      join(PROJECT_ROOT, 'node_modules', '.bin', 'cdk'),
      ['synth', '--no-notices', '--quiet', '-c', 'retentionDay=30'],
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' },
        timeout: 90_000,
      },
    );
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('did you mean retentionDays?');
  }, 120_000);
});

describe('settings that take a word', () => {
  const read = (ctx: Record<string, unknown>) => readSettings((k) => ctx[k]);
  it('take any case', () => {
    expect(read({ clientAuth: 'NONE' }).clientAuth).toBe('none');
    expect(read({ clientAuth: 'Jwt', jwtIssuer: 'https://i.example.com', jwtAudience: 'a' }).clientAuth).toBe('jwt');
    expect(read({ logLevel: 'warn' }).logLevel).toBe('WARN');
    expect(read({ production: 'FALSE' }).production).toBe(false);
    expect(read({ production: 'True' }).production).toBe(true);
  });
});

describe("the README's settings table", () => {
  it('lists exactly the settings there are', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('<!-- settings:start -->'), readme.indexOf('<!-- settings:end -->'));
    const names = [...section.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]);
    expect(names.sort()).toEqual([...SETTING_NAMES].sort());
  });
});
