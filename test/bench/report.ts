/**
 * The console table, and the generated parts of docs/benchmarks.md and README.md, from one run's
 * figures. docs/benchmarks.md is written by hand; the bench rewrites only what sits between its
 * `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers (and README.md between its
 * `<!-- bench:start -->` and `<!-- bench:end -->`).
 */
import type { CapacityRow } from './capacity.js';
import type { CostRow } from './cost.js';
import type { DurationRow } from './durations.js';
import type { GuardResult } from './guard.js';
import type { ConflictFigures } from './create-conflicts.js';
import type { Machine } from './machine.js';
import type { PRICES } from './prices.js';
import type { StartupResult } from './startup.js';
import { fmt, fmtRatio, kb, mdTable, textTable, usd } from './stats.js';
import type { Target } from './targets.js';
import type { ThroughputResult } from './throughput.js';

export interface BenchResults {
  version: number;
  machine: Machine;
  plan: Record<string, unknown>;
  memoryMb: number;
  /** Settings the figures depend on. */
  settings: { batchShards: number; blockSize: number; putConcurrency: number; memoryMb: number };
  prices: typeof PRICES;
  bundling: Record<string, unknown>;
  startup: { results: StartupResult[] };
  capacity: CapacityRow[];
  durations: DurationRow[];
  throughput: ThroughputResult;
  cost: CostRow[];
  soak?: Record<string, unknown>;
  /** The JSON guard on adversarial bodies (guard_worst_ratio). */
  guard: GuardResult;
  /** create_session on one shard under the conflict simulation (create_conflict_throughput). */
  conflicts?: ConflictFigures;
  seconds: number;
  targets: Target[];
}

type Table = [header: string[], rows: string[][], align?: ('l' | 'r')[]];
const machineLine = (m: Machine) =>
  `${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}; Node ${m.node}; ${m.java}; ${m.date.slice(0, 16).replace('T', ' ')} UTC`;

const startupTable = (results: StartupResult[]): Table => [
  [
    'function',
    'bundle',
    'map',
    'import ms',
    '1st request ms',
    'of which DynamoDB',
    'init ms',
    'vs baseline',
    'CPU vs baseline',
    'with round trips ms',
    'vs baseline',
    'DynamoDB calls',
  ],
  results.map((r) => [
    r.name,
    kb(r.bytes),
    kb(r.mapBytes),
    fmt(r.importMs),
    fmt(r.firstMs),
    fmt(r.waitMs),
    fmt(r.initMs),
    fmtRatio(r.initRatio!),
    fmtRatio(r.coldCpuRatio!),
    fmt(r.coldMs),
    fmtRatio(r.coldRatio!),
    r.dynamo,
  ]),
  ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
];

const capacityTable = (rows: CapacityRow[]): Table => [
  ['operation', 'scenario', 'RRU', 'WRU', 'floor RRU', 'floor WRU', 'cost vs floor'],
  rows.map((r) => [
    r.operation,
    r.scenario,
    fmt(r.reads, 2),
    fmt(r.writes, 2),
    fmt(r.floorReads, 2),
    fmt(r.floorWrites, 2),
    fmtRatio(r.ratio),
  ]),
  ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
];

const callsTable = (rows: CapacityRow[]): Table => [
  ['operation: scenario', 'floor: the cheapest way', 'DynamoDB calls made (units)'],
  rows.map((c) => {
    const calls = Object.entries(c.byOp).map(
      ([op, v]) => `${op} ${fmt(v.calls, v.calls % 1 ? 2 : 0)} (${fmt(v.units, v.units % 1 ? 2 : 0)})`,
    );
    return [`${c.operation}: ${c.scenario}`, c.floor, calls.join(', ')];
  }),
  ['l', 'l', 'l'],
];

function throughputTable(t: ThroughputResult): Table {
  const ratio = (r: ThroughputResult['rows'][number]) => {
    const floor = t.rows.find(
      (x) => x.mode === 'floor' && x.scenario === (r.scenario === 'batch_export' ? 'batch_read' : r.scenario),
    );
    return r.mode === 'floor' ? '1.00x' : fmtRatio(floor ? r.itemsPerSec / floor.itemsPerSec : Number.NaN);
  };
  return [
    ['scenario', 'path', 'requests', 'items/s', 'requests/s', 'p50 ms', 'p99 ms', 'vs floor'],
    t.rows.map((r) => [
      r.scenario,
      r.mode === 'api' ? 'local HTTP server' : 'SDK floor',
      String(r.requests),
      fmt(r.itemsPerSec, 0),
      fmt(r.requestsPerSec, 1),
      fmt(r.p50Ms),
      fmt(r.p99Ms),
      ratio(r),
    ]),
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
  ];
}

