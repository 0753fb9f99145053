/**
 * `npm run codec-server`: serves Temporal's remote codec protocol with the payload encryption keys of this
 * environment (PIPELINE_ENCRYPTION_KEYS / PIPELINE_ENCRYPTION_KEY_ID, or the data home's local key), so
 * the Web UI and `temporal workflow show --codec-endpoint …` show decrypted payloads to whoever runs it.
 * Settings: PIPELINE_CODEC_HOST (127.0.0.1), PIPELINE_CODEC_PORT (8888), PIPELINE_CODEC_CORS_ORIGINS (the
 * embedded Web UI's origins), PIPELINE_CODEC_TOKEN (optional bearer token). Stops on SIGINT/SIGTERM.
 */
import { createPipelineLogger } from '../activities/runs/run-log';
import { readCodecServerSettings, startCodecServer } from '../client/codec-server';
import { keyringFor } from '../config/data-converter';
import { readSettings } from '../config/settings';
import { EMBEDDED_PORTS } from './lib/embedded-server';

async function main(): Promise<void> {
  const settings = readSettings();
  const codecSettings = readCodecServerSettings(process.env, EMBEDDED_PORTS.ui);
  const logger = createPipelineLogger(settings.logLevel).child({ component: 'codec-server' });
  const keyring = keyringFor(settings);
  const server = await startCodecServer({ ...codecSettings, keyring, logger });
  logger.info(
    { url: server.url, corsOrigins: codecSettings.corsOrigins, bearerToken: codecSettings.token !== undefined, keyIds: keyring.keyIds, activeKeyId: keyring.activeKeyId },
    'codec server listening',
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await server.close();
  logger.info('codec server stopped');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
