/**
 * The bad-input corpus (test/fixtures/bad-inputs/cases.yaml) and what running one case takes: a case
 * folder with its own data home, the real CLI run as a child process under a deadline, and a snapshot of
 * every file of the case folder to compare before and after.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';

import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export const CORPUS = join(__dirname, '..', 'fixtures', 'bad-inputs');
const PROJECT_ROOT = join(__dirname, '..', '..');
const CLI = join(PROJECT_ROOT, 'client', 'cli.ts');

const caseSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  why: z.string().min(1),
  config: z.string().optional(),
  template: z.boolean().optional(),
  files: z.record(z.string(), z.string()).optional(),
  symlinks: z.record(z.string(), z.string()).optional(),
  generate: z.strictObject({ path: z.string(), megabytes: z.number().positive() }).optional(),
  env: z.record(z.string(), z.string()).optional(),
  args: z.array(z.string()).optional(),
  expect: z.array(z.string().min(1)).min(1).optional(),
});
export type BadInputCase = z.infer<typeof caseSchema>;

export function loadCorpus(): { control: BadInputCase; cases: BadInputCase[] } {
  return z.strictObject({ control: caseSchema, cases: z.array(caseSchema).min(1) }).parse(parseYaml(readFileSync(join(CORPUS, 'cases.yaml'), 'utf8')));
}

export interface PreparedCase {
  folder: string;
  dataHome: string;
  args: string[];
  /** Environment variables the case sets for the CLI. */
  env: Record<string, string>;
}

/**
 * `<root>/<id>/`: `home/` is the data home (with the empty data root `bad/` and the case's files),
 * `outside/secret.txt` a folder outside it that configs and symlinks may point at.
 */
export async function prepareCase(root: string, badInput: BadInputCase, variables: Record<string, string>): Promise<PreparedCase> {
  const folder = join(root, badInput.id);
  const dataHome = join(folder, 'home');
  const substitute = (text: string) => text.replace(/\$\{(\w+)\}/g, (whole, name: string) => (name === 'CASE' ? folder : (variables[name] ?? whole)));
  await mkdir(join(dataHome, 'bad'), { recursive: true });
  await mkdir(join(folder, 'outside'), { recursive: true });
  await writeFile(join(folder, 'outside', 'secret.txt'), 'not for any run\n');
  for (const [target, source] of Object.entries(badInput.files ?? {})) {
    await mkdir(dirname(join(dataHome, target)), { recursive: true });
    await copyFile(join(CORPUS, source), join(dataHome, target));
  }
  for (const [path, target] of Object.entries(badInput.symlinks ?? {})) {
    await mkdir(dirname(join(dataHome, path)), { recursive: true });
    await symlink(substitute(target), join(dataHome, path));
  }
  if (badInput.generate) await writeLargeFile(join(folder, badInput.generate.path), badInput.generate.megabytes);
  let config = badInput.config ? join(CORPUS, badInput.config) : undefined;
  if (badInput.config && badInput.template) {
    config = join(folder, badInput.config.replace(/^.*\//, ''));
    await writeFile(config, substitute(await readFile(join(CORPUS, badInput.config), 'utf8')));
  }
  const args = (badInput.args ?? ['run', '--config', '{config}']).map((arg) => substitute(arg.replace('{config}', config ?? '{config}')));
  const env = Object.fromEntries(Object.entries(badInput.env ?? {}).map(([name, value]) => [name, substitute(value)]));
  return { folder, dataHome, args, env };
}

/**
 * A file of that many megabytes, the shape of a data file named where a spec belongs: a YAML list of long
 * lines, or for `.json` a JSON array of long strings.
 */
async function writeLargeFile(path: string, megabytes: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const json = path.endsWith('.json');
  const item = 'y'.repeat(2000);
  const out = createWriteStream(path);
  const bytes = megabytes * 1024 * 1024;
  let written = 0;
  const write = async (text: string) => {
    written += Buffer.byteLength(text);
    if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  };
  if (json) await write('[');
  for (let index = 0; written < bytes - item.length - 16; index++) await write(json ? `${index === 0 ? '' : ','}"${item}"\n` : `- ${item}\n`);
  if (json) await write(']\n');
  out.end();
  await finished(out);
}

/** Every entry under `folder`: its kind, size, mode and content hash (or link target), by relative path. */
export async function snapshotTree(folder: string): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  const visit = async (relative: string): Promise<void> => {
    const path = join(folder, relative);
    const info = await lstat(path);
    if (info.isSymbolicLink()) entries.set(relative, `link ${await readlink(path)}`);
    else if (info.isDirectory()) {
      entries.set(relative, `dir ${info.mode}`);
      for (const name of (await readdir(path)).sort()) await visit(join(relative, name));
    } else {
      const hash = info.size <= 1024 * 1024 ? createHash('sha256').update(await readFile(path)).digest('hex') : `mtime ${info.mtimeMs}`;
      entries.set(relative, `file ${info.size} ${info.mode} ${hash}`);
    }
  };
  await visit('.');
  return entries;
}

export function treeChanges(before: Map<string, string>, after: Map<string, string>): string[] {
  const changes: string[] = [];
  for (const [path, entry] of after) if (before.get(path) !== entry) changes.push(`${before.has(path) ? 'changed' : 'created'} ${path}`);
  for (const path of before.keys()) if (!after.has(path)) changes.push(`removed ${path}`);
  return changes;
}

export interface CliRun {
  code: number | null;
  output: string;
  timedOut: boolean;
  ms: number;
}

/** Output kept per run: enough for any message, bounded if a case makes the CLI print without end. */
const MAX_OUTPUT = 256 * 1024;

/** The real CLI (`node --import tsx client/cli.ts`), killed by its pid if it outlives the deadline. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, deadlineMs: number): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      if (output.length < MAX_OUTPUT) output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, deadlineMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut, ms: Date.now() - started });
    });
  });
}

/** Runs `work` over `items` with at most `limit` at a time, results in the items' order. */
export async function mapWithLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
