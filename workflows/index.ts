/** Everything the worker bundles as workflow code: the pipeline run, and each child-workflow stage's workflow. */
export { pipelineRun, statusQuery, type PipelineRunInput } from './pipeline-run';
export { seriesRun, type SeriesRunInput } from '../activities/synth/generate-series.workflow';
