/** Run manifests: one JSON file per run in manifests/, replaced atomically as the run goes on. */
import { readFile } from 'node:fs/promises';

import { BadInputError } from '../errors';
import { writeFileAtomic } from '../storage/atomic-write';
import { runManifestPath } from './data-root';
import type { RunManifest } from './types';

export async function writeRunManifest(root: string, manifest: RunManifest): Promise<void> {
  await writeFileAtomic(runManifestPath(root, manifest.runId), `${JSON.stringify(manifest, null, 2)}\n`);
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
