/**
 * De-identification: participants' identifiers (phone numbers, platform ids) are replaced by uuids kept in
 * a UUID table, so nothing downstream of the fetch stage ever sees a raw identifier. Backends: Firestore
 * (`firestore-uuid-table.ts`, the layout earlier pipelines used) and an embedded SQLite file
 * (`local-uuid-table.ts`, the default). Both give the same guarantees; see `UuidTable`.
 */
import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';
import { z } from 'zod';

import { BadInputError } from '../errors';

export interface UuidTable {
  /** uuid (`<prefix><uuid4>`) for every id; creates missing mappings race-safely; same id → same uuid forever. Input ids must already be normalised. */
  dataToUuids(ids: readonly string[]): Promise<Map<string, string>>;
  /** Reverse look-up for authorised users; unknown uuids are absent from the map. */
  uuidsToData(uuids: readonly string[]): Promise<Map<string, string>>;
}

export interface UuidTableConfig {
  backend: 'firestore' | 'local';
  /** The table's name: letters, digits, `_` and `-` (a Firestore document id and a file name). */
  table: string;
  /** Put before every uuid4, e.g. `avf-phone-uuid-`. A table keeps the prefix it was created with. */
  uuidPrefix: string;
  /** firestore: the Google Cloud project. The emulator host, when used, comes from FIRESTORE_EMULATOR_HOST. */
  projectId?: string;
  /** firestore: a service-account key (`gs://` or `file://` URL); application default credentials when absent. */
  credentialsFileUrl?: string;
}

const TABLE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

export const uuidTableConfigSchema = z
  .strictObject({
    backend: z.enum(['firestore', 'local']).default('local'),
    table: z.string().regex(TABLE_NAME, 'letters, digits, "_" and "-" only (1 to 128)'),
    uuidPrefix: z.string().max(64).regex(/^[A-Za-z0-9_-]*$/, 'letters, digits, "_" and "-" only'),
    projectId: z.string().min(1).optional(),
    credentialsFileUrl: z.string().regex(/^(gs|file):\/\//, 'expected a gs:// or file:// URL').optional(),
  })
  .refine((config) => config.backend !== 'firestore' || config.projectId !== undefined, {
    message: 'the firestore backend needs projectId',
    path: ['projectId'],
  });

/** What one table instance did, for tests and benchmarks: mappings it created, and creations another writer won. */
export interface UuidTableCounters {
  created: number;
  conflicts: number;
}

export function checkTableName(table: string): void {
  if (!TABLE_NAME.test(table)) throw new BadInputError(`UUID table name must be letters, digits, "_" and "-" (1 to 128): ${JSON.stringify(table)}`);
}

export function newUuid(prefix: string): string {
  return `${prefix}${randomUUID()}`;
}

/** Normalised ids are non-empty and bounded; what they mean is the normalisers' business. */
export function checkNormalisedId(id: string): void {
  if (typeof id !== 'string' || id.length === 0) throw new BadInputError('an id to de-identify is empty');
  if (id.length > 256) throw new BadInputError(`an id to de-identify is ${id.length} characters long (at most 256)`);
}

/** Splits `items` into consecutive chunks of at most `size`. */
export function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

/** Runs `task` over `items` with at most `concurrency` in flight; resolves when all are done, rejects on the first failure. */
export async function forEachConcurrently<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    try {
      while (!failed && next < items.length) await task(items[next++]!);
    } catch (err) {
      failed = true; // the other lanes take no new items
      throw err;
    }
  });
  await Promise.all(lanes);
}

// ---------------------------------------------------------------------------------------------------------
// Normalisers. One person must always give the same string, or they get two uuids.

/** An identifier that cannot be normalised. The message names the reason, never the identifier itself. */
export class InvalidIdentifierError extends BadInputError {
  constructor(
    readonly kind: 'phone number' | 'facebook id',
    readonly reason: string,
  ) {
    super(`not a valid ${kind}: ${reason}`);
  }
}

// E.164: a country code (never starting with 0) and a subscriber number, 15 digits at most. The shortest
// numbers in use have 7 digits with their country code (Niue: +683 and 4 digits).
const MIN_E164_DIGITS = 7;
const MAX_E164_DIGITS = 15;
const E164 = new RegExp(`^\\+[1-9][0-9]{${MIN_E164_DIGITS - 1},${MAX_E164_DIGITS - 1}}$`);

/**
 * A phone number as E.164 (`+<digits>`). Removes spaces, dashes, dots, parentheses and a leading `tel:`;
 * `00` before the country code becomes `+`. A number without `+`/`00` is national: it needs
 * `defaultCountry` (the country calling code, e.g. `'252'` for Somalia), and its trunk `0` is dropped.
 * Anything else is an InvalidIdentifierError.
 */
