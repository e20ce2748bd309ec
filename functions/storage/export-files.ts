/**
 * Writing an export's files: to S3 (AWS SDK v3; a file of unknown length is streamed as a multipart
 * upload by @aws-sdk/lib-storage, a part at a time) or to a local folder. A file becomes visible only
 * whole: S3 shows an object once its upload completes, the folder renames a finished temporary file.
 * Writing a key again replaces the file, which is what makes a retried worker safe.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { exportTarget, type ExportTarget } from './export-location.js';

/** A file being written: write to `stream`, end it, then await `done()`; `abort()` leaves nothing behind. */
export interface FileSink {
  stream: Writable;
  done(): Promise<void>;
  abort(err: Error): Promise<void>;
}

export interface ExportFiles {
  create(key: string, contentType: string): FileSink;
  put(key: string, body: string, contentType: string): Promise<void>;
}

/** Parts of 8 MiB (S3's minimum is 5 MiB), 4 in flight: at most about 32 MiB of a file in memory. */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;
const UPLOAD_QUEUE = 4;

const clients = new Map<string, S3Client>();
let override: S3Client | undefined;

/** One client per endpoint and process (reused across invocations); path-style for S3-compatible servers. */
function s3Client(endpoint?: string): S3Client {
  if (override) return override;
  let client = clients.get(endpoint ?? '');
  if (!client) {
    // An S3-compatible server (npm start) may take its own credentials; otherwise the default chain.
    const { EXPORT_S3_ACCESS_KEY_ID: accessKeyId, EXPORT_S3_SECRET_ACCESS_KEY: secretAccessKey } = process.env;
    client = new S3Client({
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      ...(endpoint && accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}),
      maxAttempts: 4,
    });
    clients.set(endpoint ?? '', client);
  }
  return client;
}

/** Tests replace the client (aws-sdk-client-mock); undefined goes back to the real ones. */
export function setS3Client(next: S3Client | undefined): void {
  override = next;
}

function s3Files(bucket: string, endpoint?: string): ExportFiles {
  const client = () => s3Client(endpoint);
  return {
    create(key, contentType) {
      const body = new PassThrough();
      const upload = new Upload({
        client: client(),
        params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType },
        partSize: UPLOAD_PART_BYTES,
        queueSize: UPLOAD_QUEUE,
        leavePartsOnError: false, // a failed multipart upload is aborted (the bucket's lifecycle also cleans up)
      });
      const uploaded = upload.done().then(
        () => undefined,
        (err: Error) => {
          body.destroy(err); // a writer waiting for 'drain' learns of it
          throw err;
        },
      );
      uploaded.catch(() => undefined); // observed by done()/abort()
      return {
        stream: body,
        done: () => uploaded,
        abort: async (err) => {
          body.destroy(err);
          await upload.abort().catch(() => undefined);
          await uploaded.catch(() => undefined);
        },
      };
    },
    async put(key, text, contentType) {
      await client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text, ContentType: contentType }));
    },
  };
}

function folderFiles(root: string): ExportFiles {
  return {
    create(key) {
      const final = join(root, ...key.split('/'));
      const temp = `${final}.${randomBytes(6).toString('hex')}.tmp`;
      const ready = mkdir(dirname(final), { recursive: true });
      const body = new PassThrough();
      const written = ready.then(async () => {
        await pipeline(body, createWriteStream(temp));
        await rename(temp, final);
      });
      written.catch(() => body.destroy());
      return {
        stream: body,
        done: () => written,
        abort: async (err) => {
          body.destroy(err);
          await written.catch(() => undefined);
          await rm(temp, { force: true });
        },
      };
    },
    async put(key, text) {
      const final = join(root, ...key.split('/'));
      await mkdir(dirname(final), { recursive: true });
      const temp = `${final}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(temp, text);
      await rename(temp, final);
    },
  };
}

export function exportFiles(target: ExportTarget = exportTarget()): ExportFiles {
  return target.kind === 's3' ? s3Files(target.bucket, target.endpoint) : folderFiles(target.root);
}
