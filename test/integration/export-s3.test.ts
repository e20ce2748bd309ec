/**
 * Exports written over the S3 protocol to a real S3-compatible server (s3rver, from the npm
 * registry, on a free port): a whole export read back object by object and checked against its
 * manifest, a file large enough for a multipart upload, and an upload cut off in the middle, which
 * leaves no object behind.
 */
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setExportRunner, startExport } from '../../functions/domain/exports.js';
import { exportFiles, setS3Client, UPLOAD_PART_BYTES } from '../../functions/storage/export-files.js';
import { inProcessExportRunner } from '../../lib/local/export-runner.js';
import { expectEverySessionOnce, readExportFolder, seedReleasedBatch, type Seeded } from '../support/exports.js';
import { useFreshTable } from '../support/table.js';

const BUCKET = 'clickstream-exports';
let server: S3rver;
let endpoint: string;
let client: S3Client;
let seeded: Seeded;
const commands: string[] = [];
const putKeys: string[] = [];

beforeAll(async () => {
  server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: mkdtempSync(join(tmpdir(), 's3rver-')),
  });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
  await useFreshTable({
    CLICKSTREAM_BATCH_SHARDS: '3',
    EXPORT_BUCKET: BUCKET,
    EXPORT_S3_ENDPOINT: endpoint,
    EXPORT_S3_ACCESS_KEY_ID: 'S3RVER',
    EXPORT_S3_SECRET_ACCESS_KEY: 'S3RVER',
    EXPORT_SESSIONS_PER_FILE: '150',
  });
  client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  // Every S3 call the export makes, by name (the export's own client, with a recording middleware).
  const recorded = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  recorded.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName as string);
      const key = (args.input as { Key?: string }).Key;
      if (context.commandName === 'PutObjectCommand' && key) putKeys.push(key);
      return next(args);
    },
    { step: 'initialize' },
  );
  setS3Client(recorded);
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  seeded = await seedReleasedBatch(600, 's3');
}, 300_000);

afterAll(async () => {
  setS3Client(undefined);
  setExportRunner(undefined);
  await server?.close();
});

const getObject = async (key: string) =>
  Buffer.from(
    await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray(),
  );

describe('an export to an S3-compatible server', () => {
  it('writes every session once in gzip JSON Lines objects under exports/<batch>/<export>/, manifest last and verifying', async () => {
    const runner = inProcessExportRunner({ retryDelayMs: 5 });
    setExportRunner(runner);
    const started = await startExport({ exportId: 'exp-s3', batchId: seeded.batchId, format: 'sessions' });
    const prefix = `exports/${seeded.batchId}/exp-s3/`;
    expect(started.record.location).toBe(`s3://${BUCKET}/${prefix}`);
    await runner.settled('exp-s3');
    const read = await readExportFolder(started.record.location, (path) => getObject(`${prefix}${path}`));
    expectEverySessionOnce(read.lines, seeded);
    const listed = (await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents!.map(
      (o) => o.Key!.slice(prefix.length),
    );
    expect(listed.sort()).toEqual([...read.manifest.files.map((f) => f.path), 'manifest.json'].sort());
    // The manifest is the last object written.
    expect(putKeys.length).toBe(read.manifest.files.length + 1);
    expect(putKeys.at(-1)).toBe(`${prefix}manifest.json`);
  });

  it('a file larger than a part goes up as a multipart upload, byte for byte', async () => {
    commands.length = 0;
    const data = randomBytes(UPLOAD_PART_BYTES * 2 + 12345);
    const sink = exportFiles().create('exports/big/one/file.bin', 'application/octet-stream');
    for (let i = 0; i < data.length; i += 1 << 20) {
      if (!sink.stream.write(data.subarray(i, i + (1 << 20)))) await new Promise((r) => sink.stream.once('drain', r));
    }
    sink.stream.end();
    await sink.done();
    expect(commands.filter((c) => c === 'UploadPartCommand').length).toBe(3);
    expect(commands).toContain('CreateMultipartUploadCommand');
    expect(commands).toContain('CompleteMultipartUploadCommand');
    const back = await getObject('exports/big/one/file.bin');
    expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('an upload cut off in the middle leaves no object', async () => {
    const sink = exportFiles().create('exports/big/one/cut.bin', 'application/octet-stream');
    sink.stream.write(randomBytes(UPLOAD_PART_BYTES + 1000));
    await new Promise((r) => setTimeout(r, 200));
    await sink.abort(new Error('worker killed'));
    const listed = (
      await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'exports/big/one/' }))
    ).Contents!.map((o) => o.Key);
    expect(listed).toEqual(['exports/big/one/file.bin']);
  });
});