export function normalisePhoneNumber(raw: string, defaultCountry?: string): string {
  if (typeof raw !== 'string') throw new InvalidIdentifierError('phone number', 'not a string');
  let value = raw.trim().replace(/^tel:/i, '');
  value = value.replace(/[\s\-.()\u00a0]/g, '');
  if (value.length === 0) throw new InvalidIdentifierError('phone number', 'empty');
  if (/[A-Za-z]/.test(value)) throw new InvalidIdentifierError('phone number', 'contains letters');
  if (!/^\+?[0-9]+$/.test(value)) throw new InvalidIdentifierError('phone number', 'contains characters other than digits and a leading +');

  let international: string;
  if (value.startsWith('+')) international = value.slice(1);
  else if (value.startsWith('00')) international = value.slice(2);
  else {
    if (defaultCountry === undefined) throw new InvalidIdentifierError('phone number', 'no country code (+ or 00) and no default country');
    const code = defaultCountry.replace(/^\+/, '');
    if (!/^[1-9][0-9]{0,2}$/.test(code)) throw new BadInputError(`default country must be a calling code of 1 to 3 digits, e.g. "252"; got ${JSON.stringify(defaultCountry)}`);
    international = code + value.replace(/^0/, '');
  }
  if (international.startsWith('0')) throw new InvalidIdentifierError('phone number', 'country code starts with 0');
  if (international.length < MIN_E164_DIGITS) throw new InvalidIdentifierError('phone number', `too short (${international.length} digits, at least ${MIN_E164_DIGITS})`);
  if (international.length > MAX_E164_DIGITS) throw new InvalidIdentifierError('phone number', `too long (${international.length} digits, at most ${MAX_E164_DIGITS})`);
  return `+${international}`;
}

/** A Rapid Pro tel URN (`tel:+…`) for an E.164 number. */
export function toTelUrn(e164: string): string {
  if (!E164.test(e164)) throw new InvalidIdentifierError('phone number', 'not in E.164 form (+ and 7 to 15 digits)');
  return `tel:${e164}`;
}

/** An app-scoped Facebook user id as `facebook:<digits>`; accepts the bare id or the `facebook:` form. */
export function normaliseFacebookId(raw: string): string {
  if (typeof raw !== 'string') throw new InvalidIdentifierError('facebook id', 'not a string');
  const value = raw.trim().replace(/^facebook:/i, '');
  if (value.length === 0) throw new InvalidIdentifierError('facebook id', 'empty');
  if (!/^[0-9]+$/.test(value)) throw new InvalidIdentifierError('facebook id', 'not all digits');
  if (value.length > 32) throw new InvalidIdentifierError('facebook id', `too long (${value.length} digits)`);
  return `facebook:${value}`;
}

// ---------------------------------------------------------------------------------------------------------

export interface DeidentifierStats {
  /** Ids answered from this Deidentifier's cache (seen before in this activity). */
  hits: number;
  /** Ids the table was asked for. */
  misses: number;
  /** dataToUuids calls made. */
  tableCalls: number;
}

/**
 * De-identifies ids for one activity: a cache in front of the table, so each distinct id costs one table
 * look-up however often it appears, and look-ups go in chunks (one dataToUuids call per chunk).
 * Concurrent calls share in-flight look-ups. Stats are counts only, safe to log.
 */
export class Deidentifier {
  private readonly cache = new Map<string, string>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly stats: DeidentifierStats = { hits: 0, misses: 0, tableCalls: 0 };
  private readonly chunkSize: number;

  constructor(
    private readonly table: UuidTable,
    options: { chunkSize?: number } = {},
  ) {
    this.chunkSize = options.chunkSize ?? 5_000;
    if (!(this.chunkSize >= 1)) throw new Error(`chunkSize must be at least 1, got ${this.chunkSize}`);
  }

  /** The uuids of `ids`, in the same order. */
  async deidentify(ids: readonly string[]): Promise<string[]> {
    const toFetch: string[] = [];
    const waits = new Set<Promise<void>>();
    for (const id of new Set(ids)) {
      if (this.cache.has(id)) continue;
      const inFlight = this.pending.get(id);
      if (inFlight) waits.add(inFlight);
      else toFetch.push(id);
    }
    // Every chunk is reserved before the first is asked for, so a concurrent call waits for these ids
    // instead of asking again; chunks then go one at a time (the table runs its own requests in parallel).
    const jobs = chunksOf(toFetch, this.chunkSize).map((chunk) => this.reserve(chunk));
    try {
      for (const job of jobs) {
        this.stats.tableCalls += 1;
        const uuids = await this.table.dataToUuids(job.chunk);
        for (const id of job.chunk) {
          const uuid = uuids.get(id);
          if (uuid === undefined) throw new Error('the UUID table gave no uuid for an id it was asked for');
          this.cache.set(id, uuid);
        }
        job.settle();
      }
    } catch (err) {
      for (const job of jobs) job.settle(err);
      throw err;
    } finally {
      for (const id of toFetch) this.pending.delete(id);
    }
    await Promise.all(waits);
    this.stats.misses += toFetch.length;
    this.stats.hits += ids.length - toFetch.length;
    return ids.map((id) => this.cache.get(id)!);
  }

  async deidentifyOne(id: string): Promise<string> {
    return (await this.deidentify([id]))[0]!;
  }

  getStats(): DeidentifierStats {
    return { ...this.stats };
  }

  /** One log line with the counts (never an id). */
  logStats(logger: Logger, message = 'de-identified ids'): void {
    logger.info({ deid: this.getStats(), cached: this.cache.size }, message);
  }

  /** Marks `chunk` as being looked up; `settle` ends the wait of concurrent callers (with an error if given; a second call does nothing). */
  private reserve(chunk: string[]): { chunk: string[]; settle: (err?: unknown) => void } {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    done.catch(() => undefined); // awaited by concurrent callers if any; never an unhandled rejection
    for (const id of chunk) this.pending.set(id, done);
    return { chunk, settle: (err) => (err === undefined ? resolve() : reject(err)) };
  }
}
