/** Seeding a released batch for export tests, and reading an export back from its folder. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { releaseBatch } from '../../functions/domain/batches.js';
import { createSession, pushEvents } from '../../functions/domain/sessions.js';
import { markIrrelevant } from '../../functions/domain/sessions.js';
import { BatchWriteCommand, type BatchWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { SessionContent, SessionRecord } from '../../functions/domain/types.js';
import { mapLimited } from '../../functions/shared/concurrency.js';
import { config } from '../../functions/shared/config.js';
import { getRegistry, initShard, reserveSequence } from '../../functions/storage/batch-store.js';
import { documentClient } from '../../functions/storage/client.js';
import { eventItem, memberItem, sessionItem } from '../../functions/storage/items.js';
import { sessionNumber } from '../../functions/storage/keys.js';

export interface Seeded {
  batchId: string;
  /** session id -> its event ids */
  sessions: Map<string, string[]>;
}

const contentOf = (i: number): SessionContent => ({
  search_query: `query ${i}`,
  search_results: [
    { object_id: `o${i % 50}`, rank: 1, meta: null },
    { object_id: `o${(i + 1) % 50}`, rank: 2, meta: { n: i } },
  ],
  search_meta: null,
  payload_filter: null,
  sort_by: null,
  user_id: `u${i % 10}`,
});
const eventIdsOf = (i: number) => Array.from({ length: i % 5 }, (_, k) => `e${k}`);
const eventContentOf = (i: number, k: number) => ({ object_id: `o${(i + k) % 50}`, event_type: 'click', meta: null });

/**
 * `count` sessions (0 to 4 events each, every 7th irrelevant), released as one batch. The first
 * `viaApi` go through create_session and push_events; the rest are written as those would write
 * them (the storage module's items, numbers reserved on each shard), in
 * bulk: DynamoDB Local takes about 30 ms per create transaction on a busy machine.
 */
export async function seedReleasedBatch(count: number, prefix = 's', viaApi = 40): Promise<Seeded> {
  const sessions = new Map<string, string[]>();
  await mapLimited(
    Array.from({ length: Math.min(count, viaApi) }, (_, i) => i),
    8,
    async (i) => {
      const id = `${prefix}-${i}`;
      await createSession({ sessionId: id, content: contentOf(i) });
      const eventIds = eventIdsOf(i);
      if (eventIds.length > 0)
        await pushEvents(
          id,
          eventIds.map((eventId, k) => ({ eventId, content: eventContentOf(i, k) })),
        );
      if (i % 7 === 0) await markIrrelevant(id);
      sessions.set(id, eventIds);
    },
  );
  if (count > viaApi) await bulkSessions(viaApi, count, prefix, sessions);
  const release = await releaseBatch(`release-${prefix}`);
  expect(release.sessionCount).toBe(count);
  return { batchId: release.batchId, sessions };
}

/**
 * Sessions from..to-1 spread over every shard, written in bulk as create_session writes them: numbers
 * reserved on each shard's pointer (a shard no process used yet is pointed at the collecting batch,
 * as a process's first block does), then the session and member items.
 */
