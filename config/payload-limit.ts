/**
 * A payload codec that refuses payloads above MAX_PAYLOAD_BYTES. Payloads carry references (URIs, ids,
 * hashes), never datasets; this turns a violation into a clear error instead of a bloated history.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { ApplicationFailure } from '@temporalio/common';

import { MAX_PAYLOAD_BYTES } from './constants';

export class PayloadSizeLimitCodec implements PayloadCodec {
  constructor(private readonly maxBytes = MAX_PAYLOAD_BYTES) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    for (const payload of payloads) {
      const bytes = payload.data?.byteLength ?? 0;
      if (bytes > this.maxBytes) {
        throw ApplicationFailure.nonRetryable(
          `payload of ${bytes} bytes exceeds the ${this.maxBytes}-byte limit: pass a reference, not data`,
          'PayloadTooLarge',
        );
      }
    }
    return payloads;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }
}
