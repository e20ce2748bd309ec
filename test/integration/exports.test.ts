/**
 * Exports end to end on DynamoDB Local, through the local server's routes and the in-process runner
 * (the very task handlers the state machine runs): a batch of several thousand sessions over four
 * shards, files of at most 400 sessions (so ranges hand their cursor on), manifest checks,
 * idempotent and concurrent starts, the errors, and a killed-and-retried worker.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setExportRunner } from '../../functions/domain/exports.js';
import type { RangeTask } from '../../functions/domain/export-worker.js';
import { createSession } from '../../functions/domain/sessions.js';
import { Api as CliApi } from '../../lib/cli/api.js';
import { downloadExport, serverSideExport, verifyFolder } from '../../lib/cli/server-export.js';
import { inProcessExportRunner, type InProcessRunner } from '../../lib/local/export-runner.js';
import { expectEverySessionOnce, readExportFolder, seedReleasedBatch, type Seeded } from '../support/exports.js';
import { Api } from '../support/http.js';
import { useFreshTable } from '../support/table.js';
import { emptyContent } from '../support/sessions.js';

const SESSIONS = 3000;
const SHARDS = 4;
const PER_FILE = 400;

let api: Api;
let runner: InProcessRunner;
let seeded: Seeded;
let exportDir: string;
const tasks: { exportId: string; shard: number; part: number; attempt: number }[] = [];
/** A test sets this to kill task attempts in the middle of their file. */
let kill: ((task: RangeTask, attempt: number) => (() => number) | undefined) | undefined;

beforeAll(async () => {
  exportDir = mkdtempSync(join(tmpdir(), 'exports-'));
  await useFreshTable({
    CLICKSTREAM_BATCH_SHARDS: String(SHARDS),
    EXPORT_DIR: exportDir,
    EXPORT_SESSIONS_PER_FILE: String(PER_FILE),
  });
  runner = inProcessExportRunner({
    concurrency: 3,
    retryDelayMs: 5,
    beforeTask: (task, attempt) => {
      tasks.push({ exportId: task.exportId, shard: task.range.shard, part: task.part, attempt });
      return kill?.(task, attempt);
    },
  });
  setExportRunner(runner);
  api = await Api.start();
  const t0 = Date.now();
  seeded = await seedReleasedBatch(SESSIONS);
  console.log(`seeded ${SESSIONS} sessions in ${Date.now() - t0} ms`);
}, 300_000);

afterAll(async () => {
  setExportRunner(undefined);
  await api?.close();
});

async function exportToEnd(body: Record<string, unknown>) {
  const started = await api.post('/internal/batch/export', body);
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await runner.settled(body.export_id as string);
  const done = await api.get('/internal/batch/export', { export_id: body.export_id as string });
  expect(done.status).toBe(200);
  return { started, done };
}

