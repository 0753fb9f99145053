/**
 * The `coda-get` stage (seed 004's "Download Coded Data from Coda"): each coding dataset's messages, with
 * the coders' labels, from Coda into `coded/<run id>/`, incrementally. Workflow-safe (zod and types only).
 */
import { defineStage, retryUpTo, type StageConfigFor, stageConfigSchema } from '../runs/stage-definition';

export const codaGetStage = defineStage({
  name: 'coda-get',
  description:
    'Downloads the coded messages of each coding dataset from Coda into coded/<run id>/<dataset>.json: only those updated since the previous export, merged with it by MessageID, sorted by SequenceNumber',
  options: {},
  policy: {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '2 minutes',
    retry: retryUpTo(8, '2 minutes'),
    why: 'Reads only: a retry writes the same files again, and Firestore outages last minutes',
  },
  runsAs: { kind: 'activity' },
  usesCodingPlan: true,
});

export const codaGetConfigSchema = stageConfigSchema(codaGetStage);
export type CodaGetConfig = StageConfigFor<typeof codaGetStage>;
