/**
 * Temporary files a crashed attempt left behind (`.<name>.tmp-<12 hex>`, see atomic-write.ts) are removed
 * by the activity's next attempt (they carry its tag), and, for those no retry came for, when a worker
 * starts, once they are older than the longest a stage attempt may run: an attempt that old is over,
 * whoever ran it, so nothing still writing is touched.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';

import { TEMP_FILE_PATTERN, temporaryTagOfName } from './atomic-write';

export interface SweepResult {
  removed: number;
  bytes: number;
}

/** Removes the temporary files under `root` (not following symlinks) that `remove` picks; missing or unreadable folders are passed over. */
async function removeTemporaryFiles(root: string, remove: (name: string, mtimeMs: number) => boolean): Promise<SweepResult> {
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
        if (!stats || !remove(entry.name, stats.mtimeMs)) continue;
        await rm(path, { force: true });
        result.removed += 1;
        result.bytes += stats.size;
      }
    }
  };
  await walk(root);
  return result;
}

/** Removes stale temporary files under `root`: those older than `olderThanMs`. */
export async function sweepStaleTemporaryFiles(root: string, olderThanMs: number, now = Date.now()): Promise<SweepResult> {
  return removeTemporaryFiles(root, (_name, mtimeMs) => now - mtimeMs >= olderThanMs);
}

/**
 * Removes the temporary files carrying `tag` under each of `roots` (a root inside another is walked once),
 * except the names in `keep`: those a heartbeat names, which the attempt continues instead of redoing.
 * Only an activity's later attempt calls this, once the server has given up on the earlier one.
 */
export async function removeTaggedTemporaryFiles(roots: readonly string[], tag: string, keep: ReadonlySet<string> = new Set()): Promise<SweepResult> {
  const inside = (path: string, root: string) => {
    const rel = relative(root, path);
    return !isAbsolute(rel) && rel.split(sep)[0] !== '..';
  };
  const distinct = [...new Set(roots)].filter((root, _index, all) => !all.some((other) => other !== root && inside(root, other)));
  const total: SweepResult = { removed: 0, bytes: 0 };
  for (const root of distinct) {
    const swept = await removeTemporaryFiles(root, (name) => temporaryTagOfName(name) === tag && !keep.has(name));
    total.removed += swept.removed;
    total.bytes += swept.bytes;
  }
  return total;
}

/** The temporary file names a value (an attempt's heartbeat details) mentions, anywhere in it. */
export function temporaryNamesIn(value: unknown): Set<string> {
  const names = new Set<string>();
  const visit = (item: unknown): void => {
    if (typeof item === 'string') {
      const name = item.slice(item.lastIndexOf('/') + 1);
      if (TEMP_FILE_PATTERN.test(name)) names.add(name);
    } else if (Array.isArray(item)) item.forEach(visit);
    else if (item && typeof item === 'object') Object.values(item).forEach(visit);
  };
  visit(value);
  return names;
}
