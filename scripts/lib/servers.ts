/** The real servers the project runs against: Temporal's dev server and fake-gcs-server. */
import { Connection } from '@temporalio/client';

import { SEARCH_ATTRIBUTE_REGISTRATIONS, SEARCH_ATTRIBUTES } from '../../config/constants';
import { freePort, type ManagedProcess,startProcess, waitUntil } from './processes';
import { ensureTool, TOOLS } from './tools';

/** True when a Temporal server answers at `address` with the project's search attributes registered. */
export async function servesSearchAttributes(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      return Object.values(SEARCH_ATTRIBUTES).every((key) => key.name in (customAttributes ?? {}));
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

export interface TemporalDevServer {
  address: string;
  uiUrl?: string;
  process: ManagedProcess;
}

/** Starts `temporal server start-dev` with the project's search attributes; waits until they are served. */
export async function startTemporalDevServer(options: {
  dbFile: string;
  logFile: string;
  port?: number;
  /** Serve the Web UI on this port; headless when omitted. */
  uiPort?: number;
}): Promise<TemporalDevServer> {
  const binary = ensureTool(TOOLS.temporal);
  const port = options.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', options.dbFile, '--log-level', 'warn'];
  args.push(...(options.uiPort ? ['--ui-port', String(options.uiPort)] : ['--headless']));
  for (const registration of SEARCH_ATTRIBUTE_REGISTRATIONS) args.push('--search-attribute', registration);
  const process = startProcess('temporal dev server', binary, args, options.logFile);
  const address = `127.0.0.1:${port}`;
  await waitUntil(`Temporal dev server on ${address}`, () => servesSearchAttributes(address), 60_000, process);
  return { address, ...(options.uiPort ? { uiUrl: `http://127.0.0.1:${options.uiPort}` } : {}), process };
}

export interface FakeGcsServer {
  endpoint: string;
  process: ManagedProcess;
}

/** fake-gcs-server in memory, speaking plain HTTP on a free loopback port. */
export async function startFakeGcsServer(options: { logFile: string }): Promise<FakeGcsServer> {
  const binary = ensureTool(TOOLS.fakeGcsServer);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const process = startProcess(
    'fake-gcs-server',
    binary,
    ['-scheme', 'http', '-host', '127.0.0.1', '-port', String(port), '-backend', 'memory', '-external-url', endpoint, '-public-host', `127.0.0.1:${port}`, '-log-level', 'warn'],
    options.logFile,
  );
  await waitUntil(`fake-gcs-server on ${endpoint}`, async () => (await fetch(`${endpoint}/storage/v1/b`)).ok, 30_000, process);
  return { endpoint, process };
}
