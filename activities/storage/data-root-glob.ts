/**
 * Glob patterns over the files of a data root (`raw/specs/*.yaml`, `raw/**\/summary_*.json`): `*` and `?`
 * within a segment, `**` for any depth of folders, `[abc]` classes and `{a,b}` alternatives. Matches stay
 * inside the root: patterns are relative without "..", and folders reached through symbolic links are not
 * walked. As in shells, `*` does not match a leading dot.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { hasParentSegment } from '../../config/schema-parts';

/** A path with wildcards in it; any other path names one file. */
export const isGlobPattern = (path: string): boolean => /[*?[{]/.test(path);

function segmentRegex(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) source += '\\[';
      else {
        const body = segment.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        source += `[${body}]`;
        i = end;
      }
    } else if (c === '{') {
      const end = segment.indexOf('}', i);
      if (end < 0) source += '\\{';
      else {
        source += `(?:${segment
          .slice(i + 1, end)
          .split(',')
          .map((part) => segmentRegex(part).source.slice(1, -1))
          .join('|')})`;
        i = end;
      }
    } else source += c.replace(/[.+^$()|\\\]}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

async function entriesOf(folder: string): Promise<Dirent[]> {
  try {
    return await readdir(folder, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
}

/** The files of `root` matching `pattern`, as sorted '/'-separated paths relative to the root. */
export async function filesMatching(root: string, pattern: string): Promise<string[]> {
  if (pattern.startsWith('/') || hasParentSegment(pattern)) throw new Error(`"${pattern}" is not a pattern inside the data root`);
  const segments = pattern.split('/').filter((segment) => segment !== '' && segment !== '.');
  const found = new Set<string>();
  const visible = (name: string, segment: string): boolean => !name.startsWith('.') || segment.startsWith('.');
  const walk = async (relative: string[], index: number): Promise<void> => {
    const segment = segments[index]!;
    const last = index === segments.length - 1;
    const entries = await entriesOf(join(root, ...relative));
    if (segment === '**') {
      if (last) return; // `**` at the end names folders, not files
      await walk(relative, index + 1);
      for (const entry of entries) if (entry.isDirectory() && !entry.name.startsWith('.')) await walk([...relative, entry.name], index);
      return;
    }
    const matches = segmentRegex(segment);
    for (const entry of entries) {
      if (!matches.test(entry.name) || !visible(entry.name, segment)) continue;
      if (last && entry.isFile()) found.add([...relative, entry.name].join('/'));
      else if (!last && entry.isDirectory()) await walk([...relative, entry.name], index + 1);
    }
  };
  if (segments.length > 0) await walk([], 0);
  return [...found].sort();
}
