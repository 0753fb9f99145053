/**
 * Pieces the stage schemas share: durations, retry overrides, bucket folders, files of the data root.
 * Pure zod (no Node built-ins): stage definitions are workflow-safe and import these.
 */
import { msToNumber } from '@temporalio/common/lib/time';
import { z } from 'zod';

/** Durations as Temporal reads them: `500ms`, `30s`, `10 minutes`, `1 hour`. */
export const duration = z
  .string()
  .regex(
    /^\d+(\.\d+)?\s*(ms|milliseconds?|s|seconds?|m|minutes?|h|hours?|d|days?)$/,
    'expected a duration such as "500ms", "30s", "10 minutes"',
  );

const retryOverrides = z
  .strictObject({
    maximumAttempts: z.int().min(1).max(100).optional(),
    initialInterval: duration.optional(),
    backoffCoefficient: z.number().min(1).max(10).optional(),
    maximumInterval: duration.optional(),
  })
  .describe('Overrides of the stage default retry policy');

/**
 * The longest any stage attempt may run, whatever a config asks: temporary files older than this belong to a
 * dead attempt, so a worker starting may remove them (activities/storage/temp-sweep.ts).
 */
export const LONGEST_STAGE_ATTEMPT = '24 hours';
export const LONGEST_STAGE_ATTEMPT_MS = msToNumber(LONGEST_STAGE_ATTEMPT);

/** Milliseconds of a duration, NaN when it is not one (the duration check above reports that). */
function durationMs(value: string): number {
  try {
    return msToNumber(value as Parameters<typeof msToNumber>[0]);
  } catch {
    return Number.NaN;
  }
}

/** Options every stage takes on top of its own: overrides of its default policy. */
export const stagePolicyOverrides = {
  retry: retryOverrides.optional(),
  startToCloseTimeout: duration
    .refine((value) => !(durationMs(value) > LONGEST_STAGE_ATTEMPT_MS), `at most ${LONGEST_STAGE_ATTEMPT}`)
    .optional()
    .describe('Longest one attempt of the stage may run'),
  heartbeatTimeout: duration.optional().describe('A worker silent this long is taken for dead and the attempt retried elsewhere'),
};

const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

export function hasParentSegment(path: string): boolean {
  return path.split(/[\\/]+/).some((segment) => segment === '..');
}

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

/** One object, `gs://bucket/path/name` or `file:///abs/path/name` (a token file, a source object). */
export const blobObjectUri = z
  .string()
  .superRefine((uri, ctx) => {
    const problem = uri.endsWith('/') ? 'names a folder; expected an object' : blobPrefixProblem(uri);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('An object: gs://bucket/path/name or file:///absolute/path/name');

/** A file of the data root, named relative to it. */
export const fileInDataRoot = z
  .string()
  .min(1)
  .refine((path) => !hasParentSegment(path) && !path.startsWith('/'), 'a path inside the data root, without ".."');
