/**
 * The embedded document store: one SQLite file under the data home, `<data home>/.coda-stores/<name>.sqlite`,
 * with Firestore's document layout and the semantics coda-store.ts relies on (see document-store.ts).
 * Outside every data root, like the local UUID tables: what coders see is not part of a data root's backup.
 *
 * - Documents are rows `(collection, id, data JSON)`; `LastUpdated` and `SequenceNumber` have expression
 *   indexes, the two fields Coda queries by.
 * - A transaction is `BEGIN IMMEDIATE`: it takes the write lock before its first read, so conflicting
 *   writers in any process on the machine are serialised (a `busy_timeout` makes the next one wait
 *   rather than fail). Its writes are kept until the body returns and applied together before COMMIT.
 *   Within one process transactions also queue, since they share one connection.
 * - Server timestamps are the commit's time in microseconds, kept strictly increasing across commits
 *   (`meta.clock`, read and advanced under the write lock). Readers see whole commits, so a reader that has
 *   seen timestamp t has seen every commit up to t, and `LastUpdated > t` never misses a later write.
 * - `synchronous = FULL`: a commit that returned survives a power cut.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

import Database from 'better-sqlite3';

import { BadInputError } from '../errors';
import {
  checkCollectionPath,
  checkFieldName,
  type CollectionQuery,
  type DocumentData,
  DocumentExistsError,
  type DocumentStore,
  type DocumentTransaction,
  type DocumentWrites,
  isoFromMicros,
  isServerTimestamp,
  type QueryValue,
  splitDocumentPath,
  type StoredDocument,
  StoreTimestamp,
} from './document-store';

const STORE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function localCodaStorePath(dataHome: string, name: string): string {
  if (!STORE_NAME.test(name)) throw new BadInputError(`coding.store.name must be letters, digits, "_" and "-" (1 to 64): ${JSON.stringify(name)}`);
  return join(dataHome, '.coda-stores', `${name}.sqlite`);
}

type Write = { kind: 'create' | 'set'; path: string; data: DocumentData; merge: boolean };

interface Row {
  id: string;
  data: string;
}

function nowMicros(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}

/** The SQL value and the JSON types a query value matches (Firestore compares values of one type only). */
function sqlValue(value: QueryValue): { value: string | number; types: string } {
  if (value instanceof StoreTimestamp) return { value: value.iso, types: "('text')" };
  if (typeof value === 'string') return { value, types: "('text')" };
  if (typeof value === 'number') return { value, types: "('integer', 'real')" };
  return { value: value ? 1 : 0, types: "('true', 'false')" };
}

function collect(writes: Write[]): DocumentWrites {
  return {
    create: (path, data) => void writes.push({ kind: 'create', path, data, merge: false }),
    set: (path, data, options) => void writes.push({ kind: 'set', path, data, merge: options?.merge ?? false }),
  };
}

