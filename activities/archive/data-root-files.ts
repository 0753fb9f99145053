/** Which files of a data root are data, and a cheap fingerprint of them. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { DATA_ROOT_LAYERS } from '../runs/data-root';
import { TEMP_FILE_PATTERN } from '../storage/atomic-write';
import { sha256Hex } from '../storage/hashing';

/** Files operating systems leave behind that are never data. */
const OS_JUNK_NAMES = new Set(['.DS_Store', 'Thumbs.db', 'ehthumbs.db', 'desktop.ini', '.Spotlight-V100', '.Trashes', '.fseventsd', '.directory']);

/** True for OS junk, AppleDouble `._x` files and our own in-flight temporary files. */
export function isJunkFile(basename: string): boolean {
  return OS_JUNK_NAMES.has(basename) || basename.startsWith('._') || TEMP_FILE_PATTERN.test(basename);
}

/**
 * Top-level folders a backup leaves out: earlier backups, and the embedded dev server's database and
 * local buckets, which live in the data home when a data root is the data home itself.
 */
export const NOT_BACKED_UP = new Set<string>([DATA_ROOT_LAYERS.backups, '.temporal', '.buckets']);

/** Bookkeeping that changes every run and so must not make an otherwise identical data root look new. */
const NOT_FINGERPRINTED = new Set<string>([...NOT_BACKED_UP, DATA_ROOT_LAYERS.logs, DATA_ROOT_LAYERS.manifests]);

export interface DataFile {
  path: string; // relative, with "/"
  bytes: number;
  mtimeMs: number;
}

/** Every data file under `root`, sorted by path, skipping `excludedTopLevel` and junk. */
export async function listDataFiles(root: string, excludedTopLevel: ReadonlySet<string>): Promise<DataFile[]> {
  const files: DataFile[] = [];
  async function walk(relativeDir: string): Promise<void> {
    const entries = await readdir(join(root, relativeDir), { withFileTypes: true });
    for (const entry of entries) {
      if (isJunkFile(entry.name)) continue;
      if (!relativeDir && excludedTopLevel.has(entry.name)) continue;
      const path = relativeDir ? `${relativeDir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const info = await stat(join(root, path));
        files.push({ path, bytes: info.size, mtimeMs: info.mtimeMs });
      }
    }
  }
  await walk('');
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * A fingerprint of the data in a data root from paths, sizes and modification times (as make and rsync
 * do): cheap for large roots, and layers are written once per run, so a change shows in size or mtime.
 */
export async function fingerprintDataRoot(root: string): Promise<{ sha256: string; files: number; bytes: number }> {
  const files = await listDataFiles(root, NOT_FINGERPRINTED);
  const text = files.map((file) => `${file.path}\t${file.bytes}\t${file.mtimeMs}`).join('\n');
  return { sha256: sha256Hex(text), files: files.length, bytes: files.reduce((sum, file) => sum + file.bytes, 0) };
}
