/**
 * Encryption of Temporal payloads (AES-256-GCM), so run configs, stage inputs and results, heartbeats and
 * failures are stored in Temporal's history as ciphertext. The plain payload (its metadata and data, as
 * Temporal's Payload protobuf) is sealed under the active key with a random 12-byte IV; the encrypted
 * payload says which key sealed it (`encryption-key-id`), so older keys stay usable for decoding after a
 * rotation. Payloads without the `binary/encrypted` encoding (histories recorded before encryption) pass
 * through decoding unchanged.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

import { isPlainUiText } from './ui-text';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Key ids travel in clear in every payload's metadata and in error messages: names, never secrets. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

export interface EncryptionKey {
  id: string;
  key: Uint8Array;
}

/**
 * The keys a process holds, one of them active (the one new payloads are sealed with). Printing or
 * serialising a keyring shows its key ids, never the keys.
 */
export class PayloadKeyring {
  readonly #keys: ReadonlyMap<string, Uint8Array>;

  constructor(
    keys: readonly EncryptionKey[],
    readonly activeKeyId: string,
  ) {
    const map = new Map<string, Uint8Array>();
    for (const { id, key } of keys) {
      if (!KEY_ID_PATTERN.test(id)) throw new Error(`encryption key id ${JSON.stringify(id)}: letters, digits, ".", "_" and "-" (at most 64)`);
      if (key.byteLength !== KEY_BYTES) throw new Error(`encryption key "${id}": ${key.byteLength} bytes, AES-256 needs ${KEY_BYTES}`);
      if (map.has(id)) throw new Error(`encryption key "${id}" is listed twice`);
      map.set(id, Uint8Array.from(key));
    }
    if (!map.has(activeKeyId)) throw new Error(`the active encryption key "${activeKeyId}" is not among the keys (${[...map.keys()].join(', ')})`);
    this.#keys = map;
  }

  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  key(id: string): Uint8Array | undefined {
    return this.#keys.get(id);
  }

  toJSON(): { activeKeyId: string; keyIds: string[] } {
    return { activeKeyId: this.activeKeyId, keyIds: this.keyIds };
  }

  [inspect.custom](): string {
    return `PayloadKeyring { active: ${this.activeKeyId}, keys: ${this.keyIds.join(', ')} }`;
  }
}

function metadataText(payload: Payload, name: string): string | undefined {
  const value = payload.metadata?.[name];
  return value ? decoder.decode(value) : undefined;
}

export function isEncryptedPayload(payload: Payload): boolean {
  return metadataText(payload, 'encoding') === ENCRYPTED_ENCODING;
}

/**
 * Summaries and details the Web UI lists runs by are JSON strings of a few fixed shapes (names, stage
 * lists, run ids): those stay readable without a key. Anything else, config free text included, is sealed.
 */
function staysPlain(payload: Payload): boolean {
  if (metadataText(payload, 'encoding') !== 'json/plain' || Object.keys(payload.metadata ?? {}).length !== 1) return false;
  const data = payload.data;
  if (!data || data[0] !== 0x22 /* a JSON string */) return false;
  try {
    const value: unknown = JSON.parse(decoder.decode(data));
    return typeof value === 'string' && isPlainUiText(value);
  } catch {
    return false;
  }
}

export function encryptPayload(keyring: PayloadKeyring, payload: Payload): Payload {
  const keyId = keyring.activeKeyId;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyring.key(keyId)!, iv);
  // The key id is authenticated too: a payload relabelled with another key's id fails to decrypt.
  cipher.setAAD(encoder.encode(keyId));
  const plain = temporal.api.common.v1.Payload.encode({ metadata: payload.metadata ?? {}, data: payload.data ?? new Uint8Array() }).finish();
  const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return {
    metadata: { encoding: encoder.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: encoder.encode(keyId) },
    data: new Uint8Array(sealed.buffer, sealed.byteOffset, sealed.byteLength),
  };
}

export function decryptPayload(keyring: PayloadKeyring, payload: Payload): Payload {
  const keyId = metadataText(payload, KEY_ID_METADATA);
  if (!keyId) throw new PayloadDecryptionError(`an encrypted payload has no ${KEY_ID_METADATA} metadata`);
  const key = keyring.key(keyId);
  if (!key) {
    throw new PayloadDecryptionError(
      `a payload is encrypted with key "${keyId}", which this process does not hold (it holds ${keyring.keyIds.map((id) => `"${id}"`).join(', ')}): add that key to PIPELINE_ENCRYPTION_KEYS`,
    );
  }
  const data = payload.data ?? new Uint8Array();
  if (data.byteLength < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`an encrypted payload (key "${keyId}") is truncated: ${data.byteLength} bytes`);
  const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
  decipher.setAAD(encoder.encode(keyId));
  decipher.setAuthTag(data.subarray(data.byteLength - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.byteLength - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new PayloadDecryptionError(`a payload encrypted with key "${keyId}" failed authentication: it was altered, or sealed with another key of that id`);
  }
  const inner = temporal.api.common.v1.Payload.decode(plain);
  return { metadata: inner.metadata, data: inner.data };
}

/** The payload codec: seals every payload under the active key; opens any it holds the key of. */
export class PayloadEncryptionCodec implements PayloadCodec {
  constructor(readonly keyring: PayloadKeyring) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (staysPlain(payload) ? payload : encryptPayload(this.keyring, payload)));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (isEncryptedPayload(payload) ? decryptPayload(this.keyring, payload) : payload));
  }
}
