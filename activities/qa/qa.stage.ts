/** qa, as the workflow and the config see it: a child workflow, one activity per dataset. Workflow-safe. */
import { z } from 'zod';

import { fileInDataRoot } from '../../config/schema-parts';
import { defineStage, retryUpTo } from '../runs/stage-definition';
import { specFormatOption } from '../synth/generate-synthetic.stage';

export const QA_LAYOUTS = ['per-dataset', 'bit'] as const;

export const qaStage = defineStage({
  name: 'qa',
  description: 'QA of the datasets of the generate stage before it, one activity per dataset: metrics, correlation p-values, KS test, HTML report and a summary of the batch',
  options: {
    spec: fileInDataRoot.optional().describe('The spec the datasets were generated from'),
    specs: z
      .array(fileInDataRoot)
      .min(1)
      .optional()
      .describe("A batch: spec files or glob patterns (`*`, `?`, `**`, `[…]`, `{a,b}`), relative to the data root; each dataset is checked against the spec the stage before's datasets index names"),
    specFormat: specFormatOption,
    table: z.string().optional().describe('Table of the spec the datasets are (the first by default); in a batch, only datasets of this table are checked'),
    alpha: z.number().gt(0).lt(1).default(0.05).describe('The KS test of the p-values passes when its p-value is at least this'),
    layout: z
      .enum(QA_LAYOUTS)
      .default('per-dataset')
      .describe("per-dataset: a folder of JSON files and plots per dataset; bit: BIT's R QA layout, one file per batch for each comparison, keyed by the janitor-cleaned dataset name"),
  },
  policy: {
    // Applies to each dataset's activity, and to the plan and the batch's summary.
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '2 minutes',
    retry: retryUpTo(3),
    why: 'one pass over each dataset, seconds per million rows; a failure is usually the data, so few retries',
  },
  check: (config, ctx) => {
    const { spec, specs } = config as { spec?: string; specs?: string[] };
    if (spec === undefined && specs === undefined) ctx.addIssue({ code: 'custom', path: ['spec'], message: 'qa needs `spec` or `specs` (a list of specs or glob patterns)' });
  },
  runsAs: { kind: 'child-workflow', workflowType: 'qaRun' },
  reads: ['generate-synthetic', 'generate-series'],
});
