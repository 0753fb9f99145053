/**
 * How runs started before the stage registry ran their stages. Their histories (test/fixtures/histories)
 * schedule stage activities under these names and validated the config inside the workflow, so
 * `pipelineRun` follows this path when `patched(STAGE_REGISTRY_PATCH)` is false: while replaying such a
 * history, or for such a run still open when the new worker starts. Delete this file, and turn the
 * patch into `deprecatePatch`, once no run older than the registry can be replayed or resumed.
 */
import type { StagePlan } from '../activities/runs/types';

export const STAGE_REGISTRY_PATCH = 'stage-plan-from-begin-run';

/** Activity types of the one-activity stages before the registry named each activity after its stage. */
export const PRE_REGISTRY_ACTIVITY_TYPES: Readonly<Record<string, string>> = {
  'generate-synthetic': 'generateSynthetic',
  qa: 'qualityAssurance',
  'analysis-graphs': 'analysisGraphs',
  'backup-data-root': 'backupDataRoot',
  'upload-logs': 'uploadLogs',
};

/** The plan such a run followed: the same commands, with the options it had then. */
export function preRegistryPlan(pipelineName: string, stages: ReadonlyArray<{ stage: string }>): StagePlan[] {
  return stages.map((stage, index) => ({
    stage: stage.stage as StagePlan['stage'],
    runsAs:
      stage.stage === 'generate-series'
        ? { kind: 'child-workflow', workflowType: 'seriesRun' }
        : { kind: 'activity', activityType: PRE_REGISTRY_ACTIVITY_TYPES[stage.stage] ?? stage.stage },
    options: {
      startToCloseTimeout: '1 hour',
      heartbeatTimeout: '1 minute',
      retry: { maximumAttempts: 4, initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s' },
    },
    summary: `${stage.stage} (stage ${index + 1} of ${stages.length}) of ${pipelineName}`,
  }));
}
