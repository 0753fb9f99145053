/**
 * Options of the `fetch-sources` stage: seed 004's RawDataSources, UUIDTable, TimestampRemappings,
 * SourceKeyRemappings, ProjectStartDate/EndDate and FilterTestMessages, in this project's camelCase.
 * Workflow-safe (zod only), like every stage definition.
 *
 * Seed fields with no home here, and why:
 * - `PipelineName`: the run config's `pipelineName`.
 * - `RapidPro.ContactsFileName`: a TODO-remove in the seed; contacts are written per run as
 *   `raw/<source>/<run id>/contacts.jsonl`, so there is no name to configure.
 * - `MoveWSMessages`, `AutomatedAnalysis`, `DriveUpload`: options of later stages (outputs, graphs, Drive).
 * - `MemoryProfileUploadBucket`, `DataArchiveUploadBucket`, `BucketDirPath`: the upload-logs stage's `destination`.
 * - `UUIDTable.FirebaseCredentialsFileURL` is `uuidTable.credentialsFileUrl`, optional: without it the
 *   Firestore client uses application default credentials (or an emulator).
 */
import { z } from 'zod';

import { defineStage, retryUpTo, type StageConfigFor, stageConfigSchema } from '../runs/stage-definition';

const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

function objectUriProblem(uri: string): string | undefined {
  const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (gs) {
    if (!GCS_BUCKET.test(gs[1]!)) return `"${gs[1]}" is not a valid bucket name (lower-case letters, digits, . _ -)`;
    if (gs[2]!.endsWith('/') || gs[2]!.split('/').some((segment) => segment === '' || segment === '..')) {
      return 'the object name must name a file, without empty or ".." segments';
    }
    return undefined;
  }
  if (uri.startsWith('file://')) {
    const path = uri.slice('file://'.length);
    if (!path.startsWith('/') || path.endsWith('/')) return 'a file URI must name an absolute file: file:///abs/dir/name';
    if (path.split('/').includes('..')) return 'a file URI must not contain ".." segments';
    return undefined;
  }
  return `expected gs://bucket/name or file:///absolute/file, got "${uri}"`;
}

/** One object: `gs://bucket/name`, or `file:///absolute/path` (a local file standing in for one). */
export const objectUri = z
  .string()
  .superRefine((uri, ctx) => {
    const problem = objectUriProblem(uri);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('gs://bucket/name or file:///absolute/file');

const isoDateTime = z.iso.datetime({ offset: true, message: 'expected an ISO date-time with a zone, e.g. 2020-01-01T00:00:00+03:00' });

/** Names become folder names under raw/, so they are plain. `remapped` is the remap step's folder. */
const RESERVED_SOURCE_NAMES = new Set(['remapped']);
const sourceName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, _ and -, at most 64')
  .refine((name) => !RESERVED_SOURCE_NAMES.has(name), 'reserved: raw/remapped/ holds the remap step output')
  .describe('Folder under raw/ for this source');

/** A flow name / file label as it becomes part of a file name. */
const nonEmpty = z.string().min(1);

/** Seed's `Domain` (e.g. rapidpro.io) or a full base URL (a test server on http://127.0.0.1:port). */
const baseUrl = z
  .string()
  .min(1)
  .transform((value) => (value.includes('://') ? value : `https://${value}`).replace(/\/+$/, ''))
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'https:' || url.protocol === 'http:') && !url.search && !url.hash;
    } catch {
      return false;
    }
  }, 'expected a domain (rapidpro.io) or an http(s) base URL without query');

