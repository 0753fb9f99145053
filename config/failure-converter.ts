/**
 * Failures with their message and stack trace moved into an encoded payload, so the payload codec
 * encrypts them too: an error may quote a config value or an operator's reason. Loaded by path (in the
 * workflow sandbox as well), so it imports nothing but the SDK.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
