/** Everything the worker bundles as workflow code. */
export { pipelineRun, statusQuery, type PipelineRunInput } from './pipeline-run';
export { seriesRun, type SeriesRunInput } from './series-run';
