/**
 * drive-upload, as the workflow and the config see it. Workflow-safe (zod only).
 *
 * Seed 004's `DriveUpload` in this project's camelCase: `credentialsFileUrl` is DriveCredentialsFileURL,
 * `messagesUploadPath` / `individualsUploadPath` are MessagesUploadPath / IndividualsUploadPath (a file
 * path whose first folder is shared with the service account), `automatedAnalysisDir` is
 * AutomatedAnalysisDir (a folder path; every file of the analysis-graphs stage goes there).
 * `ProductionUploadPath` has no home: generate-outputs writes no production CSV.
 */
import { z } from 'zod';

import { blobObjectUri } from '../../config/schema-parts';
import { defineStage, retryUpTo, type StageConfigFor, stageConfigSchema } from '../runs/stage-definition';

const MIB = 1024 * 1024;
/** Resumable upload chunks must be multiples of 256 KiB (Drive's rule; the last chunk may be shorter). */
export const DRIVE_CHUNK_UNIT = 256 * 1024;

function drivePathProblem(path: string, kind: 'file' | 'folder'): string | undefined {
  const segments = path.split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) return 'segments are separated by single "/", none empty, "." or ".."';
  if (segments.some((segment) => segment.trim() !== segment)) return 'a folder or file name must not start or end with spaces';
  if (kind === 'file' && segments.length < 2) return 'a file path names the shared folder first, then the file: SharedFolder/…/name.csv';
  return undefined;
}

/** A path in the service account's shared-with-me folders: the first segment is a folder shared with it. */
function drivePath(kind: 'file' | 'folder') {
  return z
    .string()
    .min(1)
    .transform((path) => (kind === 'folder' && path.endsWith('/') ? path.slice(0, -1) : path))
    .superRefine((path, ctx) => {
      const problem = drivePathProblem(path, kind);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
}

export const driveDestination = z
  .strictObject({
    backend: z.literal('drive'),
    credentialsFileUrl: blobObjectUri.describe("The service account's JSON key (seed DriveCredentialsFileURL)"),
    rootUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('Drive API root, https://www.googleapis.com/ by default (a local stand-in in tests)'),
    resumableAboveBytes: z
      .int()
      .min(0)
      .default(5 * MIB)
      .describe('Files larger than this go by resumable upload, in chunks; smaller ones in one request'),
    chunkBytes: z
      .int()
      .min(DRIVE_CHUNK_UNIT)
      .multipleOf(DRIVE_CHUNK_UNIT, 'a multiple of 256 KiB (262144), as Drive requires')
      .default(8 * MIB)
      .describe('Bytes per resumable upload request'),
  })
  .describe('Google Drive, as the service account of the key file');

export const localDriveDestination = z
  .strictObject({
    backend: z.literal('local'),
    folder: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, _ and -, at most 64')
      .optional()
      .describe('Folder under <data home>/.drive/ standing in for Drive; the pipeline name by default'),
  })
  .describe('A local folder standing in for Drive (the embedded default), with the same replace semantics');

const UPLOAD_OPTIONS = ['messagesUploadPath', 'individualsUploadPath', 'automatedAnalysisDir'] as const;

export function checkDriveUpload(value: unknown, ctx: z.RefinementCtx): void {
  const config = (value ?? {}) as Record<string, unknown>;
  if (!UPLOAD_OPTIONS.some((option) => config[option] !== undefined)) {
    ctx.addIssue({ code: 'custom', message: `name at least one of ${UPLOAD_OPTIONS.join(', ')}`, path: ['messagesUploadPath'] });
  }
}

export const driveUploadStage = defineStage({
  name: 'drive-upload',
  description: 'Uploads outputs and analysis graphs to Google Drive folders shared with a service account, replacing files of the same name',
  options: {
    destination: z
      .discriminatedUnion('backend', [driveDestination, localDriveDestination])
      .default({ backend: 'local' })
      .describe('Google Drive, or a local folder standing in for it'),
    messagesUploadPath: drivePath('file').optional().describe("Where generate-outputs' messages.csv goes, e.g. Project/Outputs/messages.csv"),
    individualsUploadPath: drivePath('file').optional().describe("Where generate-outputs' individuals.csv goes"),
    automatedAnalysisDir: drivePath('folder').optional().describe("The folder every file of analysis-graphs goes to, e.g. Project/Automated Analysis"),
  },
  check: checkDriveUpload,
  policy: {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '2 minutes',
    retry: retryUpTo(6, '2 minutes'),
    why: 'Drive rate limits and 5xx clear up within minutes; files are replaced by name, so a retried attempt never duplicates one',
  },
  runsAs: { kind: 'activity' },
  reads: ['generate-outputs', 'analysis-graphs'],
});

export const driveUploadConfigSchema = stageConfigSchema(driveUploadStage);
export type DriveUploadConfig = StageConfigFor<typeof driveUploadStage>;
export type DriveDestination = z.output<typeof driveDestination>;