describe('an export of a released batch', () => {
  let first: Awaited<ReturnType<typeof exportToEnd>>;
  let files: Awaited<ReturnType<typeof readExportFolder>>;

  beforeAll(async () => {
    first = await exportToEnd({ batch_id: seeded.batchId, export_id: 'exp-1' });
    files = await readExportFolder(first.done.body.location);
  }, 120_000);

  it('answers 202 with the running export, then 200 with the succeeded one', () => {
    const location = `${new URL(`file://${exportDir}/`).href}exports/${seeded.batchId}/exp-1/`;
    expect(first.started.body).toMatchObject({
      export_id: 'exp-1',
      batch_id: seeded.batchId,
      format: 'sessions',
      state: 'running',
      location,
    });
    expect(first.done.body).toEqual({
      export_id: 'exp-1',
      batch_id: seeded.batchId,
      format: 'sessions',
      state: 'succeeded',
      location,
      files: files.manifest.files.length,
      sessions: SESSIONS,
    });
  });

  it('holds every session of the batch exactly once, with all of its events', () => {
    expectEverySessionOnce(files.lines, seeded);
  });

  it('writes at least one file per shard range, each at most the file size, and the manifest verifies', () => {
    expect(files.manifest).toMatchObject({
      schema_version: 1,
      export_id: 'exp-1',
      batch_id: seeded.batchId,
      format: 'sessions',
    });
    expect(Date.parse(files.manifest.exported_at)).toBeGreaterThan(0);
    const shards = new Set(files.manifest.files.map((f) => f.path.slice(0, 'sessions-s0000'.length)));
    expect(shards.size).toBe(SHARDS);
    for (const f of files.manifest.files) {
      expect(f.path).toMatch(/^sessions-s\d{4}-p\d{5}\.jsonl\.gz$/);
      expect(f.sessions).toBeGreaterThan(0);
      expect(f.sessions).toBeLessThanOrEqual(PER_FILE);
    }
    expect(files.manifest.files.length).toBeGreaterThanOrEqual(Math.ceil(SESSIONS / PER_FILE));
    // Sessions ascend through each range's files.
    const numbers = files.lines.map((l) => l.session_number as number);
    expect([...numbers].sort((a, b) => a - b)).toEqual(numbers);
    // Nothing but the manifest and its files in the folder.
    expect(readdirSync(fileURLToPath(first.done.body.location)).sort()).toEqual(
      [...files.manifest.files.map((f) => f.path), 'manifest.json'].sort(),
    );
  });

  it('each line of the sessions format is the session as get_session answers it', async () => {
    for (const line of [files.lines[0]!, files.lines[1234]!, files.lines.at(-1)!]) {
      const got = await api.get('/session', { session_id: line.session_id });
      expect(line).toEqual(got.body);
    }
  });

  it('the pairs format holds every session exactly once, one line each', async () => {
    const { done } = await exportToEnd({ batch_id: seeded.batchId, export_id: 'exp-pairs', format: 'pairs' });
    expect(done.body).toMatchObject({ format: 'pairs', state: 'succeeded', sessions: SESSIONS });
    const pairs = await readExportFolder(done.body.location);
    expect(pairs.manifest.format).toBe('pairs');
    expect(pairs.manifest.files.every((f) => f.path.startsWith('pairs-'))).toBe(true);
    expectEverySessionOnce(pairs.lines, seeded, 'pairs');
    expect(pairs.manifest.totals.events).toBe(files.manifest.totals.events);
    const irrelevant = pairs.lines.find((l) => l.is_irrelevant)!;
    expect(irrelevant.clicked).toEqual([]);
    expect(irrelevant.negatives.length).toBe(irrelevant.results.length);
  });

  it('DuckDB reads the files with read_json: every session once, every event', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    const folder = fileURLToPath(first.done.body.location);
    const result = await connection.runAndReadAll(
      `SELECT count(*) AS sessions, count(DISTINCT session_id) AS ids, sum(len(events)) AS events FROM read_json('${folder}*.jsonl.gz')`,
    );
    const [sessions, ids, events] = result.getRows()[0]!.map(Number);
    expect({ sessions, ids, events }).toEqual({
      sessions: SESSIONS,
      ids: SESSIONS,
      events: files.manifest.totals.events,
    });
    connection.closeSync();
  });

  it('a repeated POST answers the same export and starts nothing new', async () => {
    const before = tasks.length;
    const again = await api.post('/internal/batch/export', {
      batch_id: seeded.batchId,
      export_id: 'exp-1',
      format: 'sessions',
    });
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.done.body);
    await runner.settled('exp-1');
    expect(tasks.length).toBe(before);
    expect((await readExportFolder(first.done.body.location)).manifest).toEqual(files.manifest);
  });

  it('the same export_id with another format or batch is a conflict (409), and changes nothing', async () => {
    const other = await api.post('/internal/batch/export', {
      batch_id: seeded.batchId,
      export_id: 'exp-1',
      format: 'pairs',
    });
    expect(other).toMatchObject({
      status: 409,
      body: { detail: `Export with id=exp-1 already exists for batch ${seeded.batchId} in format sessions` },
    });
    expect((await api.get('/internal/batch/export', { export_id: 'exp-1' })).body).toEqual(first.done.body);
  });

  it('concurrent POSTs with one export_id produce one export', async () => {
    const before = tasks.length;
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        api.post('/internal/batch/export', { batch_id: seeded.batchId, export_id: 'exp-concurrent' }),
      ),
    );
    for (const a of answers) expect(a.status).toBe(202);
    expect(new Set(answers.map((a) => a.body.location)).size).toBe(1);
    await runner.settled('exp-concurrent');
    const done = (await api.get('/internal/batch/export', { export_id: 'exp-concurrent' })).body;
    const second = await readExportFolder(done.location);
    expectEverySessionOnce(second.lines, seeded);
    // One run: each (range, part) task ran once, as many as the first export needed.
    const run = tasks.slice(before).filter((t) => t.exportId === 'exp-concurrent');
    expect(run.length).toBe(tasks.filter((t) => t.exportId === 'exp-1').length);
    expect(new Set(run.map((t) => `${t.shard}/${t.part}`)).size).toBe(run.length);
    // Same batch, same split: the very same files.
    expect(second.manifest.files).toEqual(files.manifest.files);
  });

  it('a worker killed in the middle and retried yields the same files', async () => {
    let killed = 0;
    // The first attempt of each range's second file dies after writing its third page of sessions.
    kill = (task, attempt) => {
      if (task.exportId !== 'exp-killed' || task.part !== 1 || attempt !== 1) return undefined;
      let pages = 0;
      return () => {
        if (++pages === 3) {
          killed++;
          throw new Error('worker killed');
        }
        return 900_000;
      };
    };
    try {
      const { done } = await exportToEnd({ batch_id: seeded.batchId, export_id: 'exp-killed' });
      expect(killed).toBe(SHARDS);
      expect(done.body.state).toBe('succeeded');
      const again = await readExportFolder(done.body.location);
      expect(again.manifest.files).toEqual(files.manifest.files);
      expectEverySessionOnce(again.lines, seeded);
    } finally {
      kill = undefined;
    }
  });
});