async function bulkSessions(from: number, to: number, prefix: string, sessions: Map<string, string[]>): Promise<void> {
  const { tableName } = config();
  const registry = (await getRegistry())!;
  const now = Date.now();
  const items: Record<string, unknown>[] = [];
  const perShard = new Map<number, number[]>();
  for (let i = from; i < to; i++) {
    const shard = i % registry.shardCount;
    perShard.set(shard, [...(perShard.get(shard) ?? []), i]);
  }
  for (const [shard, indexes] of perShard) {
    const reserved = await reserveSequence(shard, indexes.length);
    const first = reserved.last - indexes.length + 1;
    const batchId =
      reserved.batchId ??
      ((await initShard(shard, registry.collectingBatchId, first - 1)) ? registry.collectingBatchId : undefined);
    expect(batchId).toBe(registry.collectingBatchId);
    indexes.forEach((i, k) => {
      const id = `${prefix}-${i}`;
      const record: SessionRecord = {
        sessionId: id,
        content: contentOf(i),
        createdAt: now,
        createdAtAuto: true,
        receivedAt: now,
        isIrrelevant: i % 7 === 0,
        batchId: registry.collectingBatchId,
        sessionNumber: sessionNumber(shard, first + k),
      };
      items.push({ ...sessionItem(record), ...(record.isIrrelevant ? { isIrrelevant: true } : {}) });
      items.push(memberItem(record));
      const eventIds = eventIdsOf(i);
      for (const [e, eventId] of eventIds.entries()) {
        items.push(
          eventItem({
            sessionId: id,
            eventId,
            content: eventContentOf(i, e),
            createdAt: now + e,
            createdAtAuto: false,
            receivedAt: now,
          }),
        );
      }
      sessions.set(id, eventIds);
    });
  }
  const chunks = Array.from({ length: Math.ceil(items.length / 25) }, (_, c) => items.slice(c * 25, c * 25 + 25));
  await mapLimited(chunks, 8, async (chunk) => {
    let pending = {
      [tableName]: chunk.map((Item) => ({ PutRequest: { Item } })),
    } as BatchWriteCommandInput['RequestItems'];
    while (pending && Object.keys(pending).length > 0) {
      const out = await documentClient().send(new BatchWriteCommand({ RequestItems: pending }));
      pending = out.UnprocessedItems;
    }
  });
}

export interface ManifestFile {
  path: string;
  sessions: number;
  events: number;
  bytes: number;
  sha256: string;
}

export interface ReadExport {
  manifest: {
    schema_version: number;
    export_id: string;
    batch_id: string;
    format: string;
    exported_at: string;
    files: ManifestFile[];
    totals: Record<string, number>;
  };
  /** Every line of every file, parsed, in manifest order. */
  lines: Record<string, any>[];
  /** The raw bytes of each file, by path. */
  raw: Map<string, Buffer>;
}

/** Reads the manifest and every file it lists, checking each file's bytes, checksum and counts. */
export async function readExportFolder(
  location: string,
  read = (path: string) => readFile(join(fileURLToPath(location), path)),
): Promise<ReadExport> {
  const manifest = JSON.parse((await read('manifest.json')).toString('utf8')) as ReadExport['manifest'];
  const lines: Record<string, any>[] = [];
  const raw = new Map<string, Buffer>();
  for (const f of manifest.files) {
    const bytes = await read(f.path);
    raw.set(f.path, bytes);
    expect(bytes.length, f.path).toBe(f.bytes);
    expect(createHash('sha256').update(bytes).digest('hex'), f.path).toBe(f.sha256);
    const fileLines = gunzipSync(bytes).toString('utf8').split('\n');
    expect(fileLines.pop(), 'the file ends with a newline').toBe('');
    const parsed = fileLines.map((l) => JSON.parse(l) as Record<string, any>);
    expect(parsed.length, f.path).toBe(f.sessions);
    if (manifest.format === 'sessions')
      expect(
        parsed.reduce((n, l) => n + l.events.length, 0),
        f.path,
      ).toBe(f.events);
    lines.push(...parsed);
  }
  expect(manifest.totals).toEqual({
    files: manifest.files.length,
    sessions: manifest.files.reduce((n, f) => n + f.sessions, 0),
    events: manifest.files.reduce((n, f) => n + f.events, 0),
    bytes: manifest.files.reduce((n, f) => n + f.bytes, 0),
  });
  return { manifest, lines, raw };
}

/** Every session of the batch exactly once, with exactly its events. */
export function expectEverySessionOnce(
  lines: Record<string, any>[],
  seeded: Seeded,
  format: 'sessions' | 'pairs' = 'sessions',
): void {
  const seen = new Map<string, number>();
  for (const l of lines) seen.set(l.session_id, (seen.get(l.session_id) ?? 0) + 1);
  const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  expect(twice, 'sessions written more than once').toEqual([]);
  const missing = [...seeded.sessions.keys()].filter((id) => !seen.has(id));
  expect(missing, 'sessions missing').toEqual([]);
  expect(lines.length).toBe(seeded.sessions.size);
  if (format === 'pairs') return;
  for (const l of lines) {
    expect((l.events as { event_id: string }[]).map((e) => e.event_id).sort(), l.session_id).toEqual(
      [...seeded.sessions.get(l.session_id)!].sort(),
    );
  }
}
