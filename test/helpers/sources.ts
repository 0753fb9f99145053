/** Shared set-up of the fetch-sources tests: a data root, a blob store, captured logs and heartbeats. */
import { mkdtempSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

import pino from 'pino';

import { LocalUuidTable } from '../../activities/deid/local-uuid-table';
import type { UuidTable } from '../../activities/deid/uuid-table';
import type { FetchSourcesContext } from '../../activities/sources/fetch-sources';
import { type FetchSourcesConfig, fetchSourcesConfigSchema } from '../../activities/sources/fetch-sources.stage';
import { LocalBlobStore } from '../../activities/storage/local-blob-store';

const openTables: LocalUuidTable[] = [];
after(() => openTables.forEach((table) => table.close()));

/**
 * The real local UUID table (SQLite, in a folder of its own), recording what the fetch asked of it so a
 * test can check which identifiers were de-identified: `forward` holds every id → uuid it answered.
 */
export class RecordingUuidTable implements UuidTable {
  readonly forward = new Map<string, string>();
  calls = 0;
  private readonly table: LocalUuidTable;

  constructor(uuidPrefix: string) {
    this.table = new LocalUuidTable({ file: join(mkdtempSync(join(tmpdir(), 'uuid-table-')), 'table.sqlite'), uuidPrefix });
    openTables.push(this.table);
  }

  async dataToUuids(ids: readonly string[]): Promise<Map<string, string>> {
    this.calls += 1;
    const answered = await this.table.dataToUuids(ids);
    for (const [id, uuid] of answered) this.forward.set(id, uuid);
    return answered;
  }

  uuidsToData(uuids: readonly string[]): Promise<Map<string, string>> {
    return this.table.uuidsToData(uuids);
  }
}

export interface Harness {
  context: FetchSourcesContext;
  logs: string[];
  heartbeats: Array<Record<string, unknown>>;
  sleeps: number[];
}

/** A context for one attempt of the stage; `config` is parsed by the real schema. */
export function sourcesContext(options: {
  dataRoot: string;
  runId: string;
  config: Record<string, unknown>;
  table: UuidTable;
  now: Date;
  bucketsRoot: string;
  resumeFrom?: unknown;
  onHeartbeat?: (details: Record<string, unknown>, count: number) => void;
  fetch?: typeof globalThis.fetch;
  logs?: string[];
  blobStore?: FetchSourcesContext['blobStore'];
}): Harness {
  const logs = options.logs ?? [];
  const heartbeats: Array<Record<string, unknown>> = [];
  const sleeps: number[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const stage: FetchSourcesConfig = fetchSourcesConfigSchema.parse({ stage: 'fetch-sources', ...options.config });
  const context: FetchSourcesContext = {
    request: { runId: options.runId, pipelineName: 'test', dataRoot: options.dataRoot, stage, upstream: {}, overwrite: false },
    dataRoot: options.dataRoot,
    blobStore: options.blobStore ?? new LocalBlobStore(options.bucketsRoot),
    logger,
    now: () => options.now,
    reportProgress: (details) => {
      // Payloads go through JSON, as Temporal's heartbeat details do.
      const copy = JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
      heartbeats.push(copy);
      options.onHeartbeat?.(copy, heartbeats.length);
    },
    ...(options.resumeFrom === undefined ? {} : { resumeFrom: options.resumeFrom }),
    uuidTable: () => options.table,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    http: {
      sleep: async (ms) => void sleeps.push(ms),
      backoffMs: 10,
    },
  };
  return { context, logs, heartbeats, sleeps };
}

export async function readJsonl(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Every file under a folder (recursively), for leak checks. */
export async function allFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if ((await stat(path)).isFile()) out.push(path);
    }
  }
  await walk(root);
  return out;
}

/** The needles (tokens, phone numbers, names) found in any of the texts, with where. */
export function leaks(texts: Array<{ where: string; text: string }>, needles: readonly string[]): string[] {
  const found: string[] = [];
  for (const { where, text } of texts) for (const needle of needles) if (text.includes(needle)) found.push(`${needle} in ${where}`);
  return found;
}
