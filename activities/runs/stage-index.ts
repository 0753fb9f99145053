/**
 * Skip-if-done: every completed stage leaves an entry under manifests/stages/<stage>/<inputs hash>/<run id>.json.
 * A later stage with the same inputs hash reuses those outputs if they still exist unchanged.
 * Entries are only ever added, never rewritten.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
/** A stage's name (the registry's names are checked where configs are parsed). */
type StageName = string;
import { writeFileAtomic } from '../storage/atomic-write';
import type { BlobStore } from '../storage/blob-store';
import { DATA_ROOT_LAYERS } from './data-root';
import type { StageOutputs } from './types';

export interface CompletedStage {
  runId: string;
  stage: StageName;
  inputsHash: string;
  completedAt: string;
  outputs: StageOutputs;
}

const entryFolder = (root: string, stage: StageName, inputsHash: string): string =>
  join(root, DATA_ROOT_LAYERS.manifests, 'stages', stage, inputsHash);

export async function recordCompletedStage(root: string, entry: CompletedStage): Promise<void> {
  await writeFileAtomic(join(entryFolder(root, entry.stage, entry.inputsHash), `${entry.runId}.json`), JSON.stringify(entry));
}

/** The newest completed run of this stage with these inputs whose outputs all still exist, if any. */
export async function findCompletedStage(
  root: string,
  stage: StageName,
  inputsHash: string,
  blobStore: BlobStore,
): Promise<CompletedStage | undefined> {
  let names: string[];
  try {
    names = await readdir(entryFolder(root, stage, inputsHash));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const newestFirst = names.filter((name) => name.endsWith('.json')).sort().reverse();
  for (const name of newestFirst) {
    const entry = JSON.parse(await readFile(join(entryFolder(root, stage, inputsHash), name), 'utf8')) as CompletedStage;
    if (await outputsStillExist(entry.outputs, blobStore)) return entry;
  }
  return undefined;
}

async function outputsStillExist(outputs: StageOutputs, blobStore: BlobStore): Promise<boolean> {
  for (const ref of Object.values(outputs)) {
    // A file on the web (a Drive upload's link): checking it would take the stage's credentials; taken as there.
    if (!ref.uri.startsWith('file:') && !ref.uri.startsWith('gs:')) continue;
    // A stage may name a folder it wrote (QA's one folder per dataset): no object, but there all the same.
    if (ref.uri.startsWith('file:') && (await isFolder(fileURLToPath(ref.uri)))) continue;
    const stored = await blobStore.stat(ref.uri);
    if (!stored) return false;
    if (ref.bytes !== undefined && stored.bytes !== ref.bytes) return false;
    if (ref.md5 !== undefined && stored.md5 !== ref.md5) return false;
  }
  return true;
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
