/**
 * Recovery CSV source: messages an operator recovered (headers `Sender`, `Message`, `ReceivedOn`)
 * become message records like the other sources', the sender de-identified. The CSV, which holds raw
 * phone numbers, is downloaded into the run's source folder under a temporary name only (backups and
 * fingerprints skip such names), and removed when the unit ends, however it ends; it carries the
 * activity's tag, so after a crash the next attempt removes it, and the startup sweep any left older.
 * Rows that cannot be used go to rejects.jsonl with their row number and a reason, never their cells.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { parse } from 'csv-parse';

import { normalisePhoneNumber } from '../deid/normalise';
import type { Deidentifier } from '../deid/uuid-table';
import { BadInputError } from '../errors';
import { temporaryPathFor } from '../storage/atomic-write';
import { uuidsFor } from './deidentify';
import type { RecoveryCsvSourceConfig } from './fetch-sources.stage';
import type { Reject, SourceRun, SourceSummary } from './source-run';

const ROWS_PER_PAGE = 1000;
const REQUIRED_HEADERS = ['Sender', 'Message', 'ReceivedOn'] as const;

/** ReceivedOn as ISO UTC; a time without a zone is taken as UTC. Undefined when not a date. */
export function parseReceivedOn(text: string): string | undefined {
  const trimmed = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(trimmed)) return undefined;
  const withZone = /(Z|[+-]\d{2}:?\d{2})$/.test(trimmed) || trimmed.length === 10 ? trimmed : `${trimmed}Z`;
  const ms = Date.parse(withZone.replace(' ', 'T'));
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** `<flow type>-<object basename>.jsonl`, made unique within the run folder. */
export function uniqueFileName(used: Set<string>, flowType: string, uri: string, extension: string): string {
  const base = basename(uri).replace(/\.[A-Za-z0-9]+$/, '').replace(/[^A-Za-z0-9_.-]+/g, '-') || 'data';
  let name = `${flowType}-${base}${extension}`;
  for (let n = 2; used.has(name); n += 1) name = `${flowType}-${base}-${n}${extension}`;
  used.add(name);
  return name;
}

interface RowPosition {
  /** Data rows (after the header) already written or rejected. */
  rows: number;
}

export async function fetchRecoveryCsv(run: SourceRun, config: RecoveryCsvSourceConfig): Promise<SourceSummary> {
  const { deps } = run;
  const { signal } = deps.http;
  const used = new Set<string>();
  const inputs = [
    ...config.activationFlowUrls.map((uri) => ({ uri, flowType: 'activation' as const })),
    ...config.surveyFlowUrls.map((uri) => ({ uri, flowType: 'survey' as const })),
  ];
  for (const input of inputs) {
    const name = uniqueFileName(used, input.flowType, input.uri, '.jsonl');
    const fileLabel = basename(input.uri);
    await run.unit<RowPosition>(name, { flowType: input.flowType, origin: input.uri }, async (page, resumeFrom) => {
      const local = temporaryPathFor(join(run.folder, name.replace(/\.jsonl$/, '.csv')));
      let source: ReadStream | undefined;
      try {
        await deps.blobStore.getFile(input.uri, local, signal ? { signal } : {});
        source = createReadStream(local);
        const parser = source.pipe(parse({ relax_column_count: true, bom: true, skip_empty_lines: true }));
        let header: string[] | undefined;
        let row = 0;
        let batch: Array<{ row: number; cells: string[] }> = [];
        const flush = async () => {
          signal?.throwIfAborted();
          const { records, rejects } = await toRecords(batch, header!, input.flowType, fileLabel, deps.deidentifier);
          await page(records, rejects, { rows: row });
          batch = [];
        };
        for await (const cells of parser as AsyncIterable<string[]>) {
          if (!header) {
            header = cells.map((cell) => cell.trim());
            const missing = REQUIRED_HEADERS.filter((wanted) => !header!.includes(wanted));
            if (missing.length > 0) throw new BadInputError(`${config.name}: ${input.uri} lacks the header(s) ${missing.join(', ')}`);
            continue;
          }
          row += 1;
          if (resumeFrom && row <= resumeFrom.rows) continue;
          batch.push({ row, cells });
          if (batch.length === ROWS_PER_PAGE) await flush();
        }
        if (!header) throw new BadInputError(`${config.name}: ${input.uri} is empty (no header row)`);
        if (batch.length > 0 || !resumeFrom) await flush();
      } finally {
        // A parser left early (a cancel, a bad header) does not close its source.
        source?.destroy();
        await rm(local, { force: true });
      }
    });
  }
  return run.complete();
}

async function toRecords(
  rows: ReadonlyArray<{ row: number; cells: string[] }>,
  header: readonly string[],
  flowType: 'activation' | 'survey',
  file: string,
  deidentifier: Deidentifier,
): Promise<{ records: unknown[]; rejects: Reject[] }> {
  const column = (name: string) => header.indexOf(name);
  const [sender, message, receivedOn] = [column('Sender'), column('Message'), column('ReceivedOn')];
  const rejects: Reject[] = [];
  const usable: Array<{ row: number; id: string; message: string; receivedOn: string }> = [];
  for (const { row, cells } of rows) {
    const at = { file, row };
    if (cells.length !== header.length) {
      rejects.push({ reason: `expected ${header.length} cells, found ${cells.length}`, at });
      continue;
    }
    let id: string;
    try {
      id = normalisePhoneNumber(cells[sender]!);
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      rejects.push({ reason: `Sender: ${err.message}`, at });
      continue;
    }
    const when = parseReceivedOn(cells[receivedOn]!);
    if (!when) {
      rejects.push({ reason: 'ReceivedOn: not a date-time', at });
      continue;
    }
    usable.push({ row, id, message: cells[message]!, receivedOn: when });
  }
  const uuids = await uuidsFor(deidentifier, usable.map(({ id }) => id));
  const records = usable.map(({ row, id, message: text, receivedOn: when }) => ({
    flow_type: flowType,
    file,
    row,
    participant_uuid: uuids.get(id)!,
    Message: text,
    ReceivedOn: when,
  }));
  return { records, rejects };
}
