/**
 * `clickstream export --server-side`: starts (or joins) the export of a batch inside the service
 * (POST /internal/batch/export; Step Functions in AWS, in-process workers under npm start), reports
 * its progress until it ends, and prints its location. With `--download DIR` it then fetches the
 * manifest and every file it lists (S3 for an s3:// location, with the SDK's default credentials;
 * the folder itself for file://), checking each file's size and SHA-256 against the manifest, and
 * writes the manifest last, so that DIR holds a complete, verified copy or no manifest at all.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { byteMeter } from '../../functions/shared/byte-meter.js';
import type { Api } from './api.js';

export interface ExportState {
  export_id: string;
  batch_id: string;
  format: string;
  state: 'running' | 'succeeded' | 'failed';
  location: string;
  files: number;
  sessions: number;
  error?: string;
}

interface Manifest {
  files: { path: string; sessions: number; events: number; bytes: number; sha256: string }[];
  totals: { files: number; sessions: number; events: number; bytes: number };
}

export interface ServerSideOptions {
  api: Api;
  batchId: string;
  exportId: string;
  format: string;
  /** Fetch and verify the files into this folder. */
  download?: string;
  region?: string;
  pollMs?: number;
  progress?: (line: string, final: boolean) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function serverSideExport(o: ServerSideOptions): Promise<{ state: ExportState; downloaded?: Manifest }> {
  const started = Date.now();
  let state = (
    await o.api.request<ExportState>('POST', '/internal/batch/export', {
      body: { batch_id: o.batchId, export_id: o.exportId, format: o.format },
      expect: [202],
    })
  ).body;
  let expected: number | undefined;
  try {
    expected = (
      await o.api.request<{ session_count: number }>('GET', '/internal/batch', { query: { batch_id: o.batchId } })
    ).body.session_count;
  } catch {
    // progress without a total
  }
  const report = (final: boolean) => {
    const seconds = (Date.now() - started) / 1000;
    const share = expected ? ` of ${expected} (${((100 * state.sessions) / Math.max(1, expected)).toFixed(1)}%)` : '';
    o.progress?.(
      `export ${state.export_id}: ${state.state}, ${state.sessions} sessions${share} in ${state.files} files, ${seconds.toFixed(0)} s`,
      final,
    );
  };
  while (state.state === 'running') {
    report(false);
    await sleep(o.pollMs ?? 2000);
    state = (await o.api.request<ExportState>('GET', '/internal/batch/export', { query: { export_id: o.exportId } }))
      .body;
  }
  report(true);
  if (state.state === 'failed')
    throw new Error(`export ${state.export_id} failed: ${state.error ?? 'no reason given'}`);
  if (!o.download) return { state };
  return { state, downloaded: await downloadExport(state.location, o.download, o.region, o.progress) };
}

type Fetch = (path: string) => Promise<Readable>;

function fetcherOf(location: string, region?: string): Fetch {
  const url = new URL(location);
  if (url.protocol === 'file:') {
    const folder = fileURLToPath(url);
    return async (path) => createReadStream(join(folder, path));
  }
  if (url.protocol === 's3:') {
    const client = new S3Client({ ...(region ? { region } : {}), followRegionRedirects: true });
    const prefix = url.pathname.replace(/^\//, '');
    return async (path) =>
      (await client.send(new GetObjectCommand({ Bucket: url.hostname, Key: `${prefix}${path}` }))).Body as Readable;
  }
  throw new Error(`Cannot download from ${location}`);
}

/** Copies an export into `dir`, verifying every file against the manifest; the manifest comes last. */
export async function downloadExport(
  location: string,
  dir: string,
  region?: string,
  progress?: (line: string, final: boolean) => void,
): Promise<Manifest> {
  const fetch = fetcherOf(location, region);
  const chunks: Buffer[] = [];
  for await (const chunk of await fetch('manifest.json')) chunks.push(Buffer.from(chunk as Buffer));
  const manifestText = Buffer.concat(chunks);
  const manifest = JSON.parse(manifestText.toString('utf8')) as Manifest;
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  let done = 0;
  for (const f of manifest.files) {
    const target = resolve(root, f.path);
    if (!target.startsWith(root + sep)) throw new Error(`The manifest names a file outside the folder: ${f.path}`);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.part`;
    const meter = byteMeter();
    await pipeline(await fetch(f.path), meter.stream, createWriteStream(temp));
    const { bytes, sha256 } = meter.result();
    if (bytes !== f.bytes || sha256 !== f.sha256) {
      await rm(temp, { force: true });
      throw new Error(
        `${f.path}: got ${bytes} bytes with SHA-256 ${sha256}; the manifest says ${f.bytes} bytes, ${f.sha256}`,
      );
    }
    await rename(temp, target);
    progress?.(`downloaded ${++done} of ${manifest.files.length} files`, false);
  }
  await writeFile(join(root, 'manifest.json'), manifestText);
  progress?.(
    `downloaded and verified ${manifest.files.length} files (${manifest.totals.sessions} sessions, ${manifest.totals.bytes} bytes) into ${root}`,
    true,
  );
  return manifest;
}

/** Re-checks a downloaded folder against its manifest (for tests and for the cautious). */
export async function verifyFolder(dir: string): Promise<Manifest> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  for (const f of manifest.files) {
    const data = await readFile(join(dir, f.path));
    if (data.length !== f.bytes || createHash('sha256').update(data).digest('hex') !== f.sha256)
      throw new Error(`${f.path} does not match the manifest`);
  }
  return manifest;
}
