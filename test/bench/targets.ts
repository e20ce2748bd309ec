/** The targets, evaluated on a run's figures. */
import type { CapacityRow } from './capacity.js';
import type { CostRow } from './cost.js';
import type { GuardResult } from './guard.js';
import type { StartupResult } from './startup.js';
import type { ThroughputResult } from './throughput.js';
import { unitCost } from './capacity.js';

export interface Target {
  key: string;
  target: string;
  measured: string;
  /** The figure compared with the limit. */
  value: number;
  limit: number;
  met: boolean;
}

export interface TargetInputs {
  startup: { results: StartupResult[] };
  capacity: CapacityRow[];
  throughput: ThroughputResult;
  cost: CostRow[];
  guard: GuardResult;
}

export const MAX_INIT_RATIO = 1.2;
export const MAX_BUNDLE_BYTES = 600 * 1024;
export const MIN_PUSH_RATIO = 0.7;
export const MAX_WRITES_PER_EVENT = 1.1;
export const MAX_COST_RATIO = 1.25;
/** A new session: its item, membership and counter (issue 11); the floor is one write unit. */
export const MAX_CREATE_WRITE_UNITS = 4.1;
/** The JSON guard's worst time per MiB over the adversarial bodies, against JSON.parse of the same body. */
export const MAX_GUARD_RATIO = 5;
export const MAX_READS_PER_SESSION = 1.1;
export const MIN_READ_RATIO = 0.8;
/** The local server-side export against the direct-SDK read floor (sessions/s). */
export const MIN_EXPORT_RATIO = 0.8;
/** The request size the cost target is judged at: the push of the throughput figures. */
export const COST_TARGET_EVENTS_PER_REQUEST = 100;

