/**
 * What a failed Drive request means, and the in-process retries of the ones that pass: rate limits
 * (403 `userRateLimitExceeded` / `rateLimitExceeded`, and 429) and server or network failures are waited
 * out with exponential backoff, a bounded number of times, then left to Temporal's retry; credentials and
 * permission problems are BadInputError at once, naming Drive and the path (never the key).
 */
import type { Logger } from 'pino';

import { BadInputError } from '../errors';

/** Drive or the network is failing for now: Temporal retries the attempt later. */
export class DriveUnavailableError extends Error {
  override readonly name = 'DriveUnavailableError';
}

export interface DriveRetryPolicy {
  /** Waits per operation for rate limits and server failures before giving up to Temporal. */
  retries: number;
  /** The first wait; doubles each time (plus up to a quarter of it at random, as Google advises). */
  backoffMs: number;
  sleep: (ms: number) => Promise<void>;
}

export const DEFAULT_DRIVE_RETRY: DriveRetryPolicy = {
  retries: 5,
  backoffMs: 1000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

type Verdict = { kind: 'rate-limited' | 'transient' | 'refused' | 'credentials'; summary: string };

const RATE_LIMIT_REASONS = new Set(['userRateLimitExceeded', 'rateLimitExceeded']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);

interface HttpFailure {
  response?: { status?: number; data?: unknown };
  code?: string | number;
  message?: string;
}

/** Google's error body: `{error: {code, message, errors: [{domain, reason, message}]}}`; the token endpoint's: `{error, error_description}`. */
function describeBody(data: unknown): { reasons: string[]; message?: string; oauthError?: string } {
  const error = (data as { error?: unknown } | undefined)?.error;
  if (typeof error === 'string') {
    const description = (data as { error_description?: unknown }).error_description;
    return { reasons: [error], oauthError: error, ...(typeof description === 'string' ? { message: description } : {}) };
  }
  if (error && typeof error === 'object') {
    const { message, errors } = error as { message?: unknown; errors?: unknown };
    const reasons = Array.isArray(errors) ? errors.map((e: { reason?: unknown }) => e?.reason).filter((r): r is string => typeof r === 'string') : [];
    return { reasons, ...(typeof message === 'string' ? { message } : {}) };
  }
  return { reasons: [] };
}

export function classifyDriveFailure(err: unknown): Verdict {
  const failure = (err ?? {}) as HttpFailure;
  const status = failure.response?.status;
  if (status === undefined) {
    const code = String(failure.code ?? '');
    // No response at all: the connection failed or broke. Anything else without a status is a bug here.
    if (NETWORK_CODES.has(code) || /socket hang up|network|ECONNRESET|premature close/i.test(failure.message ?? '')) return { kind: 'transient', summary: code || 'network failure' };
    throw err;
  }
  const body = describeBody(failure.response?.data);
  const summary = [String(status), ...body.reasons, body.message].filter(Boolean).join(' ');
  if (body.oauthError) return { kind: 'credentials', summary };
  if (status === 429 || (status === 403 && body.reasons.some((reason) => RATE_LIMIT_REASONS.has(reason)))) return { kind: 'rate-limited', summary };
  if (status === 408 || status >= 500) return { kind: 'transient', summary };
  if (status === 401) return { kind: 'credentials', summary };
  return { kind: 'refused', summary };
}

export interface DriveCallContext {
  retry: DriveRetryPolicy;
  logger: Logger;
  signal: AbortSignal;
  /** Names the account in credential errors: its email and the key's URL (never the key). */
  account: string;
}

/**
 * Runs `operation` (which must be safe to run again: every upload looks its file up by name first),
 * retrying rate limits and transient failures. `what` says what was being done, with the Drive path.
 */
export async function withDriveRetries<T>(what: string, operation: () => Promise<T>, context: DriveCallContext): Promise<T> {
  for (let retry = 0; ; retry += 1) {
    context.signal.throwIfAborted();
    try {
      return await operation();
    } catch (err) {
      if (context.signal.aborted || err instanceof BadInputError || err instanceof DriveUnavailableError) throw err;
      const verdict = classifyDriveFailure(err);
      if (verdict.kind === 'credentials') {
        throw new BadInputError(`Google Drive refused the service account ${context.account} while ${what} (${verdict.summary}); check the key and that the Drive API is enabled for its project`);
      }
      if (verdict.kind === 'refused') {
        const hint = /^(403|404)/.test(verdict.summary) ? `; is the folder shared with ${context.account} as editor?` : '';
        throw new BadInputError(`Google Drive refused ${what} (${verdict.summary})${hint}`);
      }
      if (retry >= context.retry.retries) {
        throw new DriveUnavailableError(`Google Drive still failing after ${retry} retries while ${what} (${verdict.summary})`);
      }
      const waitMs = context.retry.backoffMs * 2 ** retry + Math.floor((Math.random() * context.retry.backoffMs) / 4);
      context.logger.warn({ event: 'DriveRetry', what, verdict: verdict.kind, status: verdict.summary.split(' ')[0], waitMs, retry: retry + 1 }, `Drive ${verdict.kind}: waiting before retrying`);
      await context.retry.sleep(waitMs);
    }
  }
}
