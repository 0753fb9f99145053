/**
 * Cancellation inside the long activities, without Temporal: a cancelled attempt (the activity's
 * cancellation signal aborts) stops its HTTP waits and its archive writes at once and leaves no
 * temporary file. The worker-level path (terminate a large generation) is in test/synth-stage.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { createDataRootBackup } from '../activities/archive/backup-data-root';
import { createPipelineLogger } from '../activities/runs/run-log';
import { getJson } from '../activities/sources/http';
import { temporaryFolder } from './helpers/environment';

describe('cancellation inside long activities', () => {
  let server: Server;
  let requests = 0;
  let url = '';
  before(async () => {
    // Always rate limited, asking for a minute's wait: a request would otherwise sleep in-process.
    server = createServer((_request, response) => {
      requests += 1;
      response.writeHead(429, { 'Retry-After': '60', 'Content-Type': 'application/json' });
      response.end('{"detail":"slow down"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/runs.json`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a rate-limit wait ends as soon as the attempt is cancelled, with no further request', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = getJson(
      { url, headers: {}, source: 'rapid-pro', classify: (status, _body, headers) => (status === 429 ? { kind: 'rate-limited', reason: 'HTTP 429', waitMs: Number(headers.get('retry-after')) * 1000 } : { kind: 'ok' }) },
      { fetch: globalThis.fetch, logger: createPipelineLogger('error'), signal: controller.signal },
    );
    // Cancel once the first answer has arrived and the wait begun.
    const deadline = Date.now() + 10_000;
    while (requests === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('activity cancelled'));
    await assert.rejects(pending, /activity cancelled/);
    assert.ok(Date.now() - started < 5_000, `stopped after ${Date.now() - started} ms, not after the 60 s wait`);
    assert.equal(requests, 1);
  });

  it('an archive being written stops on cancellation and leaves no temporary file', async () => {
    const home = await temporaryFolder('cancel-backup-');
    const dataRoot = join(home, 'root');
    await mkdir(join(dataRoot, 'raw'), { recursive: true });
    // Incompressible content large enough that the archive is still being written when cancelled.
    for (let i = 0; i < 40; i++) await writeFile(join(dataRoot, 'raw', `part-${i}.bin`), randomBytes(1 << 20));
    const controller = new AbortController();
    const archive = join(home, 'backups', 'data-run.tar.gz');
    let progressed = false;
    const pending = createDataRootBackup(
      dataRoot,
      archive,
      () => {
        if (!progressed) {
          progressed = true;
          controller.abort(new Error('activity cancelled'));
        }
      },
      controller.signal,
    );
    await assert.rejects(pending, /cancelled|abort/i);
    assert.ok(progressed);
    assert.deepEqual(await readdir(join(home, 'backups')), [], 'neither the archive nor its temporary file remains');
  });
});
