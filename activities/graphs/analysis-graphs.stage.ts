/** analysis-graphs, as the workflow and the config see it. Workflow-safe. */
import { z } from 'zod';

import { fileInDataRoot } from '../../config/schema-parts';
import { defineStage, retryUpTo } from '../runs/stage-definition';

export const analysisGraphsStage = defineStage({
  name: 'analysis-graphs',
  description: 'Messages and participants per period, and the distribution of codes per code scheme, with CSVs',
  options: {
    input: z
      .union([
        fileInDataRoot,
        z.strictObject({ stage: z.literal('generate-synthetic'), table: z.string().min(1) }),
        z.strictObject({ stage: z.literal('generate-outputs'), table: z.literal('messages') }).describe('messages.csv of generate-outputs: blank scheme cells are messages of other datasets, not counted'),
      ])
      .describe('Message-shaped data: a CSV/TSV in the data root, a table of the generate-synthetic stage, or the coded messages of generate-outputs'),
    timestampColumn: z.string().min(1),
    participantColumn: z.string().min(1),
    period: z.union([z.enum(['day', 'week', 'month']), z.strictObject({ episodeColumn: z.string().min(1) })]).default('week'),
    codeSchemes: z.array(z.string().min(1)).default([]).describe('Columns holding the code (label) of each scheme'),
    formats: z.array(z.enum(['svg', 'png', 'pdf'])).min(1).default(['svg', 'png']),
  },
  policy: {
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '2 minutes',
    retry: retryUpTo(3),
    why: 'a pass over the messages and a few charts; a failure is usually the data, so few retries',
  },
  runsAs: { kind: 'activity' },
  reads: ['generate-synthetic', 'generate-outputs'],
});