export const rapidProSource = z
  .strictObject({
    kind: z.literal('rapid-pro'),
    name: sourceName,
    baseUrl: baseUrl.describe('Workspace domain, e.g. rapidpro.io; API v2 is under <baseUrl>/api/v2/'),
    tokenFileUrl: objectUri.describe('Text file holding the workspace API token'),
    activationFlowNames: z.array(nonEmpty).default([]).describe('Flows holding the radio show responses'),
    surveyFlowNames: z.array(nonEmpty).default([]).describe('Flows holding survey responses'),
    testContactUuids: z.array(z.uuid()).default([]).describe("Runs of these contacts are tagged test_run (dropped when filterTestMessages)"),
  })
  .refine((source) => source.activationFlowNames.length + source.surveyFlowNames.length > 0, {
    message: 'name at least one activation or survey flow',
    path: ['activationFlowNames'],
  });

export const gcloudBucketSource = z
  .strictObject({
    kind: z.literal('gcloud-bucket'),
    name: sourceName,
    activationFlowUrls: z.array(objectUri).default([]).describe('De-identified JSON Lines of activation runs'),
    surveyFlowUrls: z.array(objectUri).default([]).describe('De-identified JSON Lines of survey runs'),
  })
  .describe('Already de-identified data, downloaded as is');

export const recoveryCsvSource = z
  .strictObject({
    kind: z.literal('recovery-csv'),
    name: sourceName,
    activationFlowUrls: z.array(objectUri).default([]).describe('Recovery CSVs (Sender, Message, ReceivedOn) of activation messages'),
    surveyFlowUrls: z.array(objectUri).default([]).describe('Recovery CSVs of survey messages'),
  })
  .describe('Messages recovered from an operator, as CSV');

const facebookDataset = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits, _ . -').describe('e.g. facebook_e01'),
    postIds: z.array(z.string().regex(/^\d+(_\d+)?$/, 'a post id: digits, or <page id>_<post id>')).min(1).optional(),
    search: z
      .strictObject({
        match: z.string().min(1).describe('Text a post must contain, e.g. a hashtag'),
        startDate: isoDateTime.describe('Posts created at or after this'),
        endDate: isoDateTime.describe('Posts created before this'),
      })
      .refine((search) => Date.parse(search.startDate) < Date.parse(search.endDate), {
        message: 'startDate must be before endDate',
        path: ['endDate'],
      })
      .optional(),
  })
  .refine((dataset) => dataset.postIds !== undefined || dataset.search !== undefined, {
    message: 'give postIds, search, or both',
    path: ['postIds'],
  });

export const facebookSource = z
  .strictObject({
    kind: z.literal('facebook'),
    name: sourceName,
    pageId: z.string().regex(/^\d+$/, 'a page id: digits'),
    tokenFileUrl: objectUri.describe('Text file holding the page access token'),
    graphApiBaseUrl: baseUrl.default('https://graph.facebook.com'),
    graphApiVersion: z.string().regex(/^v\d+\.\d+$/, 'e.g. v21.0').default('v21.0'),
    datasets: z.array(facebookDataset).min(1),
  })
  .superRefine((source, ctx) => {
    const seen = new Set<string>();
    source.datasets.forEach((dataset, index) => {
      if (seen.has(dataset.name)) ctx.addIssue({ code: 'custom', message: `duplicate dataset name "${dataset.name}"`, path: ['datasets', index, 'name'] });
      seen.add(dataset.name);
    });
  });

export const sourceConfig = z.discriminatedUnion('kind', [rapidProSource, gcloudBucketSource, recoveryCsvSource, facebookSource]);

export const uuidTableConfig = z.strictObject({
  backend: z.enum(['firestore', 'local']).describe('local: a table file in the data home, for demos and tests'),
  table: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, 'letters, digits, _ and -'),
  uuidPrefix: z.string().regex(/^[a-z0-9-]{1,40}$/, 'lower-case letters, digits and -, e.g. avf-phone-uuid-'),
  credentialsFileUrl: objectUri.optional().describe('Firestore service-account key; application default credentials without it'),
  projectId: z.string().min(1).optional().describe('firestore: the Google Cloud project holding the table'),
});

export const sourceKeyRemapping = z.strictObject({
  sourceKey: z.string().min(1).describe('Key in the fetched records'),
  pipelineKey: z.string().min(1).describe('Key the rest of the pipeline uses'),
  isActivationMessage: z.boolean().default(false).describe('The key holds a radio show (activation) message'),
});

