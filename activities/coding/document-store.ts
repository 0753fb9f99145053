/**
 * The document store Coda lives in, as a small interface with Firestore's semantics, so the Coda logic
 * (coda-store.ts) is written once and runs on either backend:
 * - `firestore-document-store.ts`: `@google-cloud/firestore` (Coda itself, or the emulator);
 * - `local-document-store.ts`: an SQLite file under the data home (the embedded default).
 *
 * Paths are Firestore's: `collection/doc/collection/doc…`. Values are JSON; a field may be written as
 * SERVER_TIMESTAMP (top-level fields only), which the store replaces by its commit time. Timestamps are
 * read back as ISO strings with microseconds (`2026-11-22T07:10:00.123456+00:00`, how the AVF tools write
 * `LastUpdated`) and compared in queries as StoreTimestamp values.
 */

export type DocumentData = Record<string, unknown>;

/** A field value the store replaces by the time of the commit that writes it. */
export const SERVER_TIMESTAMP = Object.freeze({ serverTimestamp: true as const });
export type ServerTimestamp = typeof SERVER_TIMESTAMP;

/** A timestamp in a query (`LastUpdated > mark`): a plain string would compare as text in Firestore. */
export class StoreTimestamp {
  constructor(readonly iso: string) {
    if (!ISO_MICROS.test(iso)) throw new Error(`not a timestamp with microseconds: ${JSON.stringify(iso)}`);
  }
}

export interface StoredDocument {
  id: string;
  data: DocumentData;
}

export type QueryOperator = '==' | '<' | '<=' | '>' | '>=';
export type QueryValue = string | number | boolean | StoreTimestamp;

export interface CollectionQuery {
  /** All must hold; a document without the field, or with a value of another type, never matches (as in Firestore). */
  where?: ReadonlyArray<{ field: string; op: QueryOperator; value: QueryValue }>;
  orderBy?: { field: string; direction?: 'asc' | 'desc' };
  limit?: number;
  /** Only these top-level fields are returned; `[]` returns ids only. */
  select?: readonly string[];
}

export interface DocumentReads {
  /** The documents at `paths`, in order; undefined where none exists. */
  getAll(paths: readonly string[]): Promise<Array<DocumentData | undefined>>;
  /** One consistent snapshot of the collection's matching documents. */
  query(collection: string, query?: CollectionQuery): Promise<StoredDocument[]>;
}

export interface DocumentWrites {
  /** Fails the whole commit with DocumentExistsError if the document exists. */
  create(path: string, data: DocumentData): void;
  /** Replaces the document; with `merge`, replaces only the top-level fields given and keeps the others. */
  set(path: string, data: DocumentData, options?: { merge?: boolean }): void;
}

/** Reads see the state the transaction started from; writes apply together at commit, or not at all. */
export type DocumentTransaction = DocumentReads & DocumentWrites;

export interface DocumentStore extends DocumentReads {
  /** What the store is, for messages: `local Coda store "demo"`, `Firestore project "avf-coda"`. Never a secret. */
  readonly description: string;
  /**
   * Runs `body` as a transaction; conflicting transactions (one read what the other writes) are serialised,
   * `body` being run again when the store needs it. Writes are atomic. Firestore allows 500 writes per commit.
   */
  runTransaction<T>(body: (transaction: DocumentTransaction) => Promise<T>): Promise<T>;
  /** Writes `build`'s writes in one atomic commit, without reads. */
  commit(build: (batch: DocumentWrites) => void): Promise<void>;
  /** Documents in a collection. */
  count(collection: string): Promise<number>;
  close(): Promise<void>;
}

/** A create found the document already there. Nothing of its commit was written. */
export class DocumentExistsError extends Error {
  override readonly name = 'DocumentExistsError';
}

/** Writes per commit: Firestore's limit. */
export const MAX_WRITES_PER_COMMIT = 500;

// ---------------------------------------------------------------------------------------------------------
// Paths and fields

const SEGMENT = /^[^/]+$/;

function segmentsOf(path: string): string[] {
  const segments = path.split('/');
  for (const segment of segments) {
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..' || /^__.*__$/.test(segment)) throw new Error(`invalid document path segment in ${JSON.stringify(path)}`);
  }
  return segments;
}

export function checkDocumentPath(path: string): void {
  if (segmentsOf(path).length % 2 !== 0) throw new Error(`not a document path: ${JSON.stringify(path)}`);
}

export function checkCollectionPath(path: string): void {
  if (segmentsOf(path).length % 2 !== 1) throw new Error(`not a collection path: ${JSON.stringify(path)}`);
}

/** The collection a document is in, and its id. */
export function splitDocumentPath(path: string): { collection: string; id: string } {
  checkDocumentPath(path);
  const slash = path.lastIndexOf('/');
  return { collection: path.slice(0, slash), id: path.slice(slash + 1) };
}

/** Fields the query interface takes: plain top-level names (both backends put them into expressions). */
const FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function checkFieldName(field: string): void {
  if (!FIELD.test(field)) throw new Error(`unsupported field name in a query: ${JSON.stringify(field)}`);
}

// ---------------------------------------------------------------------------------------------------------
// Timestamps: ISO 8601 in UTC with microseconds, the form Python's isoformat(timespec="microseconds") gives.

const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;

/** Microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`. */
export function isoFromMicros(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  const fraction = micros % 1_000_000n;
  const date = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${date}.${fraction.toString().padStart(6, '0')}+00:00`;
}

/** The inverse of isoFromMicros; accepts any ISO date-time Date.parse reads, with up to 9 fractional digits. */
export function microsFromIso(iso: string): bigint {
  const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  if (!match) throw new Error(`not an ISO date-time: ${JSON.stringify(iso)}`);
  const whole = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(whole)) throw new Error(`not an ISO date-time: ${JSON.stringify(iso)}`);
  const micros = BigInt((match[2] ?? '').padEnd(9, '0').slice(0, 6));
  return BigInt(whole) * 1000n + micros;
}

export function isServerTimestamp(value: unknown): value is ServerTimestamp {
  return value === SERVER_TIMESTAMP;
}
