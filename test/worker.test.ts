import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { temporaryFolder, testServers } from './helpers/environment';

describe('worker process', () => {
  it('logs JSON, serves its task queue and its shard queue with no warning, and stops gracefully on SIGTERM', async () => {
    const dataHome = await temporaryFolder('worker-home');
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'worker', 'main.ts')], {
      cwd: join(__dirname, '..'),
      env: { ...process.env, TEMPORAL_ADDRESS: testServers.temporalAddress, PIPELINE_TASK_QUEUE: `worker-${Date.now()}`, PIPELINE_DATA_HOME: dataHome, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 60_000);
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('"msg":"worker started"')) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then(() => reject(new Error(`worker exited early:\n${output}`)));
      });
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const lines = output.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; level: number; component?: string });
      assert.ok(lines.some((line) => line.msg === 'worker stopped'), output);
      // A clean start and stop warns of nothing (the shard queue's worker has no workflows, by design).
      assert.deepEqual(lines.filter((line) => line.level >= 40).map((line) => line.msg), [], output);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
