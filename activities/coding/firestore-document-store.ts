/**
 * The document store on Firestore: Coda's own database, or the emulator. A thin adapter: paths become
 * references, SERVER_TIMESTAMP becomes FieldValue.serverTimestamp(), Timestamps read back become ISO strings
 * with microseconds, and errors become the interface's (a create that found its document:
 * DocumentExistsError; missing credentials or a permission error: BadInputError naming the store, since no
 * retry fixes them).
 */
import { type DocumentReference, FieldValue, type Firestore, type Query, type QuerySnapshot, Timestamp, type Transaction, type WriteBatch } from '@google-cloud/firestore';

import { BadInputError } from '../errors';
import { ClientCalls, DEFAULT_OPERATION_TIMEOUT_MS } from '../storage/deadline';
import {
  checkCollectionPath,
  checkDocumentPath,
  checkFieldName,
  type CollectionQuery,
  type DocumentData,
  DocumentExistsError,
  type DocumentStore,
  type DocumentTransaction,
  type DocumentWrites,
  isoFromMicros,
  isServerTimestamp,
  microsFromIso,
  type QueryValue,
  type StoredDocument,
  StoreTimestamp,
} from './document-store';

const ALREADY_EXISTS = 6;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;
/** References per getAll call: moderate responses. */
const READ_CHUNK = 300;
/** Coda's adders contend on one counter document per dataset; the emulator aborts contended transactions often. */
const TRANSACTION_ATTEMPTS = 30;

function toTimestamp(iso: string): Timestamp {
  const micros = microsFromIso(iso);
  return new Timestamp(Number(micros / 1_000_000n), Number(micros % 1_000_000n) * 1000);
}

function isoOf(timestamp: Timestamp): string {
  return isoFromMicros(BigInt(timestamp.seconds) * 1_000_000n + BigInt(Math.floor(timestamp.nanoseconds / 1000)));
}

/** Timestamps anywhere in a read document become ISO strings: the interface's values are JSON. */
function fromFirestore(value: unknown): unknown {
  if (value instanceof Timestamp) return isoOf(value);
  if (Array.isArray(value)) return value.map(fromFirestore);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, fromFirestore(inner)]));
  }
  return value;
}

function toFirestore(data: DocumentData): DocumentData {
  const out: DocumentData = {};
  for (const [field, value] of Object.entries(data)) out[field] = isServerTimestamp(value) ? FieldValue.serverTimestamp() : value;
  return out;
}

function queryValue(value: QueryValue): unknown {
  return value instanceof StoreTimestamp ? toTimestamp(value.iso) : value;
}

/** How long close() waits for the calls still running (one may hang on a dead connection) before it returns. */
const CLOSE_WAIT_MS = 5_000;

export class FirestoreDocumentStore implements DocumentStore {
  private readonly calls: ClientCalls;

  constructor(
    private readonly firestore: Firestore,
    readonly description: string,
    /** Each operation (a read, a query, a whole transaction, a commit) must answer within this. */
    operationTimeoutMs = DEFAULT_OPERATION_TIMEOUT_MS,
  ) {
    this.calls = new ClientCalls(description, operationTimeoutMs);
  }

  getAll(paths: readonly string[]): Promise<Array<DocumentData | undefined>> {
    return this.translated(async () => {
      const out: Array<DocumentData | undefined> = [];
      for (let start = 0; start < paths.length; start += READ_CHUNK) {
        this.calls.checkOpen(); // an abandoned read stops here rather than reading on through a closing client
        const snapshots = await this.firestore.getAll(...paths.slice(start, start + READ_CHUNK).map((path) => this.doc(path)));
        for (const snapshot of snapshots) out.push(snapshot.exists ? (fromFirestore(snapshot.data()) as DocumentData) : undefined);
      }
      return out;
    });
  }

  /**
   * One snapshot: when the response stream breaks, the library resumes after the last document received,
   * at that document's read time. Not in a read-only transaction: when its first read fails, the library
   * leaves the promise of the transaction's id rejected with nobody awaiting it (an unhandled rejection).
   */
  query(collection: string, query: CollectionQuery = {}): Promise<StoredDocument[]> {
    return this.translated(() => this.runQuery((built) => built.get(), collection, query));
  }

