/**
 * The remap step, pure over the data root: reads fetched raw files, writes `raw/remapped/<run id>/`
 * (`messages.jsonl`, `rejects.jsonl`, `summary.json`). It never fetches, so it can be re-run alone.
 *
 * Which raw files: for Rapid Pro sources every complete fetch up to this run (each holds only what was new
 * then), keeping the newest `modified_on` of each run uuid; for the other kinds, which fetch everything
 * each time, the newest complete fetch up to this run. Contacts are not messages and are not read.
 *
 * Each raw record becomes flat source keys:
 * - Rapid Pro run: per result `k` of flow `F`, `k (Text) - F` (the input, else the value), `k (Value) - F`,
 *   `k (Category) - F`, `k (Time) - F`; also `created_on`, `modified_on`.
 * - Recovery CSV row: `Message`, `ReceivedOn`.  Facebook comment: `D (Text)`, `D (Time)`, `D (Post ID)`,
 *   `D (Parent ID)` for dataset `D`.  Bucket object lines: their own keys.
 * plus `received_at`, the record's time (run: `created_on` — activation runs start when the message
 * arrives; CSV: ReceivedOn; comment: created_time; bucket: the first of received_at, sent_on,
 * created_on, ReceivedOn, timestamp).
 * Then, in order: test runs dropped when `filterTestMessages`; sourceKeyRemappings copy source keys to
 * pipeline keys (records with none are counted as unmapped, not written); timestampRemappings move an
 * activation message whose `timeKey` lies in a range to `showPipelineKeyToRemapTo` (and set the time to
 * `timeToAdjustTo`); activation messages outside [projectStartDate, projectEndDate) are dropped; survey
 * records are not filtered. Every record dropped is counted in summary.json by reason.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import type { Logger } from 'pino';

import { writeFileAtomic } from '../storage/atomic-write';
import type { FetchSourcesConfig, SourceConfig } from './fetch-sources.stage';
import { type FinishedFile, JsonlAppender, readJsonIfExists, removeFolder } from './raw-files';
import { completedRunSummaries, sourceFolder, type SourceSummary, SUMMARY_FILE } from './source-run';

export const REMAPPED_FOLDER = 'remapped';

export interface RemapCounts {
  read: number;
  written: number;
  superseded: number;
  testDropped: number;
  unmapped: number;
  outsideProjectWindow: number;
  timestampRemapped: number;
  rejected: number;
}

export interface RemapResult {
  runId: string;
  messages: FinishedFile;
  rejects: FinishedFile;
  counts: RemapCounts;
  inputs: string[];
}

type Flat = Record<string, unknown>;

interface RawInput {
  source: SourceConfig;
  runId: string;
  file: SourceSummary['files'][number];
  path: string;
}


async function* lines(path: string): AsyncGenerator<{ line: number; value: unknown }> {
  const reader = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let line = 0;
  for await (const text of reader) {
    line += 1;
    if (!text.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    yield { line, value };
  }
}

/** A `.json` bucket object: an array of records, or one record. */
async function* jsonRecords(path: string): AsyncGenerator<{ line: number; value: unknown }> {
  const value = await readJsonIfExists<unknown>(path);
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  for (let i = 0; i < values.length; i += 1) yield { line: i + 1, value: values[i] };
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function timeOf(value: unknown): string | undefined {
  const text = asString(value);
  if (!text) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** Flat source keys, record id and time of one raw record; undefined for a line that is not a record. */
export function flatten(kind: SourceConfig['kind'], record: Flat, fileName: string, line: number): { flat: Flat; id: string } | undefined {
  if (kind === 'rapid-pro') {
    const flow = (record.flow as { name?: string } | undefined)?.name ?? '';
    const values = record.values as Record<string, { value?: unknown; input?: unknown; category?: unknown; time?: unknown }> | undefined;
    if (typeof record.run_uuid !== 'string' || !values) return undefined;
    const flat: Flat = { created_on: record.created_on, modified_on: record.modified_on, received_at: timeOf(record.created_on) ?? timeOf(record.modified_on) };
    for (const [key, value] of Object.entries(values)) {
      flat[`${key} (Text) - ${flow}`] = value.input ?? value.value ?? null;
      flat[`${key} (Value) - ${flow}`] = value.value ?? null;
      flat[`${key} (Category) - ${flow}`] = value.category ?? null;
      flat[`${key} (Time) - ${flow}`] = value.time ?? null;
    }
    return { flat, id: record.run_uuid };
  }
  if (kind === 'recovery-csv') {
    return { flat: { Message: record.Message, ReceivedOn: record.ReceivedOn, received_at: timeOf(record.ReceivedOn) }, id: `${record.file}#${record.row}` };
  }
  if (kind === 'facebook') {
    const dataset = String(record.dataset);
    return {
      flat: {
        [`${dataset} (Text)`]: record.message,
        [`${dataset} (Time)`]: record.created_time,
        [`${dataset} (Post ID)`]: record.post_id,
        [`${dataset} (Parent ID)`]: record.parent_id,
        received_at: timeOf(record.created_time),
      },
      id: String(record.comment_id),
    };
  }
  const received = ['received_at', 'sent_on', 'created_on', 'ReceivedOn', 'timestamp'].map((key) => timeOf(record[key])).find(Boolean);
  return { flat: { ...record, received_at: received }, id: `${fileName}#${line}` };
}

export async function remapMessages(options: { dataRoot: string; runId: string; config: FetchSourcesConfig; logger: Logger }): Promise<RemapResult> {
  const { dataRoot, runId, config, logger } = options;
  const folder = join(dataRoot, 'raw', REMAPPED_FOLDER, runId);
  const earlier = await readJsonIfExists<RemapResult>(join(folder, SUMMARY_FILE));
  if (earlier) return earlier; // this run's remap already finished (a retried attempt)
  await removeFolder(folder); // an interrupted attempt's temporary files

  const inputs: RawInput[] = [];
  for (const source of config.sources) {
    const runs = (await completedRunSummaries(dataRoot, source.name)).filter((summary) => summary.runId <= runId);
    const chosen = source.kind === 'rapid-pro' ? runs : runs.slice(-1);
    for (const summary of chosen) {
      for (const file of summary.files) {
        if (file.origin === 'contacts') continue;
        inputs.push({ source, runId: summary.runId, file, path: join(sourceFolder(dataRoot, source.name), summary.runId, file.name) });
      }
    }
  }

  const read = (input: RawInput) => (input.file.name.endsWith('.json') ? jsonRecords(input.path) : lines(input.path));

  // Pass 1 (Rapid Pro only): the newest modified_on of each run uuid, across fetches.
  const newest = new Map<string, string>();
  for (const input of inputs.filter((i) => i.source.kind === 'rapid-pro')) {
    for await (const { value } of read(input)) {
      const record = value as Flat | undefined;
      if (typeof record?.run_uuid !== 'string' || typeof record.modified_on !== 'string') continue;
      const seen = newest.get(record.run_uuid);
      if (seen === undefined || record.modified_on > seen) newest.set(record.run_uuid, record.modified_on);
    }
  }

  const mappings = config.sourceKeyRemappings;
  const activationKeys = new Set(mappings.filter((m) => m.isActivationMessage).map((m) => m.pipelineKey));
  const windowStart = new Date(config.projectStartDate).toISOString();
  const windowEnd = new Date(config.projectEndDate).toISOString();
  const ranges = config.timestampRemappings.map((r) => ({ ...r, start: new Date(r.rangeStartInclusive).toISOString(), end: new Date(r.rangeEndExclusive).toISOString() }));
  const counts: RemapCounts = { read: 0, written: 0, superseded: 0, testDropped: 0, unmapped: 0, outsideProjectWindow: 0, timestampRemapped: 0, rejected: 0 };

  const messages = await JsonlAppender.open(folder, 'messages.jsonl');
  const rejects = await JsonlAppender.open(folder, 'rejects.jsonl');
  try {
    for (const input of inputs) {
      let batch: Flat[] = [];
      let rejected: Flat[] = [];
      for await (const { line, value } of read(input)) {
        counts.read += 1;
        const at = { source: input.source.name, run: input.runId, file: input.file.name, line };
        const record = value && typeof value === 'object' && !Array.isArray(value) ? (value as Flat) : undefined;
        const flattened = record ? flatten(input.source.kind, record, input.file.name, line) : undefined;
        if (!record || !flattened) {
          rejected.push({ reason: 'not a record of this source kind', at });
          continue;
        }
        if (input.source.kind === 'rapid-pro' && newest.get(flattened.id) !== record.modified_on) {
          counts.superseded += 1;
          continue;
        }
        if (config.filterTestMessages && record.test_run === true) {
          counts.testDropped += 1;
          continue;
        }
        const { flat } = flattened;
        // Timestamp remappings test and adjust source keys, before they become pipeline keys.
        let moveTo: string | undefined;
        for (const range of ranges) {
          const time = timeOf(flat[range.timeKey]);
          if (time && time >= range.start && time < range.end) {
            moveTo = range.showPipelineKeyToRemapTo;
            if (range.timeToAdjustTo) {
              flat[range.timeKey] = range.timeToAdjustTo;
              if (range.timeKey === 'received_at') flat.received_at = new Date(range.timeToAdjustTo).toISOString();
            }
            break;
          }
        }
        const out: Flat = {};
        for (const mapping of mappings) {
          if (flat[mapping.sourceKey] !== undefined && flat[mapping.sourceKey] !== null) out[mapping.pipelineKey] = flat[mapping.sourceKey];
        }
        if (Object.keys(out).length === 0) {
          counts.unmapped += 1;
          continue;
        }
        const activation = [...activationKeys].filter((key) => key in out);
        if (activation.length > 0) {
          if (moveTo) {
            for (const key of activation) {
              if (key === moveTo) continue;
              out[moveTo] = out[key];
              delete out[key];
            }
            counts.timestampRemapped += 1;
          }
          const time = asString(flat.received_at);
          if (!time) {
            rejected.push({ reason: 'activation message without a time', at });
            continue;
          }
          if (time < windowStart || time >= windowEnd) {
            counts.outsideProjectWindow += 1;
            continue;
          }
        }
        batch.push({
          source: input.source.name,
          source_kind: input.source.kind,
          flow_type: record.flow_type ?? input.file.flowType ?? null,
          record_id: flattened.id,
          participant_uuid: record.participant_uuid ?? null,
          received_at: flat.received_at ?? null,
          ...(record.test_run === true ? { test_run: true } : {}),
          ...out,
        });
        if (batch.length >= 1000) {
          await messages.append(batch);
          counts.written += batch.length;
          batch = [];
        }
      }
      await messages.append(batch);
      counts.written += batch.length;
      await rejects.append(rejected);
      counts.rejected += rejected.length;
    }
    const result: RemapResult = {
      runId,
      messages: await messages.finish(),
      rejects: await rejects.finish(),
      counts,
      inputs: inputs.map((input) => `${input.source.name}/${input.runId}/${input.file.name}`),
    };
    await writeFileAtomic(join(folder, SUMMARY_FILE), `${JSON.stringify(result, null, 2)}\n`, { noOverwrite: true });
    logger.info({ event: 'RemappedMessages', runId, ...counts }, 'remapped');
    return result;
  } catch (err) {
    await messages.abandon();
    await rejects.abandon();
    throw err;
  }
}
