/**
 * Reads the files people write by hand (run configs, specs): UTF-8, JSON by extension, YAML otherwise.
 * Invalid UTF-8 is refused rather than turned into replacement characters that end up in file names.
 */
import { open } from 'node:fs/promises';
import { extname } from 'node:path';

import { parse as parseYaml } from 'yaml';

/** Why a file could not be read or parsed, as one problem line naming the file. */
export class StructuredFileError extends Error {
  override readonly name = 'StructuredFileError';
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Hand-written files are small; anything this big is a mistake (a data file named as a spec), refused in one line. */
export const MAX_HAND_WRITTEN_BYTES = 64 * 1024 * 1024;

/**
 * At most `maxBytes` are read, whatever the file is: a regular file is measured first, and anything else
 * (a device such as /dev/zero, a pipe) is read only until it passes the limit, so no file makes a reader hang.
 */
async function readBounded(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    if (info.isFile() && info.size > maxBytes) throw new StructuredFileError(`(file): ${path} is ${info.size} bytes; at most ${maxBytes} are read`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(1024 * 1024, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) return Buffer.concat(chunks, total);
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw new StructuredFileError(`(file): ${path} holds more than ${maxBytes} bytes; at most ${maxBytes} are read`);
    }
  } finally {
    await handle.close();
  }
}

export async function readTextFile(path: string, maxBytes = MAX_HAND_WRITTEN_BYTES): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readBounded(path, maxBytes);
  } catch (err) {
    if (err instanceof StructuredFileError) throw err;
    throw new StructuredFileError(`(file): cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new StructuredFileError(`(file): ${path} is not valid UTF-8`);
  }
}

/**
 * YAML costs far more to read than JSON: a megabyte of one-character list items takes seconds and hundreds of
 * megabytes of memory, 50 MB would take the reader down. Hand-written YAML is kilobytes; bigger data is JSON.
 */
export const MAX_YAML_BYTES = 2 * 1024 * 1024;

/** JSON for `.json`, YAML (1.2 unless asked for 1.1, as PyYAML-based tools read it) for anything else. */
export function parseStructuredText(text: string, fileName: string, yamlVersion: '1.1' | '1.2' = '1.2'): unknown {
  const json = extname(fileName).toLowerCase() === '.json';
  const bytes = json ? 0 : Buffer.byteLength(text);
  if (bytes > MAX_YAML_BYTES) throw new StructuredFileError(`(file): ${fileName} is ${bytes} bytes of YAML; at most ${MAX_YAML_BYTES} are read as YAML (write larger files as .json)`);
  try {
    return json ? JSON.parse(text) : parseYaml(text, { version: yamlVersion });
  } catch (err) {
    throw new StructuredFileError(`(file): ${fileName} is not valid ${json ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

export async function readStructuredFile(path: string, maxBytes?: number): Promise<{ text: string; document: unknown }> {
  const text = await readTextFile(path, maxBytes);
  return { text, document: parseStructuredText(text, path) };
}