export function evaluateTargets(r: TargetInputs): Target[] {
  const fns = r.startup.results.filter((s) => s.name !== 'baseline');
  const worstInit = fns.reduce((a, b) => ((b.initRatio ?? 0) > (a.initRatio ?? 0) ? b : a));
  const biggest = fns.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const pushes = r.capacity.filter((c) => c.operation === 'push_events' && (c.accepted ?? 0) > 0);
  const worstWrites = pushes.reduce((a, b) => (b.writes / b.accepted! > a.writes / a.accepted! ? b : a));
  const first = r.capacity.find((c) => c.key === 'push_events_100')!;
  const dup = r.capacity.find((c) => c.key === 'push_events_duplicate')!;
  const cost = r.cost.find((c) => c.key === `events_${COST_TARGET_EVENTS_PER_REQUEST}`)!;
  const dupCost = unitCost(dup.reads, dup.writes);
  const batchRead = r.capacity.find((c) => c.key === 'batch_read')!;
  const readsPerSession = batchRead.reads / batchRead.sessions!;
  const firstCost = unitCost(first.reads, first.writes);
  const create = r.capacity.find((c) => c.key === 'create_session')!;
  return [
    {
      key: 'init_ratio',
      target: `init time of every function <= ${MAX_INIT_RATIO}x the SDK-only baseline`,
      measured: `worst: ${worstInit.name} ${worstInit.initRatio?.toFixed(2)}x (${worstInit.initMs.toFixed(1)} ms vs ${r.startup.results.find((s) => s.name === 'baseline')?.initMs.toFixed(1)} ms)`,
      value: worstInit.initRatio ?? Number.NaN,
      limit: MAX_INIT_RATIO,
      met: (worstInit.initRatio ?? Infinity) <= MAX_INIT_RATIO,
    },
    {
      key: 'bundle_size',
      target: 'no function bundle over 600 KB',
      measured: `largest: ${biggest.name} ${(biggest.bytes / 1024).toFixed(1)} KB`,
      value: biggest.bytes,
      limit: MAX_BUNDLE_BYTES,
      met: biggest.bytes <= MAX_BUNDLE_BYTES,
    },
    {
      key: 'push_throughput',
      target: `push_events >= ${MIN_PUSH_RATIO}x the direct-SDK floor in events/s`,
      measured: `${r.throughput.pushRatio.toFixed(2)}x`,
      value: r.throughput.pushRatio,
      limit: MIN_PUSH_RATIO,
      met: r.throughput.pushRatio >= MIN_PUSH_RATIO,
    },
    {
      key: 'writes_per_event',
      target: `<= ${MAX_WRITES_PER_EVENT} write units per accepted event under 1 KB`,
      measured: `worst: ${(worstWrites.writes / worstWrites.accepted!).toFixed(3)} (push of ${worstWrites.accepted})`,
      value: worstWrites.writes / worstWrites.accepted!,
      limit: MAX_WRITES_PER_EVENT,
      met: worstWrites.writes / worstWrites.accepted! <= MAX_WRITES_PER_EVENT,
    },
    {
      key: 'duplicate_push',
      target: 'a duplicate push costs no more than a first push',
      measured: `${dup.reads} RRU + ${dup.writes} WRU vs ${first.reads} RRU + ${first.writes} WRU (${(dupCost / firstCost).toFixed(2)}x)`,
      value: dupCost / firstCost,
      limit: 1,
      met: dupCost <= firstCost,
    },
    {
      key: 'cost_per_million_events',
      target: `cost per million events <= ${MAX_COST_RATIO}x the DynamoDB write floor plus API Gateway (at ${COST_TARGET_EVENTS_PER_REQUEST} events a request)`,
      measured: `$${cost.total.toFixed(4)} vs $${cost.floor.toFixed(4)} (${cost.ratio.toFixed(2)}x)`,
      value: cost.ratio,
      limit: MAX_COST_RATIO,
      met: cost.ratio <= MAX_COST_RATIO,
    },
    {
      key: 'create_write_units',
      target: `<= ${MAX_CREATE_WRITE_UNITS} write units per create_session of a session under 1 KB`,
      measured: `${create.writes.toFixed(3)} WRU (session item ${create.floorWrites === 1 ? 'under' : 'over'} 1 KB)`,
      value: create.writes,
      limit: MAX_CREATE_WRITE_UNITS,
      met: create.floorWrites === 1 && create.writes <= MAX_CREATE_WRITE_UNITS,
    },
    guardTarget(r.guard),
    {
      key: 'batch_read_units',
      target: `<= ${MAX_READS_PER_SESSION} read units per session of a released batch read through the API (sessions under 4 KB, strongly consistent)`,
      measured: `${readsPerSession.toFixed(3)} (${batchRead.reads} RRU for ${batchRead.sessions} sessions)`,
      value: readsPerSession,
      limit: MAX_READS_PER_SESSION,
      met: readsPerSession <= MAX_READS_PER_SESSION,
    },
    {
      key: 'batch_read_ratio',
      target: `one API reader of a released batch >= ${MIN_READ_RATIO}x the direct-SDK floor in sessions/s`,
      measured: `${r.throughput.readRatio.toFixed(2)}x`,
      value: r.throughput.readRatio,
      limit: MIN_READ_RATIO,
      met: r.throughput.readRatio >= MIN_READ_RATIO,
    },
    {
      key: 'export_rate',
      target: `the local server-side export of a released batch (POST to succeeded) >= ${MIN_EXPORT_RATIO}x the direct-SDK read floor in sessions/s`,
      measured: `${r.throughput.rows.find((x) => x.scenario === 'batch_export')?.itemsPerSec ?? Number.NaN} sessions/s, ${r.throughput.exportRatio.toFixed(2)}x`,
      value: r.throughput.exportRatio,
      limit: MIN_EXPORT_RATIO,
      met: r.throughput.exportRatio >= MIN_EXPORT_RATIO,
    },
  ];
}

export function guardTarget(guard: GuardResult): Target {
  const w = guard.worst;
  const h = guard.highestRatio;
  return {
    key: 'guard_worst_ratio',
    target: `request checks (JSON guard): the worst time per MiB over ${guard.rows.length} adversarial bodies <= ${MAX_GUARD_RATIO}x JSON.parse of the same body`,
    measured: `worst: ${w.shape} ${w.guardMsPerMib.toFixed(1)} ms/MiB vs ${w.parseMsPerMib.toFixed(1)} ms/MiB (${w.ratio.toFixed(2)}x); highest ratio: ${h.shape} ${h.ratio.toFixed(2)}x (${h.guardMsPerMib.toFixed(1)} vs ${h.parseMsPerMib.toFixed(1)} ms/MiB)`,
    value: w.ratio,
    limit: MAX_GUARD_RATIO,
    met: w.ratio <= MAX_GUARD_RATIO,
  };
}
