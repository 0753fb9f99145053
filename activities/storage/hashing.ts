/** Content hashes used for checksums, object verification and stage inputs hashes. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export interface FileDigests {
  bytes: number;
  sha256: string; // hex
  md5: string; // base64, as Cloud Storage reports it
}

/** Hashes a file in one streaming pass; `limitBytes` hashes only its first bytes. */
export async function digestFile(path: string, limitBytes?: number): Promise<FileDigests> {
  if (limitBytes === 0) return digestBuffer(Buffer.alloc(0));
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let bytes = 0;
  const stream = createReadStream(path, limitBytes === undefined ? {} : { start: 0, end: limitBytes - 1 });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    sha256.update(chunk);
    md5.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: sha256.digest('hex'), md5: md5.digest('base64') };
}

export function digestBuffer(data: Buffer): FileDigests {
  return {
    bytes: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
    md5: createHash('md5').update(data).digest('base64'),
  };
}

/** JSON with sorted keys, so equal values always hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export function sha256Hex(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

export function hashOfValue(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

