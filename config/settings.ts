/** Settings of the worker and the CLI, read from the environment and validated like every other input. */
import { resolve } from 'node:path';

import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';

import { PIPELINE_TASK_QUEUE } from './constants';
import { type EncryptionSettings, readEncryptionSettings } from './payload-keys';
import { formatZodIssues, ProblemsError } from './problems';

const PROJECT_ROOT = resolve(__dirname, '..');

/** Settings that cannot work, each problem named by its environment variable. */
export class SettingsError extends ProblemsError {
  override readonly name = 'SettingsError';
  constructor(problems: string[]) {
    super('settings (environment)', problems);
  }
}

const settingsSchema = z.strictObject({
  temporalAddress: z.string().min(1).default('127.0.0.1:7233'),
  temporalNamespace: z.string().min(1).default('default'),
  taskQueue: z.string().min(1).default(PIPELINE_TASK_QUEUE),
  /** Relative data roots in run configs resolve against this folder. */
  dataHome: z.string().min(1).default(resolve(PROJECT_ROOT, 'data')),
  /** `local` keeps gs:// objects in a folder (the embedded default); `gcs` talks to Cloud Storage. */
  blobStore: z.enum(['local', 'gcs']).default('local'),
  localBucketsRoot: z.string().optional(),
  gcsApiEndpoint: z.url().optional(),
  gcsProjectId: z.string().optional(),
  /** Deadline of each Cloud Storage request: a connection that never answers fails the request instead of hanging it. */
  gcsRequestTimeoutMs: z.coerce.number().int().min(100).default(60_000),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  /** Synthetic shards a worker process runs at once (see `shardTaskQueue`). */
  shardSlots: z.coerce.number().int().min(1).max(64).default(2),
  /** Folders besides the data home that run configs may name as data roots (absolute, ":"-separated). */
  allowedDataRoots: z
    .string()
    .transform((value) => value.split(':').filter(Boolean))
    .pipe(z.array(z.string().refine((path) => path.startsWith('/'), 'each allowed data root must be an absolute path')))
    .default([]),
});

export type Settings = z.output<typeof settingsSchema> & {
  localBucketsRoot: string;
  /**
   * How the worker and the CLI reach Temporal: the SDK's environment configuration (a TOML profile from
   * TEMPORAL_CONFIG_FILE or ~/.config/temporalio/temporal.toml, chosen by TEMPORAL_PROFILE, with
   * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* on top), so a cluster or
   * Temporal Cloud (mTLS or API key) needs no code. Without any of it: the local dev server.
   */
  temporalConnection: NativeConnectionOptions;
  /**
   * Payload encryption keys (PIPELINE_ENCRYPTION_KEYS, PIPELINE_ENCRYPTION_KEY_ID), or, with none set, the
   * data home's generated local key. The worker, the CLI and the codec server need the same keys.
   */
  encryption: EncryptionSettings;
};

const ENV_NAMES: Record<keyof z.input<typeof settingsSchema>, string> = {
  temporalAddress: 'TEMPORAL_ADDRESS',
  temporalNamespace: 'TEMPORAL_NAMESPACE',
  taskQueue: 'PIPELINE_TASK_QUEUE',
  dataHome: 'PIPELINE_DATA_HOME',
  blobStore: 'PIPELINE_BLOB_STORE',
  localBucketsRoot: 'PIPELINE_LOCAL_BUCKETS',
  gcsApiEndpoint: 'GCS_API_ENDPOINT',
  gcsProjectId: 'GCS_PROJECT_ID',
  gcsRequestTimeoutMs: 'GCS_REQUEST_TIMEOUT_MS',
  logLevel: 'LOG_LEVEL',
  shardSlots: 'PIPELINE_SHARD_SLOTS',
  allowedDataRoots: 'PIPELINE_ALLOWED_DATA_ROOTS',
};

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const raw = Object.fromEntries(
    Object.entries(ENV_NAMES)
      .map(([key, name]) => [key, env[name] === '' ? undefined : env[name]])
      .filter(([, value]) => value !== undefined),
  );
  const result = settingsSchema.safeParse(raw);
  if (!result.success) {
    const names = ENV_NAMES as Record<string, string>;
    throw new SettingsError(
      formatZodIssues(result.error).map((line) => line.replace(/^(\w+)/, (key) => names[key] ?? key)),
    );
  }
  const dataHome = resolve(result.data.dataHome);
  const encryption = readEncryptionSettings(env, dataHome);
  if (!encryption.settings) throw new SettingsError(encryption.problems);
  let profile: ReturnType<typeof loadClientConnectConfig>;
  try {
    profile = loadClientConnectConfig({ overrideEnvVars: Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined)) });
  } catch (err) {
    throw new SettingsError([`Temporal connection (TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE / TEMPORAL_*): ${(err as Error).message}`]);
  }
  const temporalAddress = profile.connectionOptions.address ?? result.data.temporalAddress;
  const temporalNamespace = profile.namespace ?? result.data.temporalNamespace;
  return {
    ...result.data,
    temporalAddress,
    temporalNamespace,
    temporalConnection: { ...profile.connectionOptions, address: temporalAddress },
    dataHome,
    localBucketsRoot: resolve(result.data.localBucketsRoot ?? resolve(dataHome, '.buckets')),
    encryption: encryption.settings,
  };
}
