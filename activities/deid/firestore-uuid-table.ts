/**
 * The UUID table in Firestore, in the layout earlier pipelines used: `tables/{table}` (holds the table's
 * uuid prefix) and `tables/{table}/mappings/{document id}` → `{ uuid, id }`.
 *
 * Document ids: Firestore forbids `/`, the names `.` and `..`, and `__…__`. The normalised id is kept as
 * is when made only of `A-Z a-z 0-9 + : -` (so `+252…` and `facebook:123` are their own document ids, as
 * in existing tables), and every other UTF-8 byte is written `%XX` (so `/`, `.`, `_` and `%` never appear
 * raw and the forbidden names cannot occur). decodeURIComponent reverses it. The original id is also
 * stored in the document (`id`), which the reverse look-up returns; documents written by earlier pipelines
 * have no `id` and are answered by decoding their document id.
 *
 * Race safety: a missing mapping is written with `create()`, which fails with ALREADY_EXISTS (gRPC 6) when
 * the document exists; a mapping is never overwritten. Whoever loses re-reads the winner's document, so two
 * workers mapping one id at the same moment both return the uuid that was stored first.
 */
import { type CollectionReference, type DocumentReference, Firestore, type Settings } from '@google-cloud/firestore';

import { BadInputError } from '../errors';
import { ClientCalls, DEFAULT_OPERATION_TIMEOUT_MS } from '../storage/deadline';
import { checkNormalisedId, checkTableName, chunksOf, forEachConcurrently, newUuid, type UuidTable, type UuidTableCounters } from './uuid-table';

/** getAll takes many references per call; 300 keeps each response a moderate size and a chunk's creates within one commit (500 writes at most). */
export const MAX_READ_CHUNK = 300;
/** Firestore's limit on the values of one `in` filter. */
export const IN_QUERY_LIMIT = 30;
const ALREADY_EXISTS = 6;
const MAX_DOCUMENT_ID_BYTES = 1_500;

const SAFE_BYTE = /^[A-Za-z0-9+:-]$/;
/** How long close() waits for the calls still running (one may hang on a dead connection) before it returns. */
const CLOSE_WAIT_MS = 5_000;

export function encodeDocumentId(id: string): string {
  let encoded = '';
  for (const byte of Buffer.from(id, 'utf8')) {
    const char = String.fromCharCode(byte);
    encoded += byte < 0x80 && SAFE_BYTE.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (Buffer.byteLength(encoded) > MAX_DOCUMENT_ID_BYTES) throw new BadInputError(`an id to de-identify is too long for a Firestore document id once encoded (${encoded.length} bytes)`);
  return encoded;
}

export function decodeDocumentId(documentId: string): string {
  try {
    return decodeURIComponent(documentId);
  } catch {
    return documentId; // an earlier pipeline's id with a bare `%`: it was never encoded
  }
}

export interface FirestoreUuidTableOptions {
  firestore: Firestore;
  table: string;
  uuidPrefix: string;
  /** References per getAll call, at most MAX_READ_CHUNK. */
  readChunkSize?: number;
  /** Chunks in flight at once. */
  concurrency?: number;
  /** Each call (a chunk's read, create or query) must answer within this, or the attempt fails retryably. */
  operationTimeoutMs?: number;
}

/**
 * Firestore's errors name the document (`…/mappings/+2547…`), which is an identifier: every error leaving
 * this table is rebuilt with the document ids blanked and without the original as `cause`. The gRPC code
 * stays, so callers can still tell transient failures apart.
 */
export class FirestoreTableError extends Error {
  override readonly name = 'FirestoreTableError';
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
  }
}

export function withoutIdentifiers(err: unknown): Error {
  if (err instanceof BadInputError || err instanceof FirestoreTableError) return err;
  const source = err instanceof Error ? err : new Error(String(err));
  const code = (source as { code?: unknown }).code;
  const message = source.message.replace(/(\/mappings\/)[^\s,;)}\]'"]+/g, '$1[id]');
  return new FirestoreTableError(`UUID table (Firestore): ${message}`, typeof code === 'number' ? code : undefined);
}

function isAlreadyExists(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === ALREADY_EXISTS;
}

