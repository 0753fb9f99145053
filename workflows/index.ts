/** Everything the worker bundles as workflow code. */
export { pipelineRun, statusQuery, type PipelineRunInput } from './pipeline-run';
