/** Bad input reported with every problem listed, each named by its path (`stages[1].destination: …`). */
import type { z } from 'zod';

export class ProblemsError extends Error {
  constructor(
    what: string,
    readonly problems: string[],
  ) {
    super(`invalid ${what}:\n  ${problems.join('\n  ')}`);
  }
}

export class ConfigError extends ProblemsError {
  override readonly name = 'ConfigError';
  constructor(problems: string[]) {
    super('run config', problems);
  }
}

/** `['stages', 1, 'destination']` → `stages[1].destination`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    return text ? `${text}.${String(key)}` : String(key);
  }, '');
}

export function formatZodIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatPath(issue.path) || '(root)'}: ${issue.message}`);
}