const costTable = (rows: CostRow[]): Table => [
  [
    'per million',
    'items a request',
    'DynamoDB reads',
    'DynamoDB writes',
    'HTTP API',
    'Lambda requests',
    'Lambda GB-s',
    'total',
    'floor',
    'vs floor',
    'logs (apart)',
  ],
  rows.map((r) => {
    const money = [r.dynamoReads, r.dynamoWrites, r.httpApi, r.lambdaRequests, r.lambdaDuration, r.total, r.floor].map(
      usd,
    );
    return [
      r.unit === 'event' ? 'events' : 'sessions',
      String(r.itemsPerRequest),
      ...money,
      fmtRatio(r.ratio),
      usd(r.logs),
    ];
  }),
];

const durationTable = (rows: DurationRow[], memoryMb: number): Table => [
  [
    'handler',
    'scenario',
    'calls',
    'p50 ms',
    'p99 ms',
    'mean ms',
    'CPU ms (mean)',
    `Lambda ${memoryMb} MB est. ms`,
    'log bytes',
  ],
  rows.map((d) => [
    d.operation,
    d.scenario,
    String(d.count),
    fmt(d.p50Ms),
    fmt(d.p99Ms),
    fmt(d.meanMs),
    fmt(d.cpuMeanMs),
    fmt(d.lambdaMs),
    String(d.logBytes),
  ]),
  ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
];

const guardTable = (g: GuardResult): Table => [
  ['body', 'KB', 'guard ms/MiB', 'JSON.parse ms/MiB', 'ratio'],
  g.rows.map((r) => [r.shape, fmt(r.bytes / 1024, 0), fmt(r.guardMsPerMib), fmt(r.parseMsPerMib), fmtRatio(r.ratio)]),
];

const pricesTable = (p: typeof PRICES): Table => [
  ['item', `price (${p.region})`],
  [
    ['DynamoDB on-demand writes (Standard table class)', `$${(p.dynamoWritePerUnit * 1e6).toFixed(3)} per million WRU`],
    ['DynamoDB on-demand reads', `$${(p.dynamoReadPerUnit * 1e6).toFixed(3)} per million RRU`],
    ['API Gateway HTTP API', `$${(p.httpApiPerRequest * 1e6).toFixed(2)} per million requests (metered per 512 KB)`],
    ['Lambda requests', `$${(p.lambdaPerRequest * 1e6).toFixed(2)} per million`],
    ['Lambda duration, ARM64', `$${p.lambdaArmPerGbSecond} per GB-s`],
    ['CloudWatch Logs ingestion (apart)', `$${p.logsPerGb.toFixed(2)} per GB`],
  ],
  ['l', 'l'],
];

const targetsTable = (targets: Target[]): Table => [
  ['target', 'measured', ''],
  targets.map((t) => [t.target, t.measured, t.met ? 'met' : '**missed**']),
  ['l', 'l', 'l'],
];

/** Flattens the soak's figures into rows. */
function flatten(value: unknown, prefix = ''): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [
      [
        prefix || 'value',
        typeof value === 'number'
          ? String(Math.round(value * 1000) / 1000)
          : Array.isArray(value)
            ? JSON.stringify(value)
            : String(value),
      ],
    ];
  }
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    flatten(v, prefix ? `${prefix}.${k}` : k),
  );
}

export function renderConsole(r: BenchResults): string {
  const parts: [string, Table][] = [
    ['Start-up (medians; init = import + first request - DynamoDB waits)', startupTable(r.startup.results)],
    ['DynamoDB capacity per request (RRU/WRU = read/write request units)', capacityTable(r.capacity)],
    [`Throughput at concurrency ${r.throughput.concurrency}`, throughputTable(r.throughput)],
    [`Cost in ${r.prices.region}, USD`, costTable(r.cost)],
    ['Targets', [['target', 'measured', ''], r.targets.map((t) => [t.target, t.measured, t.met ? 'met' : 'MISSED'])]],
  ];
  return [
    `Machine: ${machineLine(r.machine)}`,
    ...parts.map(([title, table]) => `${title}\n${textTable(table[0], table[1])}`),
  ].join('\n\n');
}

