/** generate-series, as the workflow and the config see it: a child workflow, one activity per period. Workflow-safe. */
import { z } from 'zod';

import { fileInDataRoot } from '../../config/schema-parts';
import { defineStage, retryUpTo } from '../runs/stage-definition';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, specFormatOption } from './generate-synthetic.stage';
import { PERIOD_UNITS, TABLE_FORMATS } from './synth-options';

const columnNames = z.array(z.string().min(1)).default([]);

export const generateSeriesStage = defineStage({
  name: 'generate-series',
  description: 'dataset_1 … dataset_N of a synthetic series, one activity per period',
  options: {
    spec: fileInDataRoot.describe('Base spec file, relative to the data root'),
    specFormat: specFormatOption,
    table: z.string().optional().describe('The table that becomes a series (the first by default)'),
    series: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits, _ . -').describe('Series name: synth/<series>/'),
    periodUnit: z.enum(PERIOD_UNITS),
    periodLength: z.int().min(1).max(1000).default(1),
    periods: z.int().min(1).max(100_000).describe('How many datasets the series has; existing ones are kept'),
    newFraction: z.number().gt(0).max(1).describe('Share of each period that is new entities, in (0, 1]'),
    dateColumns: columnNames.describe('Date columns shifted by (k−1) × periodLength × periodUnit'),
    staticColumns: columnNames.describe('Columns returning entities keep'),
    idColumns: z.array(z.string().min(1)).optional().describe('Entity ids (the primary keys by default)'),
    format: z.enum(TABLE_FORMATS).default('csv'),
    maxRows: z.int().min(1).max(10 ** 10).default(DEFAULT_MAX_ROWS).describe('Refuse a series whose periods hold more rows than this (periods × rows), before generating'),
    maxBytes: z.int().min(1).default(DEFAULT_MAX_BYTES).describe("Refuse a series whose periods would take more bytes than this (estimated from a sample), before generating"),
  },
  policy: {
    // Applies to each period's activity.
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '1 minute',
    retry: retryUpTo(4),
    why: 'a period of a few hundred thousand rows takes seconds to minutes; deterministic work, so a few retries for crashed workers and disks',
  },
  runsAs: { kind: 'child-workflow', workflowType: 'seriesRun' },
});
