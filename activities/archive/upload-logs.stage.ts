/** upload-logs, as the workflow and the config see it. Workflow-safe. */
import { blobPrefixUri } from '../../config/schema-parts';
import { defineStage, retryUpTo } from '../runs/stage-definition';

export const uploadLogsStage = defineStage({
  name: 'upload-logs',
  description: "Uploads the run's log file and the backup archive, never overwriting an object",
  options: {
    destination: blobPrefixUri,
  },
  policy: {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '1 minute',
    retry: retryUpTo(8, '1 minute'),
    why: 'network and bucket errors are usually transient: retry for a few minutes before giving up',
  },
  runsAs: { kind: 'activity' },
  reads: ['backup-data-root'],
});
