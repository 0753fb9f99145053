/**
 * Where the payload encryption keys come from. In production: the environment of the worker, the CLI and
 * the codec server alike (`PIPELINE_ENCRYPTION_KEYS="2026-01:<base64>,2026-07:<base64>"`, the active one
 * named by `PIPELINE_ENCRYPTION_KEY_ID`). With nothing configured (the embedded default, the demo): one
 * local key, generated on first use in `<data home>/.keys/`, readable by its owner only.
 * Problems name the variable or file and the entry, never a key.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { temporaryPathFor } from '../activities/storage/atomic-write';
import { type EncryptionKey, KEY_BYTES, KEY_ID_PATTERN, PayloadKeyring } from './payload-encryption';

export const ENCRYPTION_ENV = { keys: 'PIPELINE_ENCRYPTION_KEYS', activeKeyId: 'PIPELINE_ENCRYPTION_KEY_ID' } as const;

export type EncryptionSettings =
  /** Keys from PIPELINE_ENCRYPTION_KEYS / PIPELINE_ENCRYPTION_KEY_ID. */
  | { source: 'environment'; keyring: PayloadKeyring }
  /** Nothing configured: the data home's generated local key. */
  | { source: 'local-key-file'; file: string };

export function localKeyFile(dataHome: string): string {
  return join(dataHome, '.keys', 'payload-encryption.key');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function decodeKey(text: string): Buffer | undefined {
  if (BASE64.test(text)) return Buffer.from(text, 'base64');
  if (BASE64URL.test(text)) return Buffer.from(text, 'base64url');
  return undefined;
}

/**
 * Reads `<id>:<base64 key>` entries separated by commas (or whitespace). An entry that is not valid is
 * named by its position only: its text may be the key itself.
 */
export function parseKeyList(text: string, source: string): { keys: EncryptionKey[]; problems: string[] } {
  const keys: EncryptionKey[] = [];
  const problems: string[] = [];
  const entries = text.split(/[\s,]+/).filter(Boolean);
  if (entries.length === 0) problems.push(`${source}: no key; expected "<key id>:<base64 key>[,<key id>:<base64 key>…]"`);
  entries.forEach((entry, index) => {
    const where = `${source} entry ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) return problems.push(`${where}: expected "<key id>:<base64 key>"`);
    const id = entry.slice(0, colon);
    if (!KEY_ID_PATTERN.test(id)) return problems.push(`${where}: the key id (before ":") must be letters, digits, ".", "_" or "-", at most 64`);
    const key = decodeKey(entry.slice(colon + 1));
    if (!key) return problems.push(`${where} (key id "${id}"): the key is not base64`);
    if (key.byteLength !== KEY_BYTES) return problems.push(`${where} (key id "${id}"): the key is ${key.byteLength} bytes; AES-256 needs ${KEY_BYTES} (e.g. \`openssl rand -base64 32\`)`);
    if (keys.some((other) => other.id === id)) return problems.push(`${where}: key id "${id}" is listed twice`);
    keys.push({ id, key });
  });
  return { keys, problems };
}

/** Encryption settings from the environment; `problems` lists what is wrong, each naming its variable. */
export function readEncryptionSettings(env: NodeJS.ProcessEnv, dataHome: string): { settings?: EncryptionSettings; problems: string[] } {
  const keysText = env[ENCRYPTION_ENV.keys]?.trim() || undefined;
  const activeKeyId = env[ENCRYPTION_ENV.activeKeyId]?.trim() || undefined;
  if (keysText === undefined) {
    if (activeKeyId !== undefined) return { problems: [`${ENCRYPTION_ENV.activeKeyId}: set without ${ENCRYPTION_ENV.keys}, which holds the keys`] };
    return { settings: { source: 'local-key-file', file: localKeyFile(dataHome) }, problems: [] };
  }
  const { keys, problems } = parseKeyList(keysText, ENCRYPTION_ENV.keys);
  if (problems.length > 0) return { problems };
  const ids = keys.map((key) => key.id);
  if (activeKeyId === undefined && keys.length > 1) {
    return { problems: [`${ENCRYPTION_ENV.activeKeyId}: required when ${ENCRYPTION_ENV.keys} holds more than one key (its key ids: ${ids.join(', ')})`] };
  }
  const active = activeKeyId ?? ids[0]!;
  if (!ids.includes(active)) return { problems: [`${ENCRYPTION_ENV.activeKeyId}: names none of the keys of ${ENCRYPTION_ENV.keys} (its key ids: ${ids.join(', ')})`] };
  return { settings: { source: 'environment', keyring: new PayloadKeyring(keys, active) }, problems: [] };
}

/**
 * The data home's local key, generated (32 random bytes, file mode 0600) when missing. Processes that
 * start together agree: the file is written aside and linked into place, so the first one wins and the
 * others read its key.
 */
export function loadOrCreateLocalKeyring(file: string): { keyring: PayloadKeyring; created: boolean } {
  let created = false;
  if (!fileExists(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const aside = temporaryPathFor(file); // a crash here leaves a file the worker's temp sweep removes
    writeFileSync(aside, `local-${randomBytes(4).toString('hex')}:${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      chmodSync(aside, 0o600); // whatever the umask
      linkSync(aside, file);
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(aside);
    }
  }
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    throw new Error(`the local encryption key ${file} can be read by other users: \`chmod 600 ${file}\``);
  }
  const { keys, problems } = parseKeyList(readFileSync(file, 'utf8'), file);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return { keyring: new PayloadKeyring(keys, keys[keys.length - 1]!.id), created };
}

function fileExists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
