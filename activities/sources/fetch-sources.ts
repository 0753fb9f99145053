/**
 * The `fetch-sources` stage: every configured source into `raw/<source>/<run id>/` (de-identified JSON
 * Lines, `rejects.jsonl`, `summary.json`), then the remap step into `raw/remapped/<run id>/`.
 *
 * Sources run one after another; a source with `summary.json` is complete and is not fetched again by a
 * retried attempt. The source an attempt was on continues from the attempt's last heartbeat (page
 * level). Without heartbeat details for it, its run folder — which then holds only an interrupted
 * attempt's unreported files — is cleared and the source fetched again; nothing another run wrote is
 * touched.
 */
import { join } from 'node:path';

import type { Logger } from 'pino';

import { Deidentifier, type UuidTable } from '../deid/uuid-table';
import type { StageContext, StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import { type BlobReader, type BlobStore, isBlobReader } from '../storage/blob-store';
import { fetchFacebook } from './facebook';
import { type FetchSourcesConfig, fetchSourcesStage as fetchSourcesDefinition, type SourceConfig } from './fetch-sources.stage';
import { fetchGcloudBucket } from './gcloud-bucket';
import type { FetchFn, HttpPolicy } from './http';
import { advanceCursors, fetchRapidPro } from './rapid-pro';
import { describeFile, readJsonIfExists, removeFolder } from './raw-files';
import { fetchRecoveryCsv } from './recovery-csv';
import { remapMessages, type RemapResult } from './remap';
import { type FetchProgress, runFolder, type SourceDeps, SourceRun, type SourceSummary, SUMMARY_FILE } from './source-run';

/**
 * What this stage needs from the stage runner's context, beyond the shared fields. The lead merges
 * these into the registry's context: `resumeFrom` (the previous attempt's last heartbeat details),
 * a UUID table factory, and optional `fetch`/HTTP policy overrides for tests.
 */
export interface FetchSourcesContext {
  request: {
    runId: string;
    pipelineName: string;
    dataRoot: string;
    stage: FetchSourcesConfig;
    upstream: Record<string, unknown>;
    overwrite: boolean;
  };
  dataRoot: string;
  blobStore: BlobStore & BlobReader;
  logger: Logger;
  now: () => Date;
  reportProgress: (details: Record<string, unknown>) => void;
  resumeFrom?: unknown;
  uuidTable: (config: FetchSourcesConfig['uuidTable']) => UuidTable | Promise<UuidTable>;
  fetch?: FetchFn;
  /** Cancellation (activity cancelled, worker shutting down): requests and backoff waits stop at once. */
  signal?: AbortSignal;
  http?: Pick<HttpPolicy, 'sleep' | 'backoffMs' | 'transientAttempts' | 'rateLimitWaits' | 'maxWaitMs'>;
}

function resumeFor(resumeFrom: unknown, runId: string, source: string): FetchProgress | undefined {
  const details = resumeFrom as Partial<FetchProgress> | undefined;
  return details && details.version === 1 && details.runId === runId && details.source === source ? (details as FetchProgress) : undefined;
}

function fetchSource(run: SourceRun, source: SourceConfig): Promise<SourceSummary> {
  switch (source.kind) {
    case 'rapid-pro':
      return fetchRapidPro(run, source);
    case 'gcloud-bucket':
      return fetchGcloudBucket(run, source);
    case 'recovery-csv':
      return fetchRecoveryCsv(run, source);
    case 'facebook':
      return fetchFacebook(run, source);
  }
}

export async function fetchSources(context: FetchSourcesContext): Promise<SourceSummary[]> {
  const { request, dataRoot, logger } = context;
  const config = request.stage;
  const deidentifier = new Deidentifier(await context.uuidTable(config.uuidTable));
  const deps: SourceDeps = {
    dataRoot,
    runId: request.runId,
    blobStore: context.blobStore,
    deidentifier,
    http: { fetch: context.fetch ?? globalThis.fetch, logger, ...(context.signal ? { signal: context.signal } : {}), ...context.http },
    logger,
    now: context.now,
    reportProgress: context.reportProgress,
  };
  const summaries: SourceSummary[] = [];
  for (const source of config.sources) {
    const folder = runFolder(dataRoot, source.name, request.runId);
    const done = await readJsonIfExists<SourceSummary>(join(folder, SUMMARY_FILE));
    if (done) {
      if (done.kind === 'rapid-pro') await advanceCursors(dataRoot, done);
      logger.info({ event: 'SourceAlreadyFetched', source: source.name, records: done.records }, 'source complete in an earlier attempt');
      summaries.push(done);
      continue;
    }
    const resume = resumeFor(context.resumeFrom, request.runId, source.name);
    if (!resume) await removeFolder(folder);
    logger.info({ event: 'FetchingRawData', source: source.name, kind: source.kind, resumed: resume !== undefined }, 'fetching source');
    const run = await SourceRun.open(source, deps, resume);
    try {
      const summary = await fetchSource(run, source);
      logger.info({ event: 'SourceFetched', source: source.name, records: summary.records, rejected: summary.rejected, files: summary.files.length }, 'source fetched');
      summaries.push(summary);
    } catch (err) {
      await run.abandon();
      throw err;
    }
  }
  deidentifier.logStats(logger, 'participants de-identified');
  return summaries;
}

/**
 * Stage outputs: every file with bytes, sha256 and its record count; per source, its summary.json with
 * the source's total records; the remap's messages and rejects.
 */
export async function fetchOutputs(dataRoot: string, summaries: readonly SourceSummary[], remap: RemapResult): Promise<StageOutputs> {
  const outputs: StageOutputs = {};
  for (const summary of summaries) {
    const summaryFile = await describeFile(join(runFolder(dataRoot, summary.source, summary.runId), SUMMARY_FILE), summary.records);
    outputs[summary.source] = { uri: summaryFile.uri, bytes: summaryFile.bytes, sha256: summaryFile.sha256, records: summary.records, rejected: summary.rejected };
    for (const file of [...summary.files, summary.rejects]) {
      outputs[`${summary.source}/${file.name}`] = { uri: file.uri, bytes: file.bytes, sha256: file.sha256, records: file.records };
    }
  }
  for (const file of [remap.messages, remap.rejects]) {
    outputs[`remapped/${file.name}`] = { uri: file.uri, bytes: file.bytes, sha256: file.sha256, records: file.records };
  }
  return outputs;
}

export const fetchSourcesWork = {
  version: 1,
  /**
   * The run id is part of the inputs: what a source holds changes without the config changing (new
   * runs, new comments), and knowing whether it did would take the fetch itself. So every run fetches
   * (Rapid Pro only what is new since the cursors), and a retried or resumed attempt of the same run
   * reuses what it already finished. Token contents are never part of the inputs.
   */
  async inputs(context: FetchSourcesContext): Promise<unknown> {
    const { stage } = context.request;
    return {
      runId: context.request.runId,
      sources: stage.sources,
      uuidTable: stage.uuidTable,
      sourceKeyRemappings: stage.sourceKeyRemappings,
      timestampRemappings: stage.timestampRemappings,
      projectStartDate: stage.projectStartDate,
      projectEndDate: stage.projectEndDate,
      filterTestMessages: stage.filterTestMessages,
    };
  },
  async run(context: FetchSourcesContext): Promise<StageOutputs> {
    const summaries = await fetchSources(context);
    const remap = await remapMessages({ dataRoot: context.dataRoot, runId: context.request.runId, config: context.request.stage, logger: context.logger });
    return fetchOutputs(context.dataRoot, summaries, remap);
  },
};

/** The registered stage: the work above with the worker's UUID table opened for the attempt and closed after it. */
export const fetchSourcesImplementation: StageImplementation<typeof fetchSourcesDefinition> = {
  version: fetchSourcesWork.version,
  inputs: (context) => fetchSourcesWork.inputs(asFetchContext(context, () => Promise.reject(new Error('inputs need no UUID table')))),
  async run(context) {
    const opened = await context.openUuidTable(context.request.stage.uuidTable);
    try {
      return await fetchSourcesWork.run(asFetchContext(context, async () => opened.table));
    } finally {
      await opened.close();
    }
  },
};

function asFetchContext(context: StageContext<FetchSourcesConfig>, uuidTable: FetchSourcesContext['uuidTable']): FetchSourcesContext {
  if (!isBlobReader(context.blobStore)) throw new Error('fetch-sources needs a blob store that can read objects');
  return { ...context, blobStore: context.blobStore, uuidTable };
}
