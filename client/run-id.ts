/** Run ids follow the pipelines' convention: `<UTC time>-<git HEAD short hash>`. */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

const PROJECT_ROOT = resolve(__dirname, '..');

/** ISO 8601 basic format with milliseconds (`20261121T235440.123Z`): sortable and safe in file names. */
export function compactUtcTime(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '');
}

export function gitShortHash(cwd: string = PROJECT_ROOT): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'nogit';
  }
}

export function newRunId(now: Date = new Date()): string {
  return `${compactUtcTime(now)}-${gitShortHash()}`;
}
