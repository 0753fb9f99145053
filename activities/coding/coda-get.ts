/**
 * coda-get: for each dataset of the coding plan, the messages updated in Coda since the previous export
 * (per segment, `LastUpdated` after that segment's high-water mark), merged by MessageID into the previous
 * export's messages, sorted by SequenceNumber, written to `coded/<run id>/<dataset name>.json`. Then
 * `coded/<run id>/export-state.json` with the new marks; written last, its presence marks the export
 * complete. Earlier exports are never changed.
 *
 * The previous export is the newest complete `coded/<run>/` whose run id sorts before this run's (run ids
 * start with their UTC time). A dataset it lacks, or one whose Coda dataset id changed, is read in full.
 * A Coda document that is not a usable message is written to `rejects.jsonl` with the reason; the
 * previous export's version of that message, if any, stays. Deletions in Coda are not seen by an
 * incremental read (as with the AVF tools).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { forEachConcurrently } from '../deid/uuid-table';
import { DATA_ROOT_LAYERS } from '../runs/data-root';
import type { StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import { writeFileAtomic } from '../storage/atomic-write';
import { digestBuffer } from '../storage/hashing';
import type { codaGetStage } from './coda-get.stage';
import type { CodaMessage } from './coda-message';
import { checkCodaMessage, schemeCodesOf } from './coda-message-check';
import { codingPlanOf, loadPlanCodeSchemes } from './plan-code-schemes';

export const EXPORT_STATE_FILE = 'export-state.json';
const REJECTS_FILE = 'rejects.jsonl';
const DATASET_CONCURRENCY = 2;
const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;

export interface DatasetExportState {
  codaDatasetId: string;
  /** The dataset's file, in the same folder. */
  file: string;
  messages: number;
  /** Coda documents read by this export (all of them when there was no mark). */
  read: number;
  rejected: number;
  /** High-water marks: per segment id, the newest LastUpdated read there. */
  segments: Record<string, string>;
}

export interface ExportState {
  version: 1;
  runId: string;
  /** The export this one continued, if any. */
  previousRunId?: string;
  exportedAt: string;
  datasets: Record<string, DatasetExportState>;
}

export const codedFolder = (dataRoot: string, runId: string): string => join(dataRoot, DATA_ROOT_LAYERS.coded, runId);

