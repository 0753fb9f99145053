// Makes a fresh clone runnable, then runs one of the TypeScript scripts:
//   node scripts/bootstrap.mjs <demo|test|…> [args]     scripts/<name>.ts
//   node scripts/bootstrap.mjs bench/synth [args]       a path from the project root, without .ts
// Plain JavaScript on purpose: it runs before node_modules (and so tsx) exists.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error('usage: node scripts/bootstrap.mjs <script> [args]');
  process.exit(2);
}

function run(command, commandArgs) {
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

// Install when node_modules is missing or older than the lock file. `npm install` rather than `npm ci`:
// the registry here lacks some other platforms' optional @swc/core binaries, which `npm ci` refuses.
const installedMarker = join(root, 'node_modules', '.package-lock.json');
const lockFile = join(root, 'package-lock.json');
if (!existsSync(installedMarker) || statSync(installedMarker).mtimeMs < statSync(lockFile).mtimeMs) {
  console.log('[bootstrap] installing npm packages');
  const status = run('npm', ['install', '--no-audit', '--no-fund']);
  if (status !== 0) process.exit(status);
}

const target = script.includes('/') ? `${script}.ts` : join('scripts', `${script}.ts`);
process.exit(run(process.execPath, ['--import', 'tsx', target, ...args]));
