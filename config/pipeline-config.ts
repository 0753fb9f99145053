/**
 * The run config: which pipeline, which data root, which stages in which order, with per-stage options.
 * Pure zod (no Node built-ins) so the client, the worker and the workflow validate with the same code.
 */
import { z } from 'zod';
import { STAGE_NAMES } from './constants';

/** Durations as Temporal reads them: `500ms`, `30s`, `10 minutes`, `1 hour`. */
const duration = z
  .string()
  .regex(
    /^\d+(\.\d+)?\s*(ms|milliseconds?|s|seconds?|m|minutes?|h|hours?|d|days?)$/,
    'expected a duration such as "500ms", "30s", "10 minutes"',
  );

const retryPolicy = z
  .strictObject({
    maximumAttempts: z.int().min(1).max(100).optional(),
    initialInterval: duration.optional(),
    backoffCoefficient: z.number().min(1).max(10).optional(),
    maximumInterval: duration.optional(),
  })
  .describe('Overrides of the stage default retry policy');

const stageOptions = {
  retry: retryPolicy.optional(),
  startToCloseTimeout: duration.optional().describe('Longest one attempt of the stage may run'),
};

const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

function hasParentSegment(path: string): boolean {
  return path.split(/[\\/]+/).some((segment) => segment === '..');
}

/**
 * A folder in a bucket, `gs://bucket/dir/`, or in a local folder standing in for one, `file:///abs/dir/`.
 * Normalised to end with `/` so object names are `<prefix><basename>`.
 */
