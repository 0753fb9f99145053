/**
 * generate-outputs, as the workflow and the config see it (seed 004's stage 3, "Generate Outputs").
 * Workflow-safe (zod only). The coding plan (datasets, code schemes, noise rule, ICR settings) comes from
 * the run config's `coding` section; the stage's own options are few.
 */
import { z } from 'zod';

import { defineStage, retryUpTo, type StageConfigFor } from '../runs/stage-definition';

export const generateOutputsStage = defineStage({
  name: 'generate-outputs',
  description: 'messages.csv, individuals.csv, ICR samples, Coda files to upload and provenance, from the remapped raw messages and the coded data',
  options: {
    dropTestRuns: z.boolean().default(true).describe('Leave out messages tagged test_run (the Rapid Pro sources\' test contacts)'),
  },
  policy: {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '2 minutes',
    retry: retryUpTo(3),
    why: 'two local passes over the raw messages, no network; a failure is usually the data, and an attempt redoes the files from scratch',
  },
  runsAs: { kind: 'activity' },
  reads: ['fetch-sources', 'coda-get'],
  usesCodingPlan: true,
});

export type GenerateOutputsConfig = StageConfigFor<typeof generateOutputsStage>;
