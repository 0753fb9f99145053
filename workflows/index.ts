/** Everything the worker bundles as workflow code: the pipeline run, and each child-workflow stage's workflow. */
export { qaRun, type QaRunInput } from '../activities/qa/qa.workflow';
export { seriesRun, type SeriesRunInput } from '../activities/synth/generate-series.workflow';
export { syntheticRun, type SyntheticRunInput } from '../activities/synth/generate-synthetic.workflow';
export { type AbortRequest, abortUpdate, type OperatorActionResult, periodAt, pipelineRun, type PipelineRunInput, type RetryStageRequest, retryStageUpdate, type ScheduleContext, type SkipStageRequest, skipStageUpdate, statusQuery } from './pipeline-run';
