/**
 * The embedded UUID table: one SQLite file per table under the data home, `<data home>/.uuid-tables/<table>.sqlite`,
 * outside every data root so backups and uploads of a data root never carry raw identifiers.
 *
 * Why SQLite (better-sqlite3): it is a real transactional store that several worker processes on one
 * machine can share safely — file locks serialise writers, WAL lets readers run beside a writer — so the
 * local table keeps the Firestore table's guarantees without Java, a server or cloud credentials. Existing
 * mappings are read without a lock; the missing ones are created by `INSERT OR IGNORE` and read back by a
 * `SELECT` inside one `BEGIN IMMEDIATE` transaction per chunk. That transaction takes the write lock before
 * it reads, so whichever process inserts an id first, every process reads back that one row; the other's
 * candidate uuid is ignored. A `busy_timeout` makes a process wait for
 * the lock instead of failing, `synchronous = FULL` makes a committed mapping survive a power cut (a
 * mapping lost after its uuid was written out would give that person a second uuid), and a UNIQUE index
 * on uuid serves the reverse look-up and forbids two ids sharing a uuid. The native module is built from
 * source at install (package.json `allowScripts` lets npm run its build).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

import Database from 'better-sqlite3';

import { BadInputError } from '../errors';
import { checkNormalisedId, checkTableName, chunksOf, newUuid, type UuidTable, type UuidTableCounters } from './uuid-table';

export function localUuidTablePath(dataHome: string, table: string): string {
  checkTableName(table);
  return join(dataHome, '.uuid-tables', `${table}.sqlite`);
}

export interface LocalUuidTableOptions {
  /** The SQLite file; created with its folder when missing. */
  file: string;
  uuidPrefix: string;
  /** How long to wait for another process's write lock before failing (SQLITE_BUSY). */
  busyTimeoutMs?: number;
  /** Ids per transaction: larger chunks mean fewer fsyncs (5,000 holds the write lock for tens of milliseconds). */
  chunkSize?: number;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class LocalUuidTable implements UuidTable {
  private readonly db: Database.Database;
  private readonly selectUuid: Database.Statement<[string], { uuid: string }>;
  private readonly selectId: Database.Statement<[string], { id: string }>;
  private readonly insert: Database.Statement<[string, string]>;
  private readonly createChunk: (ids: readonly string[], found: Map<string, string>) => void;
  private readonly chunkSize: number;
  private readonly counters: UuidTableCounters = { created: 0, conflicts: 0 };

  constructor(private readonly options: LocalUuidTableOptions) {
    this.chunkSize = options.chunkSize ?? 5_000;
    mkdirSync(dirname(options.file), { recursive: true });
    this.db = new Database(options.file);
    try {
      // busy_timeout first: switching to WAL and creating the schema take locks another process may hold.
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 30_000))}`);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS mappings (id TEXT PRIMARY KEY, uuid TEXT NOT NULL) WITHOUT ROWID;
        CREATE UNIQUE INDEX IF NOT EXISTS mappings_uuid ON mappings (uuid);
      `);
      this.checkPrefix();
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.selectUuid = this.db.prepare('SELECT uuid FROM mappings WHERE id = ?');
    this.selectId = this.db.prepare('SELECT id FROM mappings WHERE uuid = ?');
    this.insert = this.db.prepare('INSERT OR IGNORE INTO mappings (id, uuid) VALUES (?, ?)');
    const create = this.db.transaction((ids: readonly string[], found: Map<string, string>) => {
      for (const id of ids) {
        if (this.insert.run(id, newUuid(options.uuidPrefix)).changes === 1) this.counters.created += 1;
      }
      for (const id of ids) {
        const row = this.selectUuid.get(id);
        if (row) found.set(id, row.uuid);
      }
    });
    this.createChunk = (ids, found) => create.immediate(ids, found);
  }

  /** A table keeps the prefix it was created with: mixing prefixes in one table would be a silent mistake. */
  private checkPrefix(): void {
    const ensure = this.db.transaction(() => {
      this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('uuid_prefix', ?)").run(this.options.uuidPrefix);
      return (this.db.prepare("SELECT value FROM meta WHERE key = 'uuid_prefix'").get() as { value: string }).value;
    });
    const stored = ensure.immediate();
    if (stored !== this.options.uuidPrefix) {
      throw new BadInputError(`UUID table ${this.options.file} was created with uuid prefix ${JSON.stringify(stored)}, not ${JSON.stringify(this.options.uuidPrefix)}`);
    }
  }

  async dataToUuids(ids: readonly string[]): Promise<Map<string, string>> {
    const unique = [...new Set(ids)];
    unique.forEach(checkNormalisedId);
    const found = new Map<string, string>();
    for (const chunk of chunksOf(unique, this.chunkSize)) {
      // Existing mappings are read without the write lock (WAL readers never wait); only missing ones lock.
      let missing = chunk.filter((id) => {
        const row = this.selectUuid.get(id);
        if (row) found.set(id, row.uuid);
        return !row;
      });
      // A row can still be missing after the insert only if its new uuid collided with another id's
      // (the UNIQUE index made INSERT OR IGNORE skip it): draw again.
      for (let attempt = 0; missing.length > 0; attempt++) {
        if (attempt === 3) throw new Error(`could not create ${missing.length} mappings after 3 attempts`);
        const before = this.counters.created;
        this.createChunk(missing, found);
        this.counters.conflicts += missing.filter((id) => found.has(id)).length - (this.counters.created - before);
        missing = missing.filter((id) => !found.has(id));
      }
      await yieldToEventLoop();
    }
    return found;
  }

  async uuidsToData(uuids: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const chunk of chunksOf([...new Set(uuids)], this.chunkSize)) {
      for (const uuid of chunk) {
        const row = this.selectId.get(uuid);
        if (row) found.set(uuid, row.id);
      }
      await yieldToEventLoop();
    }
    return found;
  }

  getCounters(): UuidTableCounters {
    return { ...this.counters };
  }

  /** How many mappings the table holds. */
  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM mappings').get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
