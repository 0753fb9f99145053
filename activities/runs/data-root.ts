/**
 * The data root: one folder per pipeline, layered like seed 003 (raw data never modified, derived layers
 * beside it) and written per run id, so nothing a finished run wrote is changed by a later one.
 */
import { realpathSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';

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

/** The real path of `path` (symlinks resolved), also for a path whose last segments do not exist yet. */
export function realPathOf(path: string): string {
  const missing: string[] = [];
  let existing = resolve(path);
  for (;;) {
    try {
      return join(realpathSync(existing), ...missing.reverse());
    } catch {
      const parent = dirname(existing);
      if (parent === existing) return resolve(path);
      missing.push(basename(existing));
      existing = parent;
    }
  }
}

function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Resolves a config's data root against the worker's data home. It must lie, after symlinks, inside the
 * data home or one of the roots the worker's environment allows (PIPELINE_ALLOWED_DATA_ROOTS): a run
 * config cannot make the worker archive and upload some other folder (an SSH key's, say).
 */
export function resolveDataRoot(dataHome: string, dataRoot: string, allowedRoots: readonly string[] = []): string {
  if (dataRoot.split(/[\\/]+/).includes('..')) {
    throw new BadInputError(`dataRoot: must not contain ".." segments: ${dataRoot}`);
  }
  const resolved = resolve(dataHome, dataRoot);
  const real = realPathOf(resolved);
  const realHome = realPathOf(dataHome);
  // The data home holds what no run may archive or upload: the local UUID tables (raw phone numbers),
  // the local buckets, the Temporal database. A data root is a folder of its own, never the home or above it.
  if (isInside(realHome, real)) {
    throw new BadInputError(`dataRoot: ${dataRoot} is the data home or contains it; name a folder of its own`);
  }
  const allowed = [realHome, ...allowedRoots.map(realPathOf)];
  if (!allowed.some((root) => isInside(real, root))) {
    throw new BadInputError(
      `dataRoot: ${dataRoot} resolves to ${real}, outside the worker's data home${allowedRoots.length > 0 ? ' and its allowed data roots' : ''}; ` +
        'set PIPELINE_ALLOWED_DATA_ROOTS for the worker and the CLI to allow another folder',
    );
  }
  // Layer folders cannot be made inside a file: that is the config's mistake, not something a retry fixes.
  if (statSync(real, { throwIfNoEntry: false })?.isDirectory() === false) throw new BadInputError(`dataRoot: ${dataRoot} is a file, not a folder`);
  return resolved;
}

/**
 * A file a config names in the data root (a spec, a code scheme, an input), as a path. It must stay
 * inside the data root after symlinks too: a link to /etc or to the data home's UUID tables is refused,
 * as a data root outside the allowed folders is. `field` names the config field in the message.
 */
export function dataRootFile(dataRoot: string, file: string, field: string): string {
  const path = join(dataRoot, file);
  const real = realPathOf(path);
  if (!isInside(real, realPathOf(dataRoot))) throw new BadInputError(`${field}: ${file} resolves to ${real}, outside the data root`);
  return path;
}

export async function ensureDataRootLayout(root: string): Promise<void> {
  await Promise.all(Object.values(DATA_ROOT_LAYERS).map((layer) => mkdir(join(root, layer), { recursive: true })));
}

export const runLogPath = (root: string, runId: string): string => join(root, DATA_ROOT_LAYERS.logs, `${runId}.log`);
export const runManifestPath = (root: string, runId: string): string =>
  join(root, DATA_ROOT_LAYERS.manifests, `${runId}.json`);
export const backupArchivePath = (root: string, runId: string): string =>
  join(root, DATA_ROOT_LAYERS.backups, `data-${runId}.tar.gz`);
