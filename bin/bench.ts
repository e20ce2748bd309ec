/**
 * `npm run bench` (parts in test/bench/, methodology in docs/benchmarks.md). Options: --quick (shorter;
 * writes nothing unless --write), --write, --no-write, --soak (or BENCH_SOAK=1), --soak-ms N,
 * --concurrency N, --startup-runs N, --render (rewrite the docs from docs/benchmarks.json), --guard-only.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, type as osType, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { functionEnvironment, MAX_MAX_EVENTS_PER_SESSION } from '../functions/shared/config.js';
import { FUNCTION_RUNTIME_ENV, PROJECT_ROOT } from '../lib/clickstream-function.js';
import * as local from '../lib/local/dynamodb-local.js';
import { DEFAULT_SETTINGS, functionSettingsOf } from '../lib/settings.js';
import { ServerProcess } from '../test/robustness/support/server.js';
import { costRows } from '../test/bench/cost.js';
import { measureCreateConflicts } from '../test/bench/create-conflicts.js';
import { measureGuard } from '../test/bench/guard.js';
import { PRICES } from '../test/bench/prices.js';
import { docBlocks, guardTable, renderSummary } from '../test/bench/report.js';
import { buildBundles, measureStartup, STARTUP_FIXTURES } from '../test/bench/startup.js';
import { round } from '../test/bench/stats.js';
import { evaluateTargets, guardTarget, type Target } from '../test/bench/targets.js';

const flag = (d = false) => ({ type: 'boolean', default: d }) as const;
const option = (d?: string) => ({ type: 'string', ...(d === undefined ? {} : { default: d }) }) as const;
const { values } = parseArgs({
  options: {
    ...{ quick: flag(), write: { type: 'boolean' }, 'no-write': flag(), render: flag(), 'guard-only': flag() },
    ...{ soak: flag(['1', 'true'].includes(process.env.BENCH_SOAK ?? '')), 'soak-ms': option() },
    ...{ concurrency: option('8'), 'startup-runs': option() },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const file = (name: string) => join(PROJECT_ROOT, name);

/** Replaces what sits between each pair of markers (kept) in a file; the text unchanged where a pair is missing. */
type Block = [start: string, end: string, content: string];
function replaceBlocks(name: string, blocks: Block[]): void {
  let text = readFileSync(file(name), 'utf8');
  for (const [start, end, content] of blocks) {
    const [i, j] = [text.indexOf(start), text.indexOf(end, text.indexOf(start) + start.length)];
    if (i >= 0 && j > i) text = `${text.slice(0, i + start.length)}\n${content}\n${text.slice(j)}`;
  }
  writeFileSync(file(name), text);
}

/** docs/benchmarks.json (when `json`), the blocks of docs/benchmarks.md, and the README table between its markers. */
function writeOutputs(r: BenchResults, json: boolean): void {
  if (json) writeFileSync(file('docs/benchmarks.json'), `${JSON.stringify(r, null, 2)}\n`);
  const md = Object.entries(docBlocks(r)).map(([k, b]) => [`<!-- bench:${k} -->`, `<!-- /bench:${k} -->`, b] as Block);
  replaceBlocks('docs/benchmarks.md', md);
  replaceBlocks('README.md', [['<!-- bench:start -->', '<!-- bench:end -->', renderSummary(r)]]);
  log(`Wrote ${json ? 'docs/benchmarks.json, ' : ''}docs/benchmarks.md and the README's benchmark table`);
}

if (values.render) {
  writeOutputs(JSON.parse(readFileSync(file('docs/benchmarks.json'), 'utf8')) as BenchResults, false);
  process.exit(0);
}
if (values['guard-only']) {
  const guard = measureGuard();
  const t = guardTarget(guard);
  log(`${guardTable(guard)}\n${t.key}: ${t.measured} (limit ${t.limit}x): ${t.met ? 'met' : 'MISSED'}`);
  process.exit(0);
}
const quick = values.quick;
const write = values['no-write'] ? false : (values.write ?? !quick);
const [q, soakMs] = [(short: number, full: number) => (quick ? short : full), values['soak-ms']];
const plan = {
  ...{ quick, startupRuns: Number(values['startup-runs'] ?? q(20, 60)), warmCreates: q(60, 100), creates: q(100, 320) },
  ...{ readSessions: q(1_000, 2_000), durationCount: q(40, 100), durationMaxMs: q(8_000, 20_000) },
  ...{ concurrency: Number(values.concurrency), rounds: q(1, 3), segmentMs: q(6_000, 10_000) },
  ...{ soak: values.soak, soakMs: Number(soakMs ?? q(20_000, 60_000)) },
};
if (plan.startupRuns < 20) throw new Error('--startup-runs must be at least 20');

const started = Date.now();
/** The machine the run happens on. */
const host = {
  cpuModel: cpus()[0]?.model?.trim() || 'unknown',
  cores: cpus().length,
  memoryGb: round(totalmem() / 1024 ** 3, 1),
  os: `${osType()} ${release()}`,
  node: process.version,
  java: spawnSync('java', ['-version'], { encoding: 'utf8' }).stderr?.split('\n')[0]?.trim() || 'unknown',
  date: new Date().toISOString(),
  loadAverageAtStart: loadavg().map((l) => round(l, 2)),
};
log(`clickstream bench${quick ? ' (quick)' : ''}: ${host.cpuModel}, ${host.cores} cores, Node ${host.node}`);
const dynamo = await local.startDynamoDbLocal();
process.once('exit', () => dynamo.kill()); // also when the run fails or is interrupted
log(`DynamoDB Local at ${dynamo.endpoint}`);
const runId = randomUUID().slice(0, 8);
const memoryMb = DEFAULT_SETTINGS.memorySize;

