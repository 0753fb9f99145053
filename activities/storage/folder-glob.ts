/**
 * Glob patterns over one folder (a data root): `*` and `?` within a path segment, `**` across segments,
 * `[abc]` classes and `{a,b}` alternatives. Matches regular files only, never follows symbolic links and
 * never leaves the folder, so a pattern cannot name a file outside it. Hidden files and folders (names
 * starting with `.`: temporary files, parts) match only a pattern segment that starts with `.` itself.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

const GLOB_CHARACTERS = /[*?[\]{}]/;

export function isGlobPattern(pattern: string): boolean {
  return GLOB_CHARACTERS.test(pattern);
}

/** One path segment's pattern as a regular expression. */
function segmentRegExp(segment: string): RegExp {
  let source = '';
  let alternatives = 0;
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i]!;
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) source += '\\[';
      else {
        const body = segment.slice(i + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\');
        source += `[${body}]`;
        i = close;
      }
    } else if (char === '{') {
      alternatives += 1;
      source += '(?:';
    } else if (char === '}' && alternatives > 0) {
      alternatives -= 1;
      source += ')';
    } else if (char === ',' && alternatives > 0) source += '|';
    else source += char.replace(/[.+^$()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}${')'.repeat(alternatives)}$`);
}

interface Segment {
  text: string;
  globstar: boolean;
  regExp: RegExp;
}

/** Relative paths (with `/`) of the regular files under `folder` that `pattern` matches, sorted. */
export async function globFiles(folder: string, pattern: string): Promise<string[]> {
  const segments: Segment[] = pattern
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .map((text) => ({ text, globstar: text === '**', regExp: segmentRegExp(text) }));
  const found = new Set<string>();
  const visit = async (relative: string[], index: number): Promise<void> => {
    if (index === segments.length) return;
    const segment = segments[index]!;
    let entries: Dirent[];
    try {
      entries = await readdir(join(folder, ...relative), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') return;
      throw err;
    }
    if (segment.globstar) {
      // `**` matches no segment at all, or one more folder and stays; last, it matches every file below.
      const lastSegment = index === segments.length - 1;
      if (!lastSegment) await visit(relative, index + 1);
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue;
        if (entry.isDirectory()) await visit([...relative, entry.name], index);
        else if (lastSegment && entry.isFile()) found.add([...relative, entry.name].join('/'));
      }
      return;
    }
    const last = index === segments.length - 1;
    for (const entry of entries) {
      if (entry.name.startsWith('.') && !segment.text.startsWith('.')) continue;
      if (!segment.regExp.test(entry.name)) continue;
      if (last && entry.isFile()) found.add([...relative, entry.name].join('/'));
      else if (!last && entry.isDirectory()) await visit([...relative, entry.name], index + 1);
    }
  };
  await visit([], 0);
  return [...found].sort();
}