describe('clickstream export --server-side (lib/cli/server-export.ts)', () => {
  it('starts the export, follows its progress to the end, and downloads a verified copy', async () => {
    const cli = new CliApi({ url: api.url('') });
    const lines: string[] = [];
    const target = mkdtempSync(join(tmpdir(), 'download-'));
    const { state, downloaded } = await serverSideExport({
      api: cli,
      batchId: seeded.batchId,
      exportId: 'exp-cli',
      format: 'sessions',
      download: target,
      pollMs: 200,
      progress: (line) => lines.push(line),
    });
    expect(state).toMatchObject({ export_id: 'exp-cli', state: 'succeeded', sessions: SESSIONS });
    expect(lines.some((l) => l.startsWith('export exp-cli: running'))).toBe(true);
    expect(lines.at(-1)).toMatch(/^downloaded and verified \d+ files \(3000 sessions/);
    expect(downloaded!.totals.sessions).toBe(SESSIONS);
    const copy = await readExportFolder(`file://${target}/`);
    expectEverySessionOnce(copy.lines, seeded);
    await verifyFolder(target);
  });

  it('refuses a file that does not match the manifest, and writes no manifest', async () => {
    const location = (await api.get('/internal/batch/export', { export_id: 'exp-cli' })).body.location as string;
    const manifest = JSON.parse(readFileSync(join(fileURLToPath(location), 'manifest.json'), 'utf8'));
    const victim = join(fileURLToPath(location), manifest.files[1].path);
    writeFileSync(victim, Buffer.concat([readFileSync(victim), Buffer.from([0])]));
    const target = mkdtempSync(join(tmpdir(), 'download-'));
    await expect(downloadExport(location, target)).rejects.toThrow(
      `${manifest.files[1].path}: got ${manifest.files[1].bytes + 1} bytes`,
    );
    expect(existsSync(join(target, 'manifest.json'))).toBe(false);
  });
});

describe('errors', () => {
  it('404 for an unknown batch, and nothing recorded', async () => {
    const r = await api.post('/internal/batch/export', { batch_id: 'no-such-batch', export_id: 'exp-404' });
    expect(r).toMatchObject({ status: 404, body: { detail: 'Batch with id=no-such-batch not found' } });
    expect((await api.get('/internal/batch/export', { export_id: 'exp-404' })).status).toBe(404);
  });

  it('409 for a batch that is still collecting', async () => {
    await createSession({
      sessionId: 'collecting-1',
      content: emptyContent(),
    });
    const collecting = (await api.get('/internal/batch')).body.batch_id as string;
    const r = await api.post('/internal/batch/export', { batch_id: collecting, export_id: 'exp-409' });
    expect(r).toMatchObject({ status: 409, body: { detail: `Batch with id=${collecting} is still collecting` } });
    expect((await api.get('/internal/batch/export', { export_id: 'exp-409' })).status).toBe(404);
  });

  it('404 for an unknown export', async () => {
    expect(await api.get('/internal/batch/export', { export_id: 'nope' })).toMatchObject({
      status: 404,
      body: { detail: 'Export with id=nope not found' },
    });
  });

  it.each([
    [{ batch_id: 'b', export_id: '../x' }, ['body', 'export_id']],
    [{ batch_id: 'b', export_id: 'a/b' }, ['body', 'export_id']],
    [{ batch_id: 'b', export_id: '' }, ['body', 'export_id']],
    [{ batch_id: 'b', export_id: 'x'.repeat(129) }, ['body', 'export_id']],
    [{ batch_id: 'b', export_id: 'ok', format: 'csv' }, ['body', 'format']],
    [{ export_id: 'ok' }, ['body', 'batch_id']],
  ])('422 for invalid input %j', async (body, loc) => {
    const r = await api.post('/internal/batch/export', body);
    expect(r.status).toBe(422);
    expect(r.body.detail[0].loc).toEqual(loc);
  });

  it('422 for a GET without a valid export_id', async () => {
    expect((await api.get('/internal/batch/export')).status).toBe(422);
    expect((await api.get('/internal/batch/export', { export_id: '.hidden' })).status).toBe(422);
  });
});
