/** Option values the synth stages and the engine share, defined once. Workflow-safe (no Node built-ins). */

export const SPEC_FORMATS = ['auto', 'native', 'exhibit', 'summary-statistics'] as const;
export type SpecFormat = (typeof SPEC_FORMATS)[number];

export const PERIOD_UNITS = ['days', 'weeks', 'months'] as const;
export type PeriodUnit = (typeof PERIOD_UNITS)[number];

export const TABLE_FORMATS = ['csv', 'tsv'] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];