  count(collection: string): Promise<number> {
    checkCollectionPath(collection);
    return this.translated(async () => (await this.firestore.collection(collection).count().get()).data().count);
  }

  runTransaction<T>(body: (transaction: DocumentTransaction) => Promise<T>): Promise<T> {
    return this.translated(() =>
      this.firestore.runTransaction(
        (transaction) => {
          // An abandoned transaction's next attempt stops here: the error has no gRPC code, so it is not retried.
          this.calls.checkOpen();
          return body({
            getAll: async (paths) => {
              if (paths.length === 0) return [];
              const snapshots = await transaction.getAll(...paths.map((path) => this.doc(path)));
              return snapshots.map((snapshot) => (snapshot.exists ? (fromFirestore(snapshot.data()) as DocumentData) : undefined));
            },
            query: (collection, query) => this.runQuery((built) => transaction.get(built), collection, query ?? {}),
            ...this.writesTo(transaction),
          });
        },
        { maxAttempts: TRANSACTION_ATTEMPTS },
      ),
    );
  }

  commit(build: (batch: DocumentWrites) => void): Promise<void> {
    return this.translated(async () => {
      const batch = this.firestore.batch();
      build(this.writesTo(batch));
      await batch.commit();
    });
  }

  /** Terminates the client once no call is running on it, abandoned ones included (see ClientCalls). */
  close(): Promise<void> {
    return this.calls.close(() => this.firestore.terminate(), CLOSE_WAIT_MS);
  }

  private doc(path: string): DocumentReference {
    checkDocumentPath(path);
    return this.firestore.doc(path);
  }

  private writesTo(target: Transaction | WriteBatch): DocumentWrites {
    // Transaction and WriteBatch have the same write methods; one view of them keeps the adapter single.
    const writer = target as WriteBatch;
    return {
      create: (path, data) => void writer.create(this.doc(path), toFirestore(data)),
      set: (path, data, options) => {
        // mergeFields with top-level names replaces exactly those fields, as the local store does.
        if (options?.merge) writer.set(this.doc(path), toFirestore(data), { mergeFields: Object.keys(data) });
        else writer.set(this.doc(path), toFirestore(data));
      },
    };
  }

  private async runQuery(read: (built: Query) => Promise<QuerySnapshot>, collection: string, query: CollectionQuery): Promise<StoredDocument[]> {
    checkCollectionPath(collection);
    let built: Query = this.firestore.collection(collection);
    for (const { field, op, value } of query.where ?? []) {
      checkFieldName(field);
      built = built.where(field, op, queryValue(value));
    }
    if (query.orderBy) {
      checkFieldName(query.orderBy.field);
      built = built.orderBy(query.orderBy.field, query.orderBy.direction ?? 'asc');
    }
    if (query.limit !== undefined) built = built.limit(query.limit);
    if (query.select !== undefined) built = built.select(...query.select);
    const snapshot = await read(built);
    return snapshot.docs.map((doc) => ({ id: doc.id, data: fromFirestore(doc.data()) as DocumentData }));
  }

  private async translated<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await this.calls.run(operation);
    } catch (err) {
      throw this.translate(err);
    }
  }

  private translate(err: unknown): unknown {
    if (err instanceof BadInputError || err instanceof DocumentExistsError) return err;
    const code = (err as { code?: unknown } | null)?.code;
    const message = err instanceof Error ? err.message : String(err);
    if (code === ALREADY_EXISTS) return new DocumentExistsError(message);
    if (code === PERMISSION_DENIED) return new BadInputError(`${this.description}: permission denied (check the service account's roles): ${message}`);
    if (code === UNAUTHENTICATED) return new BadInputError(`${this.description}: not authenticated (check coding.store.credentialsFileUrl): ${message}`);
    if (/could not load the default credentials|default credentials/i.test(message)) {
      return new BadInputError(`${this.description}: no credentials: set coding.store.credentialsFileUrl or application default credentials`);
    }
    return err;
  }
}
