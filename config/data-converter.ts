/**
 * The one data converter of the worker, the CLI, the demo, the scripts and the tests: payloads are
 * checked against the size limit while still plain, then encrypted with the keys from the settings;
 * failure messages and stack traces travel as encrypted payloads too.
 */
import type { DataConverter } from '@temporalio/common';

import { PayloadEncryptionCodec, type PayloadKeyring } from './payload-encryption';
import { loadOrCreateLocalKeyring } from './payload-keys';
import { PayloadSizeLimitCodec } from './payload-limit';
import type { Settings } from './settings';

/** For the workflow bundle (`bundleWorkflowCode({ failureConverterPath })`) and the converters below. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The keys of these settings; the data home's local key is generated here the first time it is needed. */
export function keyringFor(settings: Pick<Settings, 'encryption'>): PayloadKeyring {
  return settings.encryption.source === 'environment' ? settings.encryption.keyring : loadOrCreateLocalKeyring(settings.encryption.file).keyring;
}

export function pipelineDataConverter(keyring: PayloadKeyring): DataConverter {
  // Encoding runs the codecs in order and decoding in reverse: the size is checked on the plain payload.
  return { payloadCodecs: [new PayloadSizeLimitCodec(), new PayloadEncryptionCodec(keyring)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

export function pipelineDataConverterFor(settings: Pick<Settings, 'encryption'>): DataConverter {
  return pipelineDataConverter(keyringFor(settings));
}
