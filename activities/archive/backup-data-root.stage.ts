/** backup-data-root, as the workflow and the config see it. Workflow-safe. */
import { defineStage, retryUpTo } from '../runs/stage-definition';

export const backupDataRootStage = defineStage({
  name: 'backup-data-root',
  description: 'A gzipped tar of the data root in backups/, with a .sha256 beside it',
  options: {},
  policy: {
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '1 minute',
    retry: retryUpTo(5),
    why: 'a large data root takes long to tar; disk hiccups pass, so five tries over about a minute, then a person should look',
  },
  runsAs: { kind: 'activity' },
});
