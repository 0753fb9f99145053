/**
 * `npm test`: installs the Go-built tools if missing, type-checks, lints, starts one Temporal dev server, one
 * fake-gcs-server and one Firestore emulator for the whole run, runs every test file with node's test runner, and stops the servers
 * on every exit path. Extra arguments select test files. Ends with the reliability tests' summary line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createPipelineLogger } from '../activities/runs/run-log';
import { type RunningCodecServer, startCodecServer } from '../client/codec-server';
import { ENCRYPTION_ENV, readEncryptionSettings } from '../config/payload-keys';
import { freePort, runMain, stopAllProcesses } from './lib/processes';
import { clearReliabilityFigures, reliabilitySummaryLine } from './lib/reliability-summary';
import { startFakeGcsServer, startFirestoreEmulator, startTemporalDevServer } from './lib/servers';
import { ensureChromium, ensureTool, PROJECT_ROOT, TOOLS } from './lib/tools';

async function main(): Promise<number> {
  for (const tool of Object.values(TOOLS)) ensureTool(tool);
  const chromium = ensureChromium();

  console.log('[test] type-checking (tsc)');
  const typecheck = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', PROJECT_ROOT], { stdio: 'inherit' });
  if (typecheck.status !== 0) return typecheck.status ?? 1;

  console.log('[test] linting (eslint)');
  const lint = spawnSync(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'), '--max-warnings=0', '.'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (lint.status !== 0) return lint.status ?? 1;

  // Payloads are encrypted in every test as in production: one keyring for the test run, for every test
  // process and for the codec server the dev server's Web UI decrypts payloads with.
  const encryptionEnv: Record<string, string> = process.env[ENCRYPTION_ENV.keys]
    ? Object.fromEntries(Object.values(ENCRYPTION_ENV).flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])))
    : { [ENCRYPTION_ENV.keys]: `test-run-${randomBytes(3).toString('hex')}:${randomBytes(32).toString('base64')}` };
  const encryption = readEncryptionSettings(encryptionEnv, tmpdir());
  if (encryption.settings?.source !== 'environment') throw new Error(encryption.problems.join('\n'));
  const keyring = encryption.settings.keyring;

  const workDir = mkdtempSync(join(tmpdir(), 'pipeline-test-'));
  let codecServer: RunningCodecServer | undefined;
  try {
    const uiPort = await freePort();
    codecServer = await startCodecServer({ host: '127.0.0.1', port: 0, corsOrigins: [`http://127.0.0.1:${uiPort}`], keyring, logger: createPipelineLogger('warn') });
    const temporal = await startTemporalDevServer({ dbFile: join(workDir, 'temporal.sqlite'), logFile: join(workDir, 'temporal.log'), uiPort, uiCodecEndpoint: codecServer.url });
    const gcs = await startFakeGcsServer({ logFile: join(workDir, 'fake-gcs.log') });
    const firestore = await startFirestoreEmulator({ logFile: join(workDir, 'firestore.log') });
    console.log(
      `[test] Temporal dev server ${temporal.address} (pid ${temporal.process.pid}), fake-gcs-server ${gcs.endpoint} (pid ${gcs.process.pid}), Firestore emulator ${firestore.host} (pid ${firestore.process.pid}), codec server ${codecServer.url}`,
    );

    clearReliabilityFigures();
    const selected = process.argv.slice(2);
    const files = selected.length > 0 ? selected : readdirSync(join(PROJECT_ROOT, 'test')).filter((name) => name.endsWith('.test.ts')).sort().map((name) => join('test', name));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=300000', ...files],
      {
        cwd: PROJECT_ROOT,
        stdio: 'inherit',
        env: {
          ...process.env,
          TEST_TEMPORAL_ADDRESS: temporal.address,
          TEST_TEMPORAL_UI_URL: temporal.uiUrl!,
          TEST_CHROMIUM: chromium,
          TEST_GCS_ENDPOINT: gcs.endpoint,
          TEST_FIRESTORE_EMULATOR_HOST: firestore.host,
          TEST_CODEC_SERVER_URL: codecServer.url,
          ...encryptionEnv,
          LOG_LEVEL: process.env.LOG_LEVEL ?? 'fatal',
        },
      },
    );
    const status = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    console.log(reliabilitySummaryLine());
    return status;
  } finally {
    await stopAllProcesses();
    await codecServer?.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

runMain(main);
