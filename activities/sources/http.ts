/**
 * GET with the retry rules every source API needs: wait out rate limits, retry transient server
 * failures a few times with backoff, and fail for good (BadInputError) on what no retry can fix.
 * Each API says which of those a response is (`classify`); this file only acts on the verdict.
 * Logs carry the endpoint path and status, never query strings, headers or bodies (tokens, ids).
 */
import type { Logger } from 'pino';

import { BadInputError } from '../errors';

export type FetchFn = typeof globalThis.fetch;

export type Verdict =
  | { kind: 'ok' }
  | { kind: 'rate-limited'; waitMs?: number; reason: string }
  | { kind: 'transient'; reason: string }
  | { kind: 'fatal'; reason: string };

export interface HttpPolicy {
  fetch: FetchFn;
  logger: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** Attempts for transient failures (5xx, network) before the error goes to Temporal's retry. */
  transientAttempts?: number;
  /** First backoff for transient failures and rate limits without Retry-After; doubles each time. */
  backoffMs?: number;
  /** Rate-limit waits per request before giving up to Temporal's retry (which waits longer). */
  rateLimitWaits?: number;
  /** A Retry-After longer than this is not slept in-process: the attempt fails and Temporal retries later. */
  maxWaitMs?: number;
  /** Cancellation: an aborted signal ends the request or the wait in progress with its reason. */
  signal?: AbortSignal;
}

/** A wait that ends early, with the signal's reason, when the attempt is cancelled. */
async function waitUnlessCancelled(sleep: (ms: number) => Promise<void>, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return sleep(ms);
  signal.throwIfAborted();
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([sleep(ms), new Promise<never>((_, reject) => signal.addEventListener('abort', (onAbort = () => reject(signal.reason as Error)), { once: true }))]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** A failure worth retrying later (Temporal retries it): rate limits that outlast us, 5xx, network. */
export class SourceUnavailableError extends Error {
  override readonly name = 'SourceUnavailableError';
}

const sleepReal = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `Retry-After` in seconds or as an HTTP date, in milliseconds. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export interface GetJsonRequest {
  url: string;
  headers: Record<string, string>;
  /** Names the source in errors and logs (its config name, never a token or id). */
  source: string;
  classify: (status: number, body: unknown, headers: Headers) => Verdict;
}

/** GETs JSON following the policy; returns the parsed body of a successful response. */
export async function getJson(request: GetJsonRequest, policy: HttpPolicy): Promise<unknown> {
  const sleep = policy.sleep ?? sleepReal;
  const transientAttempts = policy.transientAttempts ?? 4;
  const backoffMs = policy.backoffMs ?? 500;
  const rateLimitWaits = policy.rateLimitWaits ?? 5;
  const maxWaitMs = policy.maxWaitMs ?? 120_000;
  const endpoint = new URL(request.url).pathname;
  let transientFailures = 0;
  let rateLimited = 0;
  for (;;) {
    policy.signal?.throwIfAborted();
    let status: number;
    let body: unknown;
    let headers: Headers;
    try {
      const response = await policy.fetch(request.url, { headers: { Accept: 'application/json', ...request.headers }, ...(policy.signal ? { signal: policy.signal } : {}) });
      status = response.status;
      headers = response.headers;
      const text = await response.text();
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined; // proxies and crashed servers answer with HTML
      }
    } catch (err) {
      if (policy.signal?.aborted) throw policy.signal.reason as Error;
      transientFailures += 1;
      const reason = `network error: ${(err as Error).message}`;
      if (transientFailures >= transientAttempts) throw new SourceUnavailableError(`${request.source}: ${endpoint}: ${reason}`);
      policy.logger.warn({ event: 'SourceRetry', source: request.source, endpoint, reason, attempt: transientFailures }, 'retrying');
      await waitUnlessCancelled(sleep, backoffMs * 2 ** (transientFailures - 1), policy.signal);
      continue;
    }
    const verdict = request.classify(status, body, headers);
    if (verdict.kind === 'ok') return body;
    if (verdict.kind === 'fatal') throw new BadInputError(`${request.source}: ${verdict.reason} (HTTP ${status} from ${endpoint})`);
    if (verdict.kind === 'rate-limited') {
      rateLimited += 1;
      const waitMs = verdict.waitMs ?? backoffMs * 2 ** (rateLimited - 1);
      if (rateLimited > rateLimitWaits || waitMs > maxWaitMs) {
        throw new SourceUnavailableError(`${request.source}: rate limited by ${endpoint} (${verdict.reason}); retry later`);
      }
      policy.logger.warn({ event: 'SourceRateLimited', source: request.source, endpoint, waitMs }, 'rate limited, waiting');
      await waitUnlessCancelled(sleep, waitMs, policy.signal);
      continue;
    }
    transientFailures += 1;
    if (transientFailures >= transientAttempts) {
      throw new SourceUnavailableError(`${request.source}: ${endpoint} failed ${transientFailures} times: ${verdict.reason}`);
    }
    policy.logger.warn({ event: 'SourceRetry', source: request.source, endpoint, status, attempt: transientFailures }, 'retrying');
    await waitUnlessCancelled(sleep, backoffMs * 2 ** (transientFailures - 1), policy.signal);
  }
}

/**
 * A `next` link from an API is followed only on the origin we were configured with, so a token is
 * never sent to a host a response named.
 */
export function sameOriginUrl(link: string, base: string, source: string): string {
  const url = new URL(link, base);
  if (url.origin !== new URL(base).origin) throw new BadInputError(`${source}: refusing to follow a next link to another host (${url.origin})`);
  return url.href;
}