export class FirestoreUuidTable implements UuidTable {
  private readonly firestore: Firestore;
  private readonly mappings: CollectionReference;
  private readonly readChunkSize: number;
  private readonly concurrency: number;
  private tableChecked: Promise<void> | undefined;
  private readonly counters: UuidTableCounters = { created: 0, conflicts: 0 };
  private readonly calls: ClientCalls;

  constructor(private readonly options: FirestoreUuidTableOptions) {
    checkTableName(options.table);
    this.firestore = options.firestore;
    this.mappings = this.firestore.collection('tables').doc(options.table).collection('mappings');
    this.readChunkSize = Math.min(options.readChunkSize ?? MAX_READ_CHUNK, MAX_READ_CHUNK);
    this.concurrency = options.concurrency ?? 4;
    this.calls = new ClientCalls(`UUID table ${options.table} (Firestore)`, options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS);
  }

  /** One call to Firestore, with the table's deadline; a call it gives up on still holds off close(). */
  private call<T>(operation: () => Promise<T>): Promise<T> {
    return this.calls.run(operation);
  }

  /**
   * Terminates the client the table was given, once no call is running on it (abandoned ones included:
   * see ClientCalls); waits at most `waitMs` for them.
   */
  close(waitMs = CLOSE_WAIT_MS): Promise<void> {
    return this.calls.close(() => this.firestore.terminate(), waitMs);
  }

  async dataToUuids(ids: readonly string[]): Promise<Map<string, string>> {
    try {
      return await this.mapToUuids(ids);
    } catch (err) {
      throw withoutIdentifiers(err);
    }
  }

  async uuidsToData(uuids: readonly string[]): Promise<Map<string, string>> {
    try {
      return await this.mapToData(uuids);
    } catch (err) {
      throw withoutIdentifiers(err);
    }
  }

  getCounters(): UuidTableCounters {
    return { ...this.counters };
  }

  private async mapToUuids(ids: readonly string[]): Promise<Map<string, string>> {
    const unique = [...new Set(ids)];
    unique.forEach(checkNormalisedId);
    const refs = new Map(unique.map((id) => [id, this.mappings.doc(encodeDocumentId(id))]));
    await this.checkTable();
    const found = new Map<string, string>();
    await forEachConcurrently(chunksOf(unique, this.readChunkSize), this.concurrency, async (chunk) => {
      let missing = await this.read(chunk, refs, found);
      // A document can vanish between a lost create and the re-read only if someone deletes mappings;
      // then the next round creates it again.
      for (let attempt = 0; missing.length > 0; attempt++) {
        if (attempt === 3) throw new Error(`could not create or read ${missing.length} mappings after 3 attempts`);
        const lost = await this.create(missing, refs, found);
        this.counters.conflicts += lost.length;
        missing = lost.length > 0 ? await this.read(lost, refs, found) : [];
      }
    });
    return found;
  }

  private async mapToData(uuids: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const unique = [...new Set(uuids)].filter((uuid) => typeof uuid === 'string' && uuid.length > 0);
    await forEachConcurrently(chunksOf(unique, IN_QUERY_LIMIT), this.concurrency * 2, async (chunk) => {
      const snapshot = await this.call(() => this.mappings.where('uuid', 'in', chunk).select('uuid', 'id').get());
      for (const doc of snapshot.docs) {
        const uuid = doc.get('uuid') as unknown;
        const id = doc.get('id') as unknown;
        if (typeof uuid === 'string') found.set(uuid, typeof id === 'string' ? id : decodeDocumentId(doc.id));
      }
    });
    return found;
  }

  /** Reads the chunk's documents into `found`; returns the ids that have none. */
  private async read(ids: readonly string[], refs: Map<string, DocumentReference>, found: Map<string, string>): Promise<string[]> {
    const snapshots = await this.call(() => this.firestore.getAll(...ids.map((id) => refs.get(id)!), { fieldMask: ['uuid'] }));
    const missing: string[] = [];
    snapshots.forEach((snapshot, index) => {
      const id = ids[index]!;
      if (!snapshot.exists) return void missing.push(id);
      const uuid = snapshot.get('uuid') as unknown;
      if (typeof uuid !== 'string' || uuid.length === 0) throw new Error(`UUID table ${this.options.table} has a mapping without a uuid`); // the document id is an identifier: not in the message
      found.set(id, uuid);
    });
    return missing;
  }

