/** qa, as the workflow and the config see it. Workflow-safe. */
import { z } from 'zod';

import { fileInDataRoot } from '../../config/schema-parts';
import { defineStage, retryUpTo } from '../runs/stage-definition';
import { specFormatOption } from '../synth/generate-synthetic.stage';

export const QA_LAYOUTS = ['per-dataset', 'bit'] as const;

export const qaStage = defineStage({
  name: 'qa',
  description: 'QA of the datasets of the generate stage before it: metrics, correlation p-values, KS test, HTML report',
  options: {
    spec: fileInDataRoot.describe('The spec the datasets were generated from'),
    specFormat: specFormatOption,
    table: z.string().optional().describe('Table of the spec the datasets are (the first by default)'),
    alpha: z.number().gt(0).lt(1).default(0.05).describe('The KS test of the p-values passes when its p-value is at least this'),
    layout: z
      .enum(QA_LAYOUTS)
      .default('per-dataset')
      .describe("per-dataset: a folder of JSON files and plots per dataset; bit: BIT's R QA layout, one file per batch for each comparison, keyed by the janitor-cleaned dataset name"),
  },
  policy: {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '2 minutes',
    retry: retryUpTo(3),
    why: 'one pass over each dataset, seconds per million rows; a failure is usually the data, so few retries',
  },
  runsAs: { kind: 'activity' },
  reads: ['generate-synthetic', 'generate-series'],
});
