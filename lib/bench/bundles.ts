/**
 * Builds every function of the route table (and the fallback route) the way the stack does: the
 * local esbuild with the options of `BUNDLING`, translated exactly as aws-cdk-lib's NodejsFunction
 * translates them into esbuild flags. Also builds the baseline: a bundle that only builds a DynamoDB
 * document client (and, when invoked, sends one GetItem), with the same options.
 */
import { mkdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { BUNDLING, PROJECT_ROOT } from '../clickstream-function.js';
import { fallbackRoute, routes } from '../routes.js';

export interface BundleTarget {
  /** Operation name (route table), or `baseline`. */
  name: string;
  logicalId: string;
  entry: string;
}

export interface BuiltBundle extends BundleTarget {
  dir: string;
  file: string;
  bytes: number;
  mapBytes: number;
}

/** Where bundles go: inside node_modules (ignored by git) so that a bundle with externals still resolves them. */
export const BENCH_CACHE_DIR = join(PROJECT_ROOT, 'node_modules', '.cache', 'clickstream-bench');

export const BASELINE_SOURCE = `// Baseline: only a DynamoDB document client (same client options as functions/storage/client.ts).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
const endpoint = process.env.DYNAMODB_ENDPOINT;
const client = DynamoDBDocumentClient.from(
  new DynamoDBClient({ ...(endpoint ? { endpoint } : {}), maxAttempts: 4, requestHandler: { connectionTimeout: 1000, requestTimeout: 4000 } }),
  { marshallOptions: { removeUndefinedValues: true } },
);
export const handler = async () => {
  const out = await client.send(new GetCommand({ TableName: process.env.TABLE_NAME, Key: { pk: 'BASELINE', sk: 'BASELINE' }, ConsistentRead: true }));
  return { statusCode: out.Item ? 200 : 404, body: '' };
};
`;

export function bundleTargets(): BundleTarget[] {
  return [
    ...routes.map((r) => ({ name: r.operation, logicalId: r.logicalId, entry: r.entry })),
    { name: fallbackRoute.operation, logicalId: fallbackRoute.logicalId, entry: fallbackRoute.entry },
  ];
}

type Bundling = typeof BUNDLING & {
  sourceMapMode?: string;
  keepNames?: boolean;
  define?: Record<string, string>;
  footer?: string;
  loader?: Record<string, string>;
};

/** esbuild options equivalent to the flags NodejsFunction passes for `BUNDLING`. */
export function esbuildOptions(entry: string, outfile: string, overrides: Partial<Bundling> = {}): esbuild.BuildOptions {
  const b: Bundling = { ...(BUNDLING as Bundling), ...overrides };
  const format = String(b.format) as esbuild.Format;
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: b.target,
    minify: b.minify ?? false,
    sourcemap: b.sourceMap ? ((b.sourceMapMode as esbuild.BuildOptions['sourcemap']) ?? true) : false,
    ...(b.sourcesContent !== undefined ? { sourcesContent: b.sourcesContent } : {}),
    ...(b.mainFields ? { mainFields: [...b.mainFields] } : {}),
    ...(b.banner ? { banner: { js: b.banner } } : {}),
    ...(b.footer ? { footer: { js: b.footer } } : {}),
    ...(b.keepNames ? { keepNames: true } : {}),
    ...(b.define ? { define: b.define } : {}),
    external: [...(b.externalModules ?? [])],
    logLevel: 'warning',
    absWorkingDir: PROJECT_ROOT,
  };
}

/**
 * For the start-up breakdown only: replaces modules (by import path as written) with stand-ins from
 * lib/bench/stubs, to measure what each part of a function costs. Never used for deployed bundles.
 */
export function stubPlugin(replacements: Record<string, string>): esbuild.Plugin {
  return {
    name: 'bench-stubs',
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        const to = replacements[args.path];
        return to ? { path: join(PROJECT_ROOT, 'lib', 'bench', 'stubs', to) } : undefined;
      });
    },
  };
}

/** Builds the functions and the baseline into `outDir/<logicalId>/index.mjs`. */
export async function buildBundles(
  outDir = join(BENCH_CACHE_DIR, 'bundles'),
  overrides: Partial<Bundling> = {},
  plugins: esbuild.Plugin[] = [],
): Promise<BuiltBundle[]> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const baselineEntry = join(outDir, 'baseline-entry.mjs');
  writeFileSync(baselineEntry, BASELINE_SOURCE);
  const targets: BundleTarget[] = [...bundleTargets(), { name: 'baseline', logicalId: 'Baseline', entry: baselineEntry }];
  const built: BuiltBundle[] = [];
  for (const t of targets) {
    const dir = join(outDir, t.logicalId);
    const file = join(dir, 'index.mjs');
    const entry = t.entry.startsWith('/') ? t.entry : join(PROJECT_ROOT, t.entry);
    await esbuild.build({ ...esbuildOptions(entry, file, overrides), ...(plugins.length > 0 ? { plugins } : {}) });
    const map = `${file}.map`;
    built.push({ ...t, dir, file, bytes: statSync(file).size, mapBytes: existsSync(map) ? statSync(map).size : 0 });
  }
  return built;
}
