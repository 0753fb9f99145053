/**
 * The payload encryption keys of a test run: `npm test` generates a keyring for the run and gives it to
 * every test process (and to the codec server of the dev server's Web UI) through the environment.
 */
import type { DataConverter, Payload } from '@temporalio/common';

import { pipelineDataConverter } from '../../config/data-converter';
import { decryptPayload, isEncryptedPayload, type PayloadKeyring } from '../../config/payload-encryption';
import { ENCRYPTION_ENV, readEncryptionSettings } from '../../config/payload-keys';

export function testKeyring(): PayloadKeyring {
  const { settings, problems } = readEncryptionSettings(process.env, '/nonexistent');
  if (settings?.source !== 'environment') {
    throw new Error(`${ENCRYPTION_ENV.keys} is not set${problems.length ? ` (${problems.join('; ')})` : ''}: run the tests with \`npm test\`, which sets it`);
  }
  return settings.keyring;
}

export function testDataConverter(): DataConverter {
  return pipelineDataConverter(testKeyring());
}

/** A copy of `value` (a fetched history, say) with every encrypted payload in it decrypted. */
export function decryptPayloadsIn<T>(value: T, keyring: PayloadKeyring = testKeyring()): T {
  const visit = (node: unknown): unknown => {
    if (node instanceof Uint8Array || node === null || typeof node !== 'object') return node;
    if (Array.isArray(node)) return node.map(visit);
    if ('metadata' in node && isEncryptedPayload(node as Payload)) return decryptPayload(keyring, node as Payload);
    return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, visit(child)]));
  };
  return visit(value) as T;
}
