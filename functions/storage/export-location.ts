/**
 * Where an export's files go: `exports/<batch_id>/<export_id>/` in the export bucket (S3, or any
 * S3-compatible server) or in a local folder (npm start: `.exports/`). Pure: no client is loaded
 * here, so the API functions that only name the location stay small.
 */
import { isAbsolute, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { config } from '../shared/config.js';

export const MANIFEST_FILE = 'manifest.json';
export const EXPORTS_PREFIX = 'exports/';

/** The key prefix (folder) of an export, ending in `/`. */
export const exportPrefix = (batchId: string, exportId: string) => `${EXPORTS_PREFIX}${batchId}/${exportId}/`;

export type ExportTarget = { kind: 's3'; bucket: string; endpoint?: string } | { kind: 'folder'; root: string };

/** The configured target; the bucket wins when both a bucket and a folder are set. */
export function exportTarget(): ExportTarget {
  const { exportBucket, exportS3Endpoint, exportDir } = config();
  if (exportBucket)
    return { kind: 's3', bucket: exportBucket, ...(exportS3Endpoint ? { endpoint: exportS3Endpoint } : {}) };
  if (exportDir) return { kind: 'folder', root: isAbsolute(exportDir) ? exportDir : resolve(exportDir) };
  throw new Error('No export target: set EXPORT_BUCKET (S3) or EXPORT_DIR (a local folder)');
}

/** The URL of a key prefix: `s3://bucket/prefix` or `file:///root/prefix` (ending in `/`). */
export function locationOf(prefix: string, target: ExportTarget = exportTarget()): string {
  if (target.kind === 's3') return `s3://${target.bucket}/${prefix}`;
  return `${pathToFileURL(target.root.endsWith(sep) ? target.root : target.root + sep).href}${prefix.split('/').map(encodeURIComponent).join('/')}`;
}
