/**
 * Temporary files a crashed attempt left behind (`.<name>.tmp-<random>`, see atomic-write.ts) are removed
 * when a worker starts, once they are older than the longest a stage attempt may run: an attempt that old
 * is over, whoever ran it, so nothing still writing is touched.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { TEMP_FILE_PATTERN } from './atomic-write';

export interface SweepResult {
  removed: number;
  bytes: number;
}

/** Removes stale temporary files under `root` (not following symlinks); missing or unreadable folders are passed over. */
export async function sweepStaleTemporaryFiles(root: string, olderThanMs: number, now = Date.now()): Promise<SweepResult> {
  const result: SweepResult = { removed: 0, bytes: 0 };
  const walk = async (folder: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
      } else if (entry.isFile() && TEMP_FILE_PATTERN.test(entry.name)) {
        const stats = await lstat(path).catch(() => undefined);
        if (!stats || now - stats.mtimeMs < olderThanMs) continue;
        await rm(path, { force: true });
        result.removed += 1;
        result.bytes += stats.size;
      }
    }
  };
  await walk(root);
  return result;
}
