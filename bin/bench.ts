/**
 * `npm run bench`: start-up, DynamoDB capacity, throughput and cost of the service, each beside its
 * floor. Starts its own DynamoDB Local (in memory), prints a table, writes docs/benchmarks.json and
 * docs/benchmarks.md, and refreshes the table between `<!-- bench:start -->` and
 * `<!-- bench:end -->` in README.md when those markers are there.
 *
 * Options: --quick (a shorter run), --soak (or BENCH_SOAK=1: also run lib/bench/soak.ts if it exists),
 * --soak-ms N, --concurrency N, --startup-runs N, --no-variants, --no-write (print only),
 * --render (measure nothing: rewrite docs/benchmarks.md and the README table from docs/benchmarks.json),
 * --guard-only (only the JSON guard on adversarial bodies, guard_worst_ratio: printed, nothing written).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { BUNDLING, FUNCTION_RUNTIME_ENV, PROJECT_ROOT } from '../lib/clickstream-function.js';
import { ensureTable, javaProblem, LOCAL_CREDENTIALS, LOCAL_REGION, localClient, startDynamoDbLocal } from '../lib/local/dynamodb-local.js';
import { DEFAULT_SETTINGS } from '../lib/settings.js';
import { MAX_MAX_EVENTS_PER_SESSION } from '../functions/shared/config.js';
import { BENCH_CACHE_DIR, buildBundles, stubPlugin } from '../lib/bench/bundles.js';
import { measureStartup, STARTUP_FIXTURES, type StartupTarget } from '../lib/bench/startup.js';
import { machine } from '../lib/bench/machine.js';
import { renderConsole, renderMarkdown, renderSummary, type BenchResults, type StartupVariant } from '../lib/bench/report.js';
import { PRICES } from '../lib/bench/prices.js';
import { costRows } from '../lib/bench/cost.js';
import { evaluateTargets, guardTarget } from '../lib/bench/targets.js';
import { measureGuard } from '../lib/bench/guard.js';
import { PUT_CONCURRENCY } from '../lib/bench/floor.js';
import { BLOCK_SIZE } from '../functions/domain/allocation.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    soak: { type: 'boolean', default: process.env.BENCH_SOAK === '1' || process.env.BENCH_SOAK === 'true' },
    'soak-ms': { type: 'string' },
    concurrency: { type: 'string', default: '8' },
    'startup-runs': { type: 'string' },
    'no-variants': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    render: { type: 'boolean', default: false },
    'guard-only': { type: 'boolean', default: false },
  },
});

/** docs/benchmarks.json (when `json`), docs/benchmarks.md, and the README table between its markers. */
function writeOutputs(r: BenchResults, json: boolean): void {
  const docs = join(PROJECT_ROOT, 'docs');
  mkdirSync(docs, { recursive: true });
  if (json) writeFileSync(join(docs, 'benchmarks.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(docs, 'benchmarks.md'), renderMarkdown(r));
  process.stderr.write(`Wrote ${json ? 'docs/benchmarks.json and ' : ''}docs/benchmarks.md\n`);
  const readme = join(PROJECT_ROOT, 'README.md');
  if (!existsSync(readme)) return;
  const text = readFileSync(readme, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) {
    writeFileSync(readme, `${text.slice(0, i + start.length)}\n${renderSummary(r)}\n${text.slice(j)}`);
    process.stderr.write('Updated the benchmark table in README.md\n');
  }
}

if (values.render) {
  const saved = JSON.parse(readFileSync(join(PROJECT_ROOT, 'docs', 'benchmarks.json'), 'utf8')) as BenchResults;
  writeOutputs(saved, false);
  process.exit(0);
}

if (values['guard-only']) {
  const guard = measureGuard();
  for (const row of guard.rows) {
    process.stdout.write(`${row.shape.padEnd(32)} ${(row.bytes / 1024).toFixed(0).padStart(5)} KB  guard ${row.guardMsPerMib.toFixed(1).padStart(7)} ms/MiB  JSON.parse ${row.parseMsPerMib.toFixed(1).padStart(7)} ms/MiB  ${row.ratio.toFixed(2)}x\n`);
  }
  const t = guardTarget(guard);
  process.stdout.write(`${t.key}: ${t.measured} (limit ${t.limit}x): ${t.met ? 'met' : 'MISSED'}\n`);
  process.exit(0);
}

const quick = values.quick === true;
const plan = {
  quick,
  startupRuns: Number(values['startup-runs'] ?? (quick ? 20 : 40)),
  variants: !values['no-variants'],
  warmCreates: quick ? 60 : 100,
  creates: quick ? 100 : 320,
  readSessions: quick ? 1_000 : 2_000,
  durationCount: quick ? 40 : 100,
  durationMaxMs: quick ? 8_000 : 20_000,
  concurrency: Number(values.concurrency),
  rounds: quick ? 1 : 3,
  segmentMs: quick ? 6_000 : 10_000,
  soak: values.soak === true,
  soakMs: Number(values['soak-ms'] ?? (quick ? 20_000 : 60_000)),
};
if (plan.startupRuns < 20) throw new Error('--startup-runs must be at least 20');

const log = (line: string) => process.stderr.write(`${line}\n`);
const started = Date.now();
const problem = javaProblem();
if (problem) {
  console.error(problem);
  process.exit(1);
}

const host = machine();
log(`clickstream bench${quick ? ' (quick)' : ''}: ${host.cpuModel}, ${host.cores} cores, Node ${host.node}`);
const dynamo = await startDynamoDbLocal();
process.once('exit', () => dynamo.kill()); // also when the run fails or is interrupted
log(`DynamoDB Local at ${dynamo.endpoint}`);
const runId = randomUUID().slice(0, 8);
const memoryMb = DEFAULT_SETTINGS.memorySize;

/** The environment the stack gives every function (lib/clickstream-stack.ts), pointed at DynamoDB Local. */
function functionEnv(tableName: string, name: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    TABLE_NAME: tableName,
    CLICKSTREAM_TIME_MAX_DELTA_MINUS_SEC: String(DEFAULT_SETTINGS.timeMaxDeltaMinusSec),
    CLICKSTREAM_TIME_MAX_DELTA_PLUS_SEC: String(DEFAULT_SETTINGS.timeMaxDeltaPlusSec),
    CLICKSTREAM_BATCH_SHARDS: String(DEFAULT_SETTINGS.batchShards),
    CLICKSTREAM_RETENTION_DAYS: String(DEFAULT_SETTINGS.retentionDays),
    // The throughput segments push more events into their few sessions than the production cap
    // allows; the highest cap costs the same (one counter reservation a push) and never refuses.
    CLICKSTREAM_MAX_EVENTS_PER_SESSION: String(MAX_MAX_EVENTS_PER_SESSION),
    ...FUNCTION_RUNTIME_ENV,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    // Only because Node here is older than Lambda's Node 24: keeps the SDK's support warning quiet.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

let results: BenchResults | undefined;
try {
  // ---------------------------------------------------------------- 1. start-up
  await ensureTable(dynamo.endpoint, 'bench-startup');
  const fixtures = localClient(dynamo.endpoint);
  for (const item of STARTUP_FIXTURES) await fixtures.send(new PutItemCommand({ TableName: 'bench-startup', Item: marshall(item) }));
  fixtures.destroy();
  mkdirSync(BENCH_CACHE_DIR, { recursive: true });
  const deployed: StartupTarget[] = (await buildBundles()).map((b) => ({ ...b, key: b.name, group: 'deployed' }));
  const startupEnv = functionEnv('bench-startup', 'bench-startup');

  // Every handler imports its schemas from ../schemas/<name>.js (functions/schemas): all get the one stand-in.
  const SCHEMA_STUBS = Object.fromEntries(
    readdirSync(join(PROJECT_ROOT, 'functions', 'schemas')).map((f) => [`../schemas/${f.replace(/\.ts$/, '.js')}`, 'schemas.ts']),
  );
  // Alternatives to the deployed bundling (push_events and a baseline built the same way), and
  // diagnostic builds with one part replaced (push_events only; compared with the deployed baseline).
  const variantSpecs: {
    name: string;
    description: string;
    kind: 'bundling' | 'breakdown';
    overrides?: Parameters<typeof buildBundles>[1];
    stubs?: Record<string, string>;
    nodeOptions?: string;
  }[] = plan.variants
    ? [
        { name: 'source-maps-on', kind: 'bundling', description: 'NODE_OPTIONS=--enable-source-maps (the stack\'s former setting)', nodeOptions: '--enable-source-maps' },
        { name: 'sdk-external', kind: 'bundling', description: '@aws-sdk/* left out of the bundle (loaded from node_modules, as from the Lambda runtime\'s SDK)', overrides: { externalModules: ['@aws-sdk/*'] } },
        { name: 'keep-names', kind: 'bundling', description: 'esbuild keepNames (readable function names in stack traces without source maps)', overrides: { keepNames: true } },
        { name: 'without-zod', kind: 'breakdown', description: 'request schemas replaced by pass-through stand-ins (no zod)', stubs: SCHEMA_STUBS },
        {
          name: 'without-powertools',
          kind: 'breakdown',
          description: 'Powertools Logger and Metrics replaced by no-op stand-ins',
          stubs: { '@aws-lambda-powertools/logger': 'powertools-logger.ts', '@aws-lambda-powertools/metrics': 'powertools-metrics.ts' },
        },
        { name: 'without-stream-web', kind: 'breakdown', description: 'node:stream/web (imported by @middy/core for streaming) replaced by a stand-in', stubs: { 'node:stream/web': 'stream-web.ts' } },
      ]
    : [];
  const variantTargets: StartupTarget[] = [];
  for (const v of variantSpecs) {
    const plugins = v.stubs ? [stubPlugin(v.stubs)] : [];
    const built = await buildBundles(join(BENCH_CACHE_DIR, `variant-${v.name}`), v.overrides ?? {}, plugins);
    const wanted = v.kind === 'bundling' ? ['push_events', 'baseline'] : ['push_events'];
    for (const b of built.filter((x) => wanted.includes(x.name))) {
      variantTargets.push({ ...b, key: `${b.name}@${v.name}`, group: v.name, ...(v.nodeOptions ? { env: { NODE_OPTIONS: v.nodeOptions } } : {}) });
    }
  }
  log(`Start-up: ${deployed.length} bundles${variantTargets.length ? ` and ${variantTargets.length} variant bundles` : ''}, ${plan.startupRuns} fresh processes each, interleaved`);
  const measured = await measureStartup({ bundles: [...deployed, ...variantTargets], runs: plan.startupRuns, env: startupEnv, workDir: BENCH_CACHE_DIR, log });
  const startup = measured.filter((m) => m.group === 'deployed');
  const variants: StartupVariant[] = variantSpecs.length
    ? [
        { name: 'deployed', kind: 'bundling', description: 'as deployed (the figures above)', results: startup.filter((m) => m.name === 'push_events' || m.name === 'baseline') },
        ...variantSpecs.map((v) => ({ name: v.name, kind: v.kind, description: v.description, results: measured.filter((m) => m.group === v.name) })),
      ]
    : [];

  // ---------------------------------------------------------------- 2. capacity and 3. durations (in this process)
  const capacityTable = 'bench-capacity';
  await ensureTable(dynamo.endpoint, capacityTable);
  Object.assign(process.env, functionEnv(capacityTable, 'bench-in-process'));
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  const { documentClient } = await import('../functions/storage/client.js');
  const { CapacityMeter } = await import('../lib/bench/capacity-meter.js');
  const { Invoker } = await import('../lib/bench/invoke.js');
  const { measureCapacity, itemSizer } = await import('../lib/bench/capacity.js');
  const { measureDurations } = await import('../lib/bench/durations.js');
  const inspect = localClient(dynamo.endpoint);
  const meter = new CapacityMeter(itemSizer(inspect));
  meter.attach(documentClient());
  const invoker = new Invoker();
  log('Capacity: the real handlers in this process, ReturnConsumedCapacity on every call');
  const capacity = await measureCapacity({ invoker, meter, inspect, tableName: capacityTable, warmCreates: plan.warmCreates, creates: plan.creates, readSessions: plan.readSessions, runId, log });
  meter.detach();
  log('Durations: warm invocations, one at a time');
  const durations = await measureDurations({ invoker, memoryMb, runId, count: plan.durationCount, maxMsPerScenario: plan.durationMaxMs });
  inspect.destroy();

  // ---------------------------------------------------------------- 4. throughput (local server in its own process)
  const { startServerProcess, measureThroughput } = await import('../lib/bench/throughput.js');
  const throughputTable = 'bench-throughput';
  await ensureTable(dynamo.endpoint, throughputTable);
  const exportDir = join(tmpdir(), `clickstream-bench-exports-${runId}`);
  const serverEnv = { ...functionEnv(throughputTable, 'bench-local-server'), POWERTOOLS_LOG_LEVEL: 'INFO', EXPORT_DIR: exportDir };
  const server = await startServerProcess(serverEnv);
  log(`Throughput: local server at ${server.baseUrl}, concurrency ${plan.concurrency}`);
  let throughput;
  let soak: Record<string, unknown> | undefined;
  try {
    throughput = await measureThroughput({
      server,
      endpoint: dynamo.endpoint,
      env: serverEnv,
      floorTable: 'bench-floor',
      tableName: throughputTable,
      concurrency: plan.concurrency,
      rounds: plan.rounds,
      segmentMs: plan.segmentMs,
      runId,
      shards: DEFAULT_SETTINGS.batchShards,
      log,
    });

    // ---------------------------------------------------------------- 6. soak (optional)
    if (plan.soak) {
      const soakFile = join(PROJECT_ROOT, 'lib', 'bench', 'soak.ts');
      if (existsSync(soakFile)) {
        log(`Soak: lib/bench/soak.ts for ${plan.soakMs / 1000} s against ${server.baseUrl}`);
        const mod = (await import(pathToFileURL(soakFile).href)) as {
          runSoak?: (options: { baseUrl: string; durationMs: number; log?: (line: string) => void }) => Promise<Record<string, unknown>>;
        };
        if (typeof mod.runSoak !== 'function') throw new Error('lib/bench/soak.ts does not export runSoak');
        soak = await mod.runSoak({ baseUrl: server.baseUrl, durationMs: plan.soakMs, log: (line) => log(`  soak: ${line}`) });
      } else {
        log('Soak: asked for, but lib/bench/soak.ts does not exist yet; skipped');
        soak = { skipped: 'lib/bench/soak.ts does not exist' };
      }
    }
  } finally {
    await server.stop();
    rmSync(exportDir, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- 7. the JSON guard on adversarial bodies (in this process)
  log('JSON guard: adversarial bodies of about 1 MiB against JSON.parse');
  const guard = measureGuard(quick ? 7 : 15);

  // ---------------------------------------------------------------- 5. cost, targets, output
  const cost = costRows(capacity, durations, memoryMb);
  const partial = {
    version: 1,
    machine: host,
    plan,
    memoryMb,
    settings: { batchShards: DEFAULT_SETTINGS.batchShards, blockSize: BLOCK_SIZE, putConcurrency: PUT_CONCURRENCY, memoryMb },
    prices: PRICES,
    bundling: { ...BUNDLING, nodeOptions: FUNCTION_RUNTIME_ENV.NODE_OPTIONS ?? '' },
    startup: { results: startup, variants },
    capacity,
    durations,
    throughput: throughput!,
    cost,
    ...(soak ? { soak } : {}),
    guard,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  results = { ...partial, targets: evaluateTargets(partial) };
} finally {
  await dynamo.stop();
}

const r = results!;
process.stdout.write(`${renderConsole(r)}\n`);
if (!values['no-write']) writeOutputs(r, true);
log(`Done in ${r.seconds} s`);
process.exit(0);
