/**
 * The `coda-add` stage (seed 004's "Upload Auto-Coded Data to Coda"): each coding dataset's messages, as
 * generate-outputs wrote them (`coda/<dataset name>`), into Coda. Workflow-safe (zod and types only).
 */
import { defineStage, retryUpTo, type StageConfigFor, stageConfigSchema } from '../runs/stage-definition';

export const codaAddStage = defineStage({
  name: 'coda-add',
  description:
    "Adds each coding dataset's new messages (generate-outputs' coda/<dataset>.json) to Coda: sequence numbers, segments of 2,500, metrics; a message already there is never added twice or overwritten",
  options: {},
  policy: {
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '2 minutes',
    retry: retryUpTo(8, '2 minutes'),
    why: 'Firestore aborts contended transactions and has minutes-long blips; each batch is one transaction and a re-run adds only what is missing, so retrying is safe and cheap',
  },
  runsAs: { kind: 'activity' },
  reads: ['generate-outputs'],
  usesCodingPlan: true,
});

export const codaAddConfigSchema = stageConfigSchema(codaAddStage);
export type CodaAddConfig = StageConfigFor<typeof codaAddStage>;
