/** Counts and hashes the bytes that pass through a stream: a file as stored (exports, their download). */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export function byteMeter(): { stream: Transform; result: () => { bytes: number; sha256: string } } {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ bytes, sha256: hash.digest('hex') }) };
}
