/** Everything the worker bundles as workflow code: the pipeline run, and each child-workflow stage's workflow. */
export { seriesRun, type SeriesRunInput } from '../activities/synth/generate-series.workflow';
export { pipelineRun, type PipelineRunInput,statusQuery } from './pipeline-run';