export const blobPrefixUri = z
  .string()
  .superRefine((uri, ctx) => {
    const problem = blobPrefixProblem(uri);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((uri) => (uri.endsWith('/') ? uri : `${uri}/`))
  .describe('Where objects go: gs://bucket/dir/ or file:///absolute/dir/');

function blobPrefixProblem(uri: string): string | undefined {
  const gs = /^gs:\/\/([^/]+)(\/.*)?$/.exec(uri);
  if (gs) {
    const [, bucket, path = '/'] = gs;
    if (!GCS_BUCKET.test(bucket!)) return `"${bucket}" is not a valid bucket name (lower-case letters, digits, . _ -)`;
    if (path.includes('//') || hasParentSegment(path)) return `path "${path}" has an empty or ".." segment`;
    return undefined;
  }
  if (uri.startsWith('file://')) {
    const path = uri.slice('file://'.length);
    if (!path.startsWith('/')) return 'a file URI must name an absolute folder: file:///abs/dir/';
    if (hasParentSegment(path)) return 'a file URI must not contain ".." segments';
    return undefined;
  }
  return `expected gs://bucket/dir/ or file:///absolute/dir/, got "${uri}"`;
}

/** A file of the data root, named relative to it. */
const fileInDataRoot = z
  .string()
  .min(1)
  .refine((path) => !hasParentSegment(path) && !path.startsWith('/'), 'a path inside the data root, without ".."');
const specFormat = z.enum(['auto', 'native', 'exhibit', 'summary-statistics']).default('auto');

export const generateSyntheticStage = z
  .strictObject({
    stage: z.literal('generate-synthetic'),
    spec: fileInDataRoot.describe('Spec file (JSON or YAML), relative to the data root, e.g. raw/specs/schools.yaml'),
    specFormat,
    format: z.enum(['csv', 'tsv']).default('csv'),
    seed: z.int().min(0).max(2 ** 32 - 1).optional().describe("Overrides the spec's seed"),
    datestampLine: z.boolean().default(false).describe('First line `# {"Date generated": …}` (seed 000)'),
    destination: blobPrefixUri.optional().describe('Also upload the tables and spec.json here'),
    ...stageOptions,
  })
  .describe('Synthetic tables from a spec, in synth/<spec name>/<run id>/');

const columnNames = z.array(z.string().min(1)).default([]);

export const generateSeriesStage = z
  .strictObject({
    stage: z.literal('generate-series'),
    spec: fileInDataRoot.describe('Base spec file, relative to the data root'),
    specFormat,
    table: z.string().optional().describe('The table that becomes a series (the first by default)'),
    series: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits, _ . -').describe('Series name: synth/<series>/'),
    periodUnit: z.enum(['days', 'weeks', 'months']),
    periodLength: z.int().min(1).max(1000).default(1),
    periods: z.int().min(1).max(100_000).describe('How many datasets the series has; existing ones are kept'),
    newFraction: z.number().gt(0).max(1).describe('Share of each period that is new entities, in (0, 1]'),
    dateColumns: columnNames.describe('Date columns shifted by (k−1) × periodLength × periodUnit'),
    staticColumns: columnNames.describe('Columns returning entities keep'),
    idColumns: z.array(z.string().min(1)).optional().describe('Entity ids (the primary keys by default)'),
    format: z.enum(['csv', 'tsv']).default('csv'),
    ...stageOptions,
  })
  .describe('dataset_1 … dataset_N of a synthetic series, one activity per period');

export const qaStage = z
  .strictObject({
    stage: z.literal('qa'),
    spec: fileInDataRoot.describe('The spec the datasets were generated from'),
    specFormat,
    table: z.string().optional().describe('Table of the spec the datasets are (the first by default)'),
    alpha: z.number().gt(0).lt(1).default(0.05).describe('The KS test of the p-values passes when its p-value is at least this'),
    ...stageOptions,
  })
  .describe('QA of the datasets of the generate stage before it: metrics, correlation p-values, KS test, HTML report');

export const analysisGraphsStage = z
  .strictObject({
    stage: z.literal('analysis-graphs'),
    input: z
      .union([fileInDataRoot, z.strictObject({ stage: z.literal('generate-synthetic'), table: z.string().min(1) })])
      .describe('Message-shaped data: a CSV/TSV in the data root, or a table of the generate-synthetic stage'),
    timestampColumn: z.string().min(1),
    participantColumn: z.string().min(1),
    period: z.union([z.enum(['day', 'week', 'month']), z.strictObject({ episodeColumn: z.string().min(1) })]).default('week'),
    codeSchemes: z.array(z.string().min(1)).default([]).describe('Columns holding the code (label) of each scheme'),
    formats: z.array(z.enum(['svg', 'png', 'pdf'])).min(1).default(['svg', 'png']),
    ...stageOptions,
  })
  .describe('Messages and participants per period, and the distribution of codes per code scheme, with CSVs');

export const backupDataRootStage = z
  .strictObject({
    stage: z.literal('backup-data-root'),
    ...stageOptions,
  })
  .describe('A gzipped tar of the data root in backups/, with a .sha256 beside it');

export const uploadLogsStage = z
  .strictObject({
    stage: z.literal('upload-logs'),
    destination: blobPrefixUri,
    ...stageOptions,
  })
  .describe("Uploads the run's log file and the backup archive, never overwriting an object");

export const stageConfig = z.discriminatedUnion('stage', [generateSyntheticStage, generateSeriesStage, qaStage, analysisGraphsStage, backupDataRootStage, uploadLogsStage], {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? `unknown stage ${JSON.stringify((issue.input as { stage?: unknown } | undefined)?.stage)}; expected one of ${STAGE_NAMES.join(', ')}`
      : undefined,
});

export const pipelineConfig = z
  .strictObject({
    pipelineName: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and "-", at most 63 characters')
      .describe('Name of the pipeline, shown in the Web UI and part of every workflow id'),
    description: z.string().max(500).optional(),
    dataRoot: z
      .string()
      .min(1)
      .refine((path) => !hasParentSegment(path), 'must not contain ".." segments (it would escape the data home)')
      .refine((path) => !path.includes('\0'), 'must not contain NUL characters')
      .describe("The pipeline's data root: absolute, or relative to the worker's data home"),
    stages: z.array(stageConfig).min(1).describe('Stages in the order they run'),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.stages.forEach((stage, index) => {
      if (seen.has(stage.stage)) {
        ctx.addIssue({ code: 'custom', path: ['stages', index, 'stage'], message: `stage "${stage.stage}" is listed twice` });
      }
      seen.add(stage.stage);
    });
  });

export type PipelineConfig = z.output<typeof pipelineConfig>;
export type StageConfig = PipelineConfig['stages'][number];
export type StageConfigOf<N extends StageConfig['stage']> = Extract<StageConfig, { stage: N }>;

/** Bad input with every problem listed, each named by its path (`stages[1].destination: …`). */
export class ProblemsError extends Error {
  constructor(
    what: string,
    readonly problems: string[],
  ) {
    super(`invalid ${what}:\n  ${problems.join('\n  ')}`);
  }
}

export class ConfigError extends ProblemsError {
  override readonly name = 'ConfigError';
  constructor(problems: string[]) {
    super('run config', problems);
  }
}

/** `['stages', 1, 'destination']` → `stages[1].destination`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    return text ? `${text}.${String(key)}` : String(key);
  }, '');
}

export function formatZodIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatPath(issue.path) || '(root)'}: ${issue.message}`);
}

/** Validates an already-parsed config object; throws ConfigError naming the field paths. */
export function parsePipelineConfig(input: unknown): PipelineConfig {
  const result = pipelineConfig.safeParse(input);
  if (!result.success) throw new ConfigError(formatZodIssues(result.error));
  return result.data;
}
