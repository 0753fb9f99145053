import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';

import { defaultPayloadConverter } from '@temporalio/common';

import { createPipelineLogger, openRunLogger } from '../activities/runs/run-log';
import { MAX_PAYLOAD_BYTES } from '../config/constants';
import { PayloadSizeLimitCodec } from '../config/payload-limit';
import { temporaryFolder } from './helpers/environment';

describe('logs', () => {
  it('are JSON lines in the worker log and the run log, with secrets and phone numbers redacted', async () => {
    const folder = await temporaryFolder('logs');
    const consoleLines: string[] = [];
    const consoleStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        consoleLines.push(chunk.toString());
        done();
      },
    });
    const base = createPipelineLogger('info', consoleStream);
    const runLog = openRunLogger(base, join(folder, 'logs', 'run-1.log'), { runId: 'run-1' });
    runLog.logger.info({ event: 'FetchingRawData', token: 'rp-secret-token', source: { token: 'nested', phone: '+254700000001' } }, 'fetching');
    runLog.close();

    const fileLines = (await readFile(join(folder, 'logs', 'run-1.log'), 'utf8')).trim().split('\n');
    for (const text of [fileLines.join('\n'), consoleLines.join('')]) {
      assert.doesNotMatch(text, /rp-secret-token|nested|\+254700000001/);
    }
    const entry = JSON.parse(fileLines[0]!) as Record<string, unknown>;
    assert.equal(entry.event, 'FetchingRawData');
    assert.equal(entry.runId, 'run-1');
    assert.equal(entry.token, '[redacted]');
    assert.deepEqual(entry.source, { token: '[redacted]', phone: '[redacted]' });
  });

  it('keep info lines in the run log even when the worker console is at warn', async () => {
    const folder = await temporaryFolder('levels');
    const base = createPipelineLogger('warn', new Writable({ write: (_c, _e, done) => done() }));
    const runLog = openRunLogger(base, join(folder, 'run.log'), {});
    runLog.logger.info({ event: 'StageStart' }, 'started');
    runLog.close();
    assert.match(await readFile(join(folder, 'run.log'), 'utf8'), /"event":"StageStart"/);
  });
});

describe('payload size limit', () => {
  it('passes references and refuses a payload above the limit, saying to pass a reference', async () => {
    const codec = new PayloadSizeLimitCodec();
    const small = defaultPayloadConverter.toPayload({ uri: 'gs://bucket/data.csv' });
    assert.deepEqual(await codec.encode([small]), [small]);
    const large = defaultPayloadConverter.toPayload('x'.repeat(MAX_PAYLOAD_BYTES + 1));
    await assert.rejects(codec.encode([large]), /exceeds the 262144-byte limit: pass a reference, not data/);
  });
});
