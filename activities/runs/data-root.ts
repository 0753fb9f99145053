/**
 * The data root: one folder per pipeline, layered like seed 003 (raw data never modified, derived layers
 * beside it) and written per run id, so nothing a finished run wrote is changed by a later one.
 */
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';

import { BadInputError } from '../errors';

export const DATA_ROOT_LAYERS = {
  raw: 'raw', // fetched sources, never modified
  coded: 'coded', // data pulled back from manual coding
  synth: 'synth', // synth/<series>/<period>/
  qa: 'qa',
  graphs: 'graphs',
  outputs: 'outputs',
  logs: 'logs', // logs/<run id>.log
  backups: 'backups', // backups/data-<run id>.tar.gz
  manifests: 'manifests', // manifests/<run id>.json, manifests/stages/…
} as const;

/** Resolves a config's data root against the worker's data home, refusing any escape through "..". */
export function resolveDataRoot(dataHome: string, dataRoot: string): string {
  if (dataRoot.split(/[\\/]+/).includes('..')) {
    throw new BadInputError(`dataRoot: must not contain ".." segments: ${dataRoot}`);
  }
  const resolved = resolve(dataHome, dataRoot);
  if (!isAbsolute(dataRoot) && relative(dataHome, resolved).startsWith('..')) {
    throw new BadInputError(`dataRoot: ${dataRoot} escapes the data home ${dataHome}`);
  }
  // The data home holds what no run may archive or upload: the local UUID tables (raw phone numbers),
  // the local buckets, the Temporal database. A data root is a folder of its own, never the home or above it.
  if (!relative(resolved, resolve(dataHome)).startsWith('..')) {
    throw new BadInputError(`dataRoot: ${dataRoot} is the data home or contains it; name a folder of its own`);
  }
  return resolved;
}

export async function ensureDataRootLayout(root: string): Promise<void> {
  await Promise.all(Object.values(DATA_ROOT_LAYERS).map((layer) => mkdir(join(root, layer), { recursive: true })));
}

export const runLogPath = (root: string, runId: string): string => join(root, DATA_ROOT_LAYERS.logs, `${runId}.log`);
export const runManifestPath = (root: string, runId: string): string =>
  join(root, DATA_ROOT_LAYERS.manifests, `${runId}.json`);
export const backupArchivePath = (root: string, runId: string): string =>
  join(root, DATA_ROOT_LAYERS.backups, `data-${runId}.tar.gz`);
