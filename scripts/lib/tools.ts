/**
 * The Go-built tools the project runs (the Temporal CLI with its dev server, fake-gcs-server): found on
 * the machine, or installed once with `go install` into the git-ignored .tools/bin.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..', '..');
export const TOOLS_BIN = join(PROJECT_ROOT, '.tools', 'bin');

export interface ToolSpec {
  binary: string;
  /** An explicit path to the binary; when set, nothing is looked up or installed. */
  pathVariable: string;
  goModule: string;
  /** What to do on a machine without Go. */
  withoutGo: string;
}

export const TOOLS = {
  temporal: {
    binary: 'temporal',
    pathVariable: 'TEMPORAL_CLI_PATH',
    // Later tags carry a `replace` directive and cannot be `go install`ed.
    goModule: 'github.com/temporalio/cli/cmd/temporal@v1.5.1',
    withoutGo:
      'download the Temporal CLI release archive for your platform from the official temporalio/cli releases (or https://temporal.download/cli/archive/latest), unpack it and set TEMPORAL_CLI_PATH to the `temporal` binary',
  },
  fakeGcsServer: {
    binary: 'fake-gcs-server',
    pathVariable: 'FAKE_GCS_SERVER_PATH',
    goModule: 'github.com/fsouza/fake-gcs-server@v1.55.1',
    withoutGo: 'download a fake-gcs-server release binary from fsouza/fake-gcs-server and set FAKE_GCS_SERVER_PATH to it',
  },
} as const satisfies Record<string, ToolSpec>;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(binary: string): string | undefined {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    if (folder && isExecutable(join(folder, binary))) return join(folder, binary);
  }
  return undefined;
}

/** The tool's path without installing anything: its variable, then PATH, then .tools/bin. */
export function findTool(tool: ToolSpec): string | undefined {
  const explicit = process.env[tool.pathVariable];
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`${tool.pathVariable}=${explicit} is not an executable file`);
    return explicit;
  }
  return onPath(tool.binary) ?? (isExecutable(join(TOOLS_BIN, tool.binary)) ? join(TOOLS_BIN, tool.binary) : undefined);
}

/** Finds the tool, or builds it with `go install` into .tools/bin (minutes the first time, then reused). */
export function ensureTool(tool: ToolSpec, log: (line: string) => void = console.log): string {
  const found = findTool(tool);
  if (found) return found;
  if (!onPath('go')) {
    throw new Error(`${tool.binary} is not installed and Go is not on PATH: ${tool.withoutGo}`);
  }
  mkdirSync(TOOLS_BIN, { recursive: true });
  log(`[tools] building ${tool.binary} (go install ${tool.goModule}); the first build takes a few minutes`);
  const result = spawnSync('go', ['install', tool.goModule], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, GOBIN: TOOLS_BIN, GOFLAGS: '-mod=mod' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`go install ${tool.goModule} failed (exit ${result.status})`);
  const installed = join(TOOLS_BIN, tool.binary);
  if (!isExecutable(installed)) throw new Error(`go install ${tool.goModule} produced no ${installed}`);
  log(`[tools] installed ${installed}`);
  return installed;
}

/** Debian's Chromium, for the Web UI test (driven by playwright-core; never downloaded by Playwright). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Finds Chromium, or installs Debian's package (`apt-get`, as root, as CI runs). Elsewhere it says how,
 * and the test that needs it fails loudly rather than being skipped.
 */
export function ensureChromium(log: (line: string) => void = console.log): string {
  const explicit = process.env.CHROMIUM_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`CHROMIUM_PATH=${explicit} is not an executable file`);
    return explicit;
  }
  if (isExecutable(CHROMIUM)) return CHROMIUM;
  if (!canInstallDebianPackages()) {
    throw new Error(`Chromium is not installed: install Debian's package (sudo apt-get install chromium) or set CHROMIUM_PATH`);
  }
  log('[tools] installing Debian chromium (apt-get) for the Web UI test');
  installDebianPackage('chromium');
  if (!isExecutable(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is missing`);
  return CHROMIUM;
}

/** apt-get is there and we are root (as CI runs): Debian packages can be installed. */
export function canInstallDebianPackages(): boolean {
  return process.getuid?.() === 0 && onPath('apt-get') !== undefined;
}

/** Installs one Debian package through apt-get, non-interactively; throws with the failing command. */
export function installDebianPackage(name: string): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', name]]) {
    const result = spawnSync('apt-get', args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${result.status})`);
  }
}