export class LocalDocumentStore implements DocumentStore {
  readonly description: string;
  private readonly db: Database.Database;
  private readonly selectDocument: Database.Statement<[string, string], { data: string }>;
  private readonly insertDocument: Database.Statement<[string, string, string]>;
  private readonly replaceDocument: Database.Statement<[string, string, string]>;
  private readonly readClock: Database.Statement<[], { value: number | bigint }>;
  private readonly writeClock: Database.Statement<[bigint]>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: { file: string; name?: string; busyTimeoutMs?: number }) {
    this.description = `local Coda store ${JSON.stringify(options.name ?? options.file)}`;
    mkdirSync(dirname(options.file), { recursive: true });
    this.db = new Database(options.file);
    try {
      // busy_timeout first: switching to WAL and creating the schema take locks another process may hold.
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 60_000))}`);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS documents (collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (collection, id)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS documents_last_updated ON documents (collection, json_extract(data, '$.LastUpdated'));
        CREATE INDEX IF NOT EXISTS documents_sequence_number ON documents (collection, json_extract(data, '$.SequenceNumber'));
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      `);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.db.defaultSafeIntegers(false);
    this.selectDocument = this.db.prepare('SELECT data FROM documents WHERE collection = ? AND id = ?');
    this.insertDocument = this.db.prepare('INSERT INTO documents (collection, id, data) VALUES (?, ?, ?)');
    this.replaceDocument = this.db.prepare('INSERT OR REPLACE INTO documents (collection, id, data) VALUES (?, ?, ?)');
    this.readClock = this.db.prepare("SELECT value FROM meta WHERE key = 'clock'").safeIntegers(true) as Database.Statement<[], { value: bigint }>;
    this.writeClock = this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock', ?)");
  }

  getAll(paths: readonly string[]): Promise<Array<DocumentData | undefined>> {
    return Promise.resolve(this.readAll(paths));
  }

  query(collection: string, query: CollectionQuery = {}): Promise<StoredDocument[]> {
    return Promise.resolve(this.runQuery(collection, query));
  }

  count(collection: string): Promise<number> {
    checkCollectionPath(collection);
    const row = this.db.prepare('SELECT count(*) AS n FROM documents WHERE collection = ?').get(collection) as { n: number };
    return Promise.resolve(row.n);
  }

  runTransaction<T>(body: (transaction: DocumentTransaction) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const writes: Write[] = [];
        const transaction: DocumentTransaction = {
          getAll: async (paths) => this.readAll(paths),
          query: async (collection, query) => this.runQuery(collection, query ?? {}),
          ...collect(writes),
        };
        const result = await body(transaction);
        this.apply(writes);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  commit(build: (batch: DocumentWrites) => void): Promise<void> {
    return this.runTransaction(async (transaction) => build(transaction));
  }

  close(): Promise<void> {
    return this.exclusive(async () => void this.db.close());
  }

  /** Runs `task` after every earlier one of this instance: transactions share the connection. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private readAll(paths: readonly string[]): Array<DocumentData | undefined> {
    return paths.map((path) => {
      const { collection, id } = splitDocumentPath(path);
      const row = this.selectDocument.get(collection, id);
      return row ? (JSON.parse(row.data) as DocumentData) : undefined;
    });
  }

  private runQuery(collection: string, query: CollectionQuery): StoredDocument[] {
    checkCollectionPath(collection);
    const conditions = ['collection = ?'];
    const parameters: Array<string | number> = [collection];
    for (const { field, op, value } of query.where ?? []) {
      checkFieldName(field);
      if (!['==', '<', '<=', '>', '>='].includes(op)) throw new Error(`unsupported query operator ${op}`);
      const { value: bound, types } = sqlValue(value);
      conditions.push(`json_type(data, '$.${field}') IN ${types}`, `json_extract(data, '$.${field}') ${op === '==' ? '=' : op} ?`);
      parameters.push(bound);
    }
    let order = 'ORDER BY id';
    if (query.orderBy) {
      checkFieldName(query.orderBy.field);
      const path = `'$.${query.orderBy.field}'`;
      conditions.push(`json_type(data, ${path}) IS NOT NULL AND json_type(data, ${path}) != 'null'`);
      order = `ORDER BY json_extract(data, ${path}) ${query.orderBy.direction === 'desc' ? 'DESC' : 'ASC'}, id`;
    }
    const limit = query.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(query.limit))}` : '';
    const idsOnly = query.select !== undefined && query.select.length === 0;
    const rows = this.db.prepare(`SELECT id${idsOnly ? '' : ', data'} FROM documents WHERE ${conditions.join(' AND ')} ${order} ${limit}`).all(...parameters) as Row[];
    return rows.map((row) => {
      if (idsOnly) return { id: row.id, data: {} };
      const data = JSON.parse(row.data) as DocumentData;
      if (query.select === undefined) return { id: row.id, data };
      return { id: row.id, data: Object.fromEntries(query.select.filter((field) => field in data).map((field) => [field, data[field]])) };
    });
  }

  /** Applies a commit's writes inside the open transaction; a create of an existing document fails them all. */
  private apply(writes: readonly Write[]): void {
    let timestamp: string | undefined;
    const stamp = (): string => {
      if (timestamp === undefined) {
        const last = this.readClock.get()?.value;
        let micros = nowMicros();
        if (last !== undefined && micros <= BigInt(last)) micros = BigInt(last) + 1n;
        this.writeClock.run(micros);
        timestamp = isoFromMicros(micros);
      }
      return timestamp;
    };
    for (const write of writes) {
      const { collection, id } = splitDocumentPath(write.path);
      let data: DocumentData = {};
      for (const [field, value] of Object.entries(write.data)) data[field] = isServerTimestamp(value) ? stamp() : value;
      if (write.kind === 'create') {
        if (this.selectDocument.get(collection, id)) throw new DocumentExistsError(`${write.path} already exists`);
        this.insertDocument.run(collection, id, JSON.stringify(data));
        continue;
      }
      if (write.merge) {
        const existing = this.selectDocument.get(collection, id);
        if (existing) data = { ...(JSON.parse(existing.data) as DocumentData), ...data };
      }
      this.replaceDocument.run(collection, id, JSON.stringify(data));
    }
  }
}
