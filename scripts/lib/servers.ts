/** The real servers the project runs against: Temporal's dev server, fake-gcs-server and the Firestore emulator. */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

import { Connection } from '@temporalio/client';

import { SEARCH_ATTRIBUTE_REGISTRATIONS, SEARCH_ATTRIBUTES } from '../../config/constants';
import { freePort, type ManagedProcess, startProcess, waitUntil } from './processes';
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
  /** The codec server the Web UI decodes encrypted payloads with (client/codec-server.ts). */
  uiCodecEndpoint?: string;
}): Promise<TemporalDevServer> {
  const binary = ensureTool(TOOLS.temporal);
  const port = options.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', options.dbFile, '--log-level', 'warn'];
  args.push(...(options.uiPort ? ['--ui-port', String(options.uiPort)] : ['--headless']));
  if (options.uiPort && options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
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

export const FIRESTORE_EMULATOR_JAR = '/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar';

export interface FirestoreEmulator {
  /** `host:port`, what FIRESTORE_EMULATOR_HOST takes. */
  host: string;
  process: ManagedProcess;
}

/**
 * The official Firestore emulator (Java), on a free loopback port. Java is started directly: the gcloud
 * wrapper script would leave the JVM running when killed.
 */
export async function startFirestoreEmulator(options: { logFile: string; jar?: string }): Promise<FirestoreEmulator> {
  const jar = options.jar ?? process.env.FIRESTORE_EMULATOR_JAR ?? FIRESTORE_EMULATOR_JAR;
  const java = findOnPath('java');
  if (!java) throw new Error('the Firestore emulator needs Java on PATH: install a JRE (e.g. `apt-get install default-jre-headless`)');
  if (!existsSync(jar)) {
    throw new Error(
      `the Firestore emulator is not installed (${jar} is missing): install the Google Cloud CLI component (\`gcloud components install cloud-firestore-emulator\` or \`apt-get install google-cloud-cli-firestore-emulator\`), or set FIRESTORE_EMULATOR_JAR to its cloud-firestore-emulator.jar`,
    );
  }
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child = startProcess(
    'firestore emulator',
    java,
    ['-cp', jar, 'com.google.cloud.datastore.emulator.firestore.CloudFirestore', '--host=127.0.0.1', `--port=${port}`],
    options.logFile,
  );
  // Its root answers "Ok" once it serves requests.
  await waitUntil(`Firestore emulator on ${host}`, async () => (await fetch(`http://${host}/`)).ok, 60_000, child);
  return { host, process: child };
}

/** Deletes every document of `projectId`'s default database in the emulator. */
export async function clearFirestoreEmulator(host: string, projectId: string): Promise<void> {
  const response = await fetch(`http://${host}/emulator/v1/projects/${encodeURIComponent(projectId)}/databases/(default)/documents`, { method: 'DELETE' });
  if (!response.ok) throw new Error(`clearing the Firestore emulator failed: HTTP ${response.status} ${await response.text()}`);
}

function findOnPath(binary: string): string | undefined {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    if (!folder) continue;
    try {
      accessSync(join(folder, binary), constants.X_OK);
      return join(folder, binary);
    } catch {
      // not here
    }
  }
  return undefined;
}