// The throughput segments push more events into their few sessions than the production cap
// allows; the highest cap costs the same (one counter reservation a push) and never refuses.
const settings = { ...functionSettingsOf(DEFAULT_SETTINGS), maxEventsPerSession: MAX_MAX_EVENTS_PER_SESSION };
/** The environment the stack gives every function (lib/clickstream-stack.ts), pointed at DynamoDB Local. */
const functionEnv = (tableName: string, name: string, extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/tmp',
  ...functionEnvironment(tableName, settings),
  ...FUNCTION_RUNTIME_ENV,
  CLICKSTREAM_ERASURE_KEY: 'bench-erasure-key',
  ...local.LOCAL_AWS_ENV,
  AWS_DEFAULT_REGION: local.LOCAL_REGION,
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
  AWS_LAMBDA_FUNCTION_NAME: name,
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  DYNAMODB_ENDPOINT: dynamo.endpoint,
  // Only because Node here is older than Lambda's Node 24: keeps the SDK's support warning quiet.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  ...extra,
});

/** Every figure of a run (each segment in turn), on a DynamoDB Local of its own. */
async function measureAll(dynamo: local.DynamoDbLocal) {
  // Start-up, in fresh processes.
  await local.ensureTable(dynamo.endpoint, 'bench-startup');
  const fixtures = local.localClient(dynamo.endpoint);
  for (const Item of STARTUP_FIXTURES.map((item) => marshall(item)))
    await fixtures.send(new PutItemCommand({ TableName: 'bench-startup', Item }));
  fixtures.destroy();
  const bundles = await buildBundles();
  log(`Start-up: ${bundles.length} bundles, ${plan.startupRuns} fresh processes each, interleaved`);
  const startup = await measureStartup(bundles, plan.startupRuns, functionEnv('bench-startup', 'bench-startup'), log);

  // Capacity and durations, in this process (the functions' environment set before their modules load).
  Object.assign(process.env, functionEnv('bench-capacity', 'bench-in-process', { AWS_LAMBDA_LOG_LEVEL: 'INFO' }));
  await local.ensureTable(dynamo.endpoint, 'bench-capacity');
  const { measureCapacity } = await import('../test/bench/capacity.js');
  const { measureDurations } = await import('../test/bench/durations.js');
  log('Capacity: the real handlers in this process, ReturnConsumedCapacity on every call');
  const capacity = await measureCapacity({ ...plan, runId, log });
  log('Durations: warm invocations, one at a time');
  const durations = await measureDurations({ ...plan, runId, memoryMb });

  // Throughput and the soak, against the local server in its own process.
  const { measureThroughput } = await import('../test/bench/throughput.js');
  await local.ensureTable(dynamo.endpoint, 'bench-throughput');
  const EXPORT_DIR = join(tmpdir(), `clickstream-bench-exports-${runId}`);
  // npm start's own defaults left aside: logs at INFO and metrics on, as in Lambda.
  const env = functionEnv('bench-throughput', 'bench-local-server', { AWS_LAMBDA_LOG_LEVEL: 'INFO', EXPORT_DIR });
  const server = await ServerProcess.start(dynamo.endpoint, env);
  log(`Throughput: local server at ${server.baseUrl}, concurrency ${plan.concurrency}`);
  let throughput, soak;
  try {
    throughput = await measureThroughput({ ...plan, server, env, runId, log });
    if (plan.soak) {
      const { runSoak } = await import('../test/bench/soak.js');
      soak = await runSoak({ origin: server.origin, durationMs: plan.soakMs, log: (line) => log(`  soak: ${line}`) });
    }
  } finally {
    await server.stop();
    rmSync(EXPORT_DIR, { recursive: true, force: true });
  }

  log('JSON guard: adversarial bodies of about 1 MiB against JSON.parse');
  const guard = measureGuard(q(7, 15));

  log('Creates on one shard under the transaction conflict simulation: this design, then the previous one');
  const conflicts = await measureCreateConflicts(dynamo.endpoint, q(4, 8));
  const rate = (c: typeof conflicts.design) => `${c.perSecond.toFixed(1)} (${c.conflicts} refused)`;
  log(`  creates/s: ${rate(conflicts.design)} vs ${rate(conflicts.previous)}`);

  // Cost from capacity and durations; the targets below.
  return {
    ...{ version: 1, machine: host, plan, memoryMb, prices: PRICES, startup: { results: startup }, capacity },
    ...{ durations, throughput, cost: costRows(capacity, durations, memoryMb), ...(soak ? { soak } : {}) },
    ...{ guard, conflicts, seconds: Math.round((Date.now() - started) / 1000) },
  };
}
export type Figures = Awaited<ReturnType<typeof measureAll>>;
export type BenchResults = Figures & { targets: Target[] };

const figures = await measureAll(dynamo).finally(() => dynamo.stop());
const results: BenchResults = { ...figures, targets: evaluateTargets(figures) };

// The console shows the same tables as docs/benchmarks.md.
for (const [name, block] of Object.entries(docBlocks(results))) process.stdout.write(`[${name}]\n${block}\n\n`);
if (write) writeOutputs(results, true);
else log(`Nothing written (${quick ? '--quick writes only with --write' : '--no-write'})`);
log(`Done in ${results.seconds} s`);
process.exit(0);