  /**
   * Creates mappings for `ids`; returns the ids whose document another writer created first. Usually no
   * one else is creating the same ids, so they go in one atomic batch of creates (one commit, several
   * times faster than per-document writes). If any already exists the whole batch fails with
   * ALREADY_EXISTS and nothing is written; then each is created on its own (BulkWriter), which says which
   * ones were lost.
   */
  private async create(ids: readonly string[], refs: Map<string, DocumentReference>, found: Map<string, string>): Promise<string[]> {
    const candidates = ids.map((id) => ({ id, uuid: newUuid(this.options.uuidPrefix) }));
    try {
      const batch = this.firestore.batch();
      for (const { id, uuid } of candidates) batch.create(refs.get(id)!, { uuid, id });
      await this.call(() => batch.commit());
      for (const { id, uuid } of candidates) found.set(id, uuid);
      this.counters.created += candidates.length;
      return [];
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    // Throttling off: the 500/50/5 ramp-up guards against hot spots in huge collections; the few ids
    // that reach this path would otherwise wait. Transient errors are still retried by BulkWriter.
    this.calls.checkOpen(); // a writer's queued writes would go out even if its close() were then refused
    const writer = this.firestore.bulkWriter({ throttling: false });
    const lost: string[] = [];
    let failure: unknown;
    const writes = candidates.map(({ id, uuid }) =>
      writer.create(refs.get(id)!, { uuid, id }).then(
        () => {
          found.set(id, uuid);
          this.counters.created += 1;
        },
        (err: unknown) => {
          if (isAlreadyExists(err)) lost.push(id);
          else failure ??= err;
        },
      ),
    );
    await this.call(() => writer.close());
    await Promise.all(writes);
    if (failure !== undefined) throw failure;
    return lost;
  }

  /** Creates `tables/{table}` with the prefix, or checks the prefix it already has (tables written by earlier pipelines may have none). */
  private checkTable(): Promise<void> {
    this.tableChecked ??= (async () => {
      const ref = this.firestore.collection('tables').doc(this.options.table);
      let snapshot = await this.call(() => ref.get());
      if (!snapshot.exists) {
        try {
          await this.call(() => ref.create({ uuidPrefix: this.options.uuidPrefix }));
          return;
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
          snapshot = await this.call(() => ref.get());
        }
      }
      const stored = snapshot.get('uuidPrefix') as unknown;
      if (stored !== undefined && stored !== this.options.uuidPrefix) {
        throw new BadInputError(`UUID table ${this.options.table} was created with uuid prefix ${JSON.stringify(stored)}, not ${JSON.stringify(this.options.uuidPrefix)}`);
      }
    })();
    this.tableChecked.catch(() => (this.tableChecked = undefined)); // a transient failure is retried next call
    return this.tableChecked;
  }
}

export interface FirestoreClientOptions {
  projectId: string;
  /** A service-account key; application default credentials when absent. Ignored by the emulator. */
  credentials?: { client_email?: string; private_key?: string };
  /** `host:port` of an emulator. When unset the client still honours FIRESTORE_EMULATOR_HOST. */
  emulatorHost?: string;
}

export function createFirestoreClient(options: FirestoreClientOptions): Firestore {
  const settings: Settings = {
    projectId: options.projectId,
    // gRPC shares connections between clients process-wide by default: a connection that stopped answering
    // would be handed to the client a retried attempt opens, and every attempt would hang on it. With a
    // pool per client, a new client (a retried attempt) makes a new connection.
    'grpc.use_local_subchannel_pool': 1,
  };
  // The emulator takes no credentials; naming the universe stops the client probing for a GCE metadata server.
  if (options.emulatorHost) Object.assign(settings, { host: options.emulatorHost, ssl: false, universeDomain: 'googleapis.com' });
  else if (options.credentials) settings.credentials = options.credentials;
  return new Firestore(settings);
}