/** The generated blocks of docs/benchmarks.md, by marker name. */
export function docBlocks(r: BenchResults): Record<string, string> {
  const m = r.machine;
  return {
    run: [
      `Figures of \`npm run bench\`${r.plan.quick ? ' (with `--quick`)' : ''}, run on ${m.date.slice(0, 10)} in ${r.seconds} s (\`docs/benchmarks.json\` holds them all).`,
      `**Machine:** ${machineLine(m)}. Load average when the run started: ${m.loadAverageAtStart.join(', ')}.`,
    ].join('\n'),
    targets: mdTable(...targetsTable(r.targets)),
    startup: mdTable(...startupTable(r.startup.results)),
    capacity: mdTable(...capacityTable(r.capacity)),
    calls: mdTable(...callsTable(r.capacity)),
    throughput: mdTable(...throughputTable(r.throughput)),
    prices: `${mdTable(...pricesTable(r.prices))}\n\n${r.prices.checked}.`,
    durations: mdTable(...durationTable(r.durations, r.memoryMb)),
    cost: mdTable(...costTable(r.cost)),
    guard: mdTable(...guardTable(r.guard)),
    soak: r.soak
      ? mdTable(['figure', 'value'], flatten(r.soak), ['l', 'l'])
      : 'Not run in the latest run (`npm run bench -- --soak`).',
  };
}

/** The README's section between its markers. */
export function renderSummary(r: BenchResults): string {
  const api = (s: string) => r.throughput.rows.find((x) => x.scenario === s && x.mode === 'api')!;
  const [push, create] = [api('push_events'), api('create_session')];
  const ev = r.cost.find((c) => c.key === 'events_100')!;
  const ses = r.cost.find((c) => c.key === 'sessions')!;
  const fns = r.startup.results.filter((s) => s.name !== 'baseline');
  const base = r.startup.results.find((s) => s.name === 'baseline')!;
  return [
    '## Benchmarks',
    '',
    `Latest \`npm run bench\`${r.plan.quick ? ' (--quick)' : ''}: ${machineLine(r.machine)}. What each figure measures, its floor, and the`,
    "reasons behind every ratio and every missed target: [docs/benchmarks.md](docs/benchmarks.md) (the bench's code: `test/bench/`).",
    '',
    mdTable(...targetsTable(r.targets)),
    '',
    mdTable(
      ['figure', 'value'],
      [
        [
          'start-up: init, median (slowest function / SDK-only baseline)',
          `${fmt(Math.max(...fns.map((s) => s.initMs)))} ms / ${fmt(base.initMs)} ms`,
        ],
        ['largest bundle', kb(Math.max(...fns.map((s) => s.bytes)))],
        [
          `push_events, 100 events a request, concurrency ${r.throughput.concurrency}`,
          `${fmt(push.itemsPerSec, 0)} events/s, p50 ${fmt(push.p50Ms)} ms, p99 ${fmt(push.p99Ms)} ms`,
        ],
        [
          `create_session, concurrency ${r.throughput.concurrency}`,
          `${fmt(create.itemsPerSec, 0)} sessions/s, p50 ${fmt(create.p50Ms)} ms, p99 ${fmt(create.p99Ms)} ms`,
        ],
        [`cost per million events (100 a request, ${r.prices.region})`, `${usd(ev.total)} (floor ${usd(ev.floor)})`],
        [`cost per million sessions (${r.prices.region})`, `${usd(ses.total)} (floor ${usd(ses.floor)})`],
      ],
      ['l', 'l'],
    ),
  ].join('\n');
}

/** Replaces what sits between `start` and `end` (markers kept); the text unchanged where a pair is missing. */
export function replaceBetween(text: string, start: string, end: string, content: string): string {
  const i = text.indexOf(start);
  const j = text.indexOf(end, i + start.length);
  return i >= 0 && j > i ? `${text.slice(0, i + start.length)}\n${content}\n${text.slice(j)}` : text;
}
