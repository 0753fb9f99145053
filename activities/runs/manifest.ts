/** Run manifests: one JSON file per run in manifests/, replaced atomically as the run goes on. */
import { readFile } from 'node:fs/promises';

import { BadInputError } from '../errors';
import { writeFileAtomic } from '../storage/atomic-write';
import { runManifestPath } from './data-root';
import type { RunManifest } from './types';

/**
 * Writes the run's manifest file without the config's `description`: free text may hold anything (a token
 * pasted in by mistake), and the data root is backed up and uploaded; the run's record in Temporal keeps
 * it, encrypted. A run resumed from this file therefore starts without a description.
 */
export async function writeRunManifest(root: string, manifest: RunManifest): Promise<void> {
  const { description: _freeText, ...config } = manifest.config;
  await writeFileAtomic(runManifestPath(root, manifest.runId), `${JSON.stringify({ ...manifest, config }, null, 2)}\n`);
}

export async function readRunManifest(root: string, runId: string): Promise<RunManifest> {
  if (!/^[\w.:-]+$/.test(runId)) throw new BadInputError(`not a run id: ${runId}`);
  try {
    return JSON.parse(await readFile(runManifestPath(root, runId), 'utf8')) as RunManifest;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BadInputError(`no manifest for run ${runId} in ${root}`);
    }
    throw err;
  }
}
