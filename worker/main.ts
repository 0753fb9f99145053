/** The worker process: `npm run worker`. Stops gracefully on SIGINT/SIGTERM. */
import { runWorkerProcess } from './run-worker';

runWorkerProcess().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
