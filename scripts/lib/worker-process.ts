/** A worker process (worker/main.ts) on a given task queue, for tests and benches that need several. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

import { PROJECT_ROOT } from './tools';

export interface WorkerProcessOptions {
  temporalAddress: string;
  taskQueue: string;
  dataHome: string;
  /** Extra environment (log level, …) on top of this process's. */
  env?: Record<string, string>;
  /** Every line the worker writes to stdout (pino JSON), e.g. to keep its log. */
  onLine?: (line: string) => void;
}

/**
 * Starts a worker process and resolves once it serves the task queue. The caller kills it (by its PID);
 * a worker that exits or does not start within two minutes (it bundles the workflow code first) rejects, and is killed.
 */
export async function startWorkerProcess(options: WorkerProcessOptions): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'worker', 'main.ts')], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: options.temporalAddress, PIPELINE_TASK_QUEUE: options.taskQueue, PIPELINE_DATA_HOME: options.dataHome, PIPELINE_BLOB_STORE: 'local', LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let pending = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 120_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        if (output.length < 100_000) output += text;
        pending += text;
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) options.onLine?.(line);
        if (output.includes('"msg":"worker started"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        reject(new Error(`worker exited early:\n${output}`));
      });
    });
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  }
  child.stderr!.resume();
  return child;
}