/** The newest complete export of a run before `runId`. */
export async function previousExport(dataRoot: string, runId: string): Promise<ExportState | undefined> {
  let runs: string[];
  try {
    runs = (await readdir(join(dataRoot, DATA_ROOT_LAYERS.coded), { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  for (const run of runs.filter((name) => name < runId).sort().reverse()) {
    try {
      const state = JSON.parse(await readFile(join(codedFolder(dataRoot, run), EXPORT_STATE_FILE), 'utf8')) as ExportState;
      if (state.version === 1 && state.runId === run) return state;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
    }
  }
  return undefined;
}

/** By SequenceNumber; messages without one (written by tools that set none) last, by MessageID. */
function bySequenceNumber(a: CodaMessage, b: CodaMessage): number {
  const sa = a.SequenceNumber ?? Number.POSITIVE_INFINITY;
  const sb = b.SequenceNumber ?? Number.POSITIVE_INFINITY;
  if (sa !== sb) return sa < sb ? -1 : 1;
  return a.MessageID < b.MessageID ? -1 : a.MessageID > b.MessageID ? 1 : 0;
}

/** One message per line: readable, and diffs between exports stay small. */
function messagesText(messages: readonly CodaMessage[]): string {
  return messages.length === 0 ? '[]\n' : `[\n${messages.map((message) => JSON.stringify(message)).join(',\n')}\n]\n`;
}

async function readPreviousMessages(dataRoot: string, state: ExportState, dataset: DatasetExportState): Promise<CodaMessage[] | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(codedFolder(dataRoot, state.runId), dataset.file), 'utf8')) as unknown;
    return Array.isArray(parsed) ? (parsed as CodaMessage[]) : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

export const codaGetImplementation: StageImplementation<typeof codaGetStage> = {
  version: 1,
  /** The run id is part of the inputs: Coda changes without the config changing, so every run pulls. */
  async inputs(context) {
    const plan = codingPlanOf(context.request);
    const schemes = await loadPlanCodeSchemes(context.dataRoot, plan);
    return {
      runId: context.request.runId,
      store: plan.store,
      datasets: plan.datasets.map((dataset, index) => ({ name: dataset.name, codaDatasetId: dataset.codaDatasetId, codeSchemes: schemes[index]!.digests })),
    };
  },

  async run(context) {
    const { request, dataRoot, logger } = context;
    const plan = codingPlanOf(request);
    const schemes = await loadPlanCodeSchemes(dataRoot, plan);
    const folder = codedFolder(dataRoot, request.runId);
    const previous = await previousExport(dataRoot, request.runId);
    const state: ExportState = { version: 1, runId: request.runId, ...(previous ? { previousRunId: previous.runId } : {}), exportedAt: context.now().toISOString(), datasets: {} };
    const rejectsByDataset: string[][] = plan.datasets.map(() => []);
    const outputs: StageOutputs = {};

    const opened = await context.openCodaStore(plan.store);
    try {
      await forEachConcurrently(
        plan.datasets.map((_, index) => index),
        DATASET_CONCURRENCY,
        async (index) => {
          const dataset = plan.datasets[index]!;
          const earlier = previous?.datasets[dataset.name];
          const base = earlier && earlier.codaDatasetId === dataset.codaDatasetId && previous ? await readPreviousMessages(dataRoot, previous, earlier) : undefined;
          const marks = new Map(base ? Object.entries(earlier!.segments) : []);
          const merged = new Map((base ?? []).map((message) => [message.MessageID, message]));

          const storeSchemes = await opened.store.codeSchemesIn(dataset.codaDatasetId);
          const codes = schemeCodesOf([...schemes[index]!.schemes, ...storeSchemes]);
          let read = 0;
          for (const { segmentId, documents } of await opened.store.readMessages(dataset.codaDatasetId, marks)) {
            context.signal.throwIfAborted();
            for (const { id, data } of documents) {
              read += 1;
              const lastUpdated = data.LastUpdated;
              if (typeof lastUpdated === 'string' && ISO_MICROS.test(lastUpdated) && lastUpdated > (marks.get(segmentId) ?? '')) marks.set(segmentId, lastUpdated);
              const check = checkCodaMessage(data, codes, id);
              if (check.ok) merged.set(check.message.MessageID, check.message);
              else rejectsByDataset[index]!.push(JSON.stringify({ dataset: dataset.name, segment: segmentId, documentId: id, reason: check.reason }));
            }
            context.reportProgress({ dataset: dataset.name, segment: segmentId, read });
          }

          const messages = [...merged.values()].sort(bySequenceNumber);
          const file = `${dataset.name}.json`;
          const text = messagesText(messages);
          await writeFileAtomic(join(folder, file), text);
          const { bytes, sha256 } = digestBuffer(Buffer.from(text));
          const rejected = rejectsByDataset[index]!.length;
          outputs[`coded/${dataset.name}`] = { uri: pathToFileURL(join(folder, file)).href, bytes, sha256, records: messages.length, rejected };
          state.datasets[dataset.name] = { codaDatasetId: dataset.codaDatasetId, file, messages: messages.length, read, rejected, segments: Object.fromEntries([...marks].sort()) };
          logger.info({ event: 'CodaGet', dataset: dataset.name, read, messages: messages.length, rejected, incremental: base !== undefined }, 'coded messages downloaded');
        },
      );
    } finally {
      await opened.close();
    }

    const rejects = rejectsByDataset.flat();
    const rejectsText = rejects.map((line) => `${line}\n`).join('');
    await writeFileAtomic(join(folder, REJECTS_FILE), rejectsText);
    const rejectsDigest = digestBuffer(Buffer.from(rejectsText));
    outputs['coded/rejects'] = { uri: pathToFileURL(join(folder, REJECTS_FILE)).href, bytes: rejectsDigest.bytes, sha256: rejectsDigest.sha256, records: rejects.length };

    // Last: its presence says every dataset file of this export is complete.
    const ordered: ExportState = { ...state, datasets: Object.fromEntries(plan.datasets.map((dataset) => [dataset.name, state.datasets[dataset.name]!])) };
    const stateText = `${JSON.stringify(ordered, null, 2)}\n`;
    await writeFileAtomic(join(folder, EXPORT_STATE_FILE), stateText);
    const { bytes, sha256 } = digestBuffer(Buffer.from(stateText));
    outputs['coded/export-state'] = { uri: pathToFileURL(join(folder, EXPORT_STATE_FILE)).href, bytes, sha256 };
    return outputs;
  },
};