export const timestampRemapping = z
  .strictObject({
    timeKey: z.string().min(1).describe('Source key holding the time to test'),
    showPipelineKeyToRemapTo: z.string().min(1).describe('Pipeline key activation messages in the range move to'),
    rangeStartInclusive: isoDateTime,
    rangeEndExclusive: isoDateTime,
    timeToAdjustTo: isoDateTime.optional().describe('Sets the time key of remapped messages to this'),
  })
  .refine((remapping) => Date.parse(remapping.rangeStartInclusive) < Date.parse(remapping.rangeEndExclusive), {
    message: 'rangeStartInclusive must be before rangeEndExclusive',
    path: ['rangeEndExclusive'],
  });

/** Options without the stage name and the shared retry/timeout options the run config adds. */
export const fetchSourcesOptions = {
  sources: z.array(sourceConfig).min(1),
  uuidTable: uuidTableConfig,
  sourceKeyRemappings: z.array(sourceKeyRemapping).default([]),
  timestampRemappings: z.array(timestampRemapping).default([]),
  projectStartDate: isoDateTime.describe('Activation messages before this are dropped'),
  projectEndDate: isoDateTime.describe('Activation messages at or after this are dropped'),
  filterTestMessages: z.boolean().default(false).describe('Drop runs of the Rapid Pro sources’ testContactUuids'),
};

/**
 * Cross-field checks: unique source names, an ordered project window. They run even when other fields
 * have problems (`when`), so one pass names them all; hence the defensive reads.
 */
export function checkFetchSources(value: unknown, ctx: z.RefinementCtx): void {
  const { sources, projectStartDate, projectEndDate } = value as { sources?: unknown; projectStartDate?: unknown; projectEndDate?: unknown };
  const seen = new Set<string>();
  if (Array.isArray(sources)) {
    sources.forEach((source: unknown, index) => {
      const name = (source as { name?: unknown } | null)?.name;
      if (typeof name !== 'string') return;
      if (seen.has(name)) ctx.addIssue({ code: 'custom', message: `duplicate source name "${name}"`, path: ['sources', index, 'name'] });
      seen.add(name);
    });
  }
  if (typeof projectStartDate === 'string' && typeof projectEndDate === 'string' && Date.parse(projectStartDate) >= Date.parse(projectEndDate)) {
    ctx.addIssue({ code: 'custom', message: 'projectStartDate must be before projectEndDate', path: ['projectEndDate'] });
  }
}

export const fetchSourcesStage = defineStage({
  name: 'fetch-sources',
  description: 'Fetches Rapid Pro runs, bucket files, recovery CSVs and Facebook comments into raw/, de-identified',
  options: fetchSourcesOptions,
  check: checkFetchSources,
  policy: {
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '2 minutes',
    retry: retryUpTo(6, '2 minutes'),
    why: 'APIs rate-limit and fail for minutes at a time; a retried attempt resumes from its last heartbeat, so retrying is cheap',
  },
  runsAs: { kind: 'activity' },
});

/** The stage's entry of a run config, as its own schema (for tests and tools). */
export const fetchSourcesConfigSchema = stageConfigSchema(fetchSourcesStage);

export type FetchSourcesConfig = StageConfigFor<typeof fetchSourcesStage>;
export type SourceConfig = z.infer<typeof sourceConfig>;
export type RapidProSourceConfig = z.infer<typeof rapidProSource>;
export type GcloudBucketSourceConfig = z.infer<typeof gcloudBucketSource>;
export type RecoveryCsvSourceConfig = z.infer<typeof recoveryCsvSource>;
export type FacebookSourceConfig = z.infer<typeof facebookSource>;
export type SourceKeyRemapping = z.infer<typeof sourceKeyRemapping>;
export type TimestampRemapping = z.infer<typeof timestampRemapping>;
