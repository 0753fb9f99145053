/**
 * `npm run codec-server` as the Web UI and the temporal CLI use it: the real script in its own process
 * (started by this test, killed by its PID on every path), answering Temporal's remote codec protocol
 * (`POST …/decode` and `…/encode`, proto3 JSON payloads), with CORS for the Web UI's origin (preflight,
 * X-Namespace) and an optional bearer token; its keys come from the same environment as the worker's.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { defaultPayloadConverter, type Payload } from '@temporalio/common';

import { ENCRYPTED_ENCODING, KEY_ID_METADATA, PayloadEncryptionCodec, PayloadKeyring } from '../config/payload-encryption';
import { freePort } from '../scripts/lib/processes';

const SCRIPT = join(__dirname, '..', 'scripts', 'codec-server.ts');
const UI_ORIGIN = 'http://127.0.0.1:8233';
const TOKEN = `codec-${randomBytes(16).toString('hex')}`;
const keys = { old: randomBytes(32), current: randomBytes(32), other: randomBytes(32) };

const spawned = new Set<ChildProcess>();
function killSpawned(): void {
  for (const child of spawned) {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  }
}
process.once('exit', killSpawned);

interface RunningScript {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts the script; resolves once it logs that it listens, or rejects with its output. */
async function startScript(env: NodeJS.ProcessEnv): Promise<RunningScript> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`the codec server did not start within 30 s:\n${output}`)), 30_000);
    const check = () => {
      const listening = output.split('\n').find((line) => line.includes('"msg":"codec server listening"'));
      if (listening) {
        clearTimeout(deadline);
        resolve((JSON.parse(listening) as { url: string }).url);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(deadline);
      reject(new Error(`the codec server exited (${code}):\n${output}`));
    });
  });
  return { child, url, output: () => output, exited };
}

const asJson = (payload: Payload) => ({
  metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
  ...(payload.data ? { data: Buffer.from(payload.data).toString('base64') } : {}),
});
const fromJson = (payload: { metadata?: Record<string, string>; data?: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
  data: Buffer.from(payload.data ?? '', 'base64'),
});
const metadataText = (payload: { metadata?: Record<string, string> }, key: string) => Buffer.from(payload.metadata?.[key] ?? '', 'base64').toString('utf8');

describe('npm run codec-server', () => {
  let server: RunningScript;
  const previousKeyOnly = new PayloadEncryptionCodec(new PayloadKeyring([{ id: 'old', key: keys.old }], 'old'));
  const ours = new PayloadEncryptionCodec(new PayloadKeyring([{ id: 'old', key: keys.old }, { id: 'current', key: keys.current }], 'current'));
  const elsewhere = new PayloadEncryptionCodec(new PayloadKeyring([{ id: 'other', key: keys.other }], 'other'));
  const values = [{ runId: 'r1', config: { description: 'free text' } }, 'a string', 42];

  before(async () => {
    server = await startScript({
      PIPELINE_ENCRYPTION_KEYS: `old:${keys.old.toString('base64')},current:${keys.current.toString('base64')}`,
      PIPELINE_ENCRYPTION_KEY_ID: 'current',
      PIPELINE_CODEC_PORT: String(await freePort()),
      PIPELINE_CODEC_CORS_ORIGINS: `${UI_ORIGIN}, http://localhost:8233`,
      PIPELINE_CODEC_TOKEN: TOKEN,
    });
  });
  after(killSpawned);

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Authorization: `Bearer ${TOKEN}`, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('decodes payloads sealed under the active key, an older key and none (a history from before encryption)', async () => {
    const plain = values.map((value) => defaultPayloadConverter.toPayload(value));
    const sealed = [...(await ours.encode(plain.slice(0, 2))), ...(await previousKeyOnly.encode(plain.slice(2))), defaultPayloadConverter.toPayload('never encrypted')];
    for (const path of ['/decode', '/default/decode', '/codec/default/decode']) {
      const response = await post(path, { payloads: sealed.map(asJson) });
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get('content-type') ?? '', /application\/json/);
      const { payloads } = (await response.json()) as { payloads: Array<{ metadata: Record<string, string>; data?: string }> };
      assert.deepEqual(
        payloads.map((payload) => defaultPayloadConverter.fromPayload(fromJson(payload))),
        [...values, 'never encrypted'],
      );
      assert.equal(metadataText(payloads[0]!, 'encoding'), 'json/plain', 'metadata values are base64, as proto3 JSON has them');
    }
  });

  it('encodes with the active key what the Web UI sends (a signal or start input typed by a person)', async () => {
    const response = await post('/default/encode', { payloads: values.map((value) => asJson(defaultPayloadConverter.toPayload(value))) });
    assert.equal(response.status, 200);
    const { payloads } = (await response.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
    assert.deepEqual(payloads.map((payload) => [metadataText(payload, 'encoding'), metadataText(payload, KEY_ID_METADATA)]), values.map(() => [ENCRYPTED_ENCODING, 'current']));
    assert.deepEqual((await ours.decode(payloads.map(fromJson))).map((payload) => defaultPayloadConverter.fromPayload(payload)), values);
    // And back through /decode.
    const back = (await (await post('/decode', { payloads })).json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
    assert.deepEqual(back.payloads.map((payload) => defaultPayloadConverter.fromPayload(fromJson(payload))), values);
  });

  it('answers the Web UI origin\'s CORS preflight (X-Namespace, Authorization) and marks its responses; other origins get no CORS headers', async () => {
    const preflight = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: UI_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace,authorization' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), UI_ORIGIN);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /\bPOST\b/);
    const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
    for (const header of ['content-type', 'x-namespace', 'authorization']) assert.ok(allowed.includes(header), header);
    assert.match(preflight.headers.get('vary') ?? '', /Origin/);

    const fromUi = await post('/decode', { payloads: [] }, { Origin: 'http://localhost:8233' });
    assert.equal(fromUi.status, 200);
    assert.equal(fromUi.headers.get('access-control-allow-origin'), 'http://localhost:8233');
    assert.deepEqual(await fromUi.json(), { payloads: [] });

    const foreign = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    const foreignPost = await post('/decode', { payloads: [] }, { Origin: 'https://evil.example' });
    assert.equal(foreignPost.headers.get('access-control-allow-origin'), null, 'a browser on another origin cannot read the answer');
  });

  it('requires the bearer token when one is set', async () => {
    const body = { payloads: (await ours.encode([defaultPayloadConverter.toPayload('x')])).map(asJson) };
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, TOKEN]) {
      const response = await fetch(`${server.url}/decode`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...(authorization ? { Authorization: authorization } : {}) }, body: JSON.stringify(body) });
      assert.equal(response.status, 401, String(authorization));
      assert.equal(response.headers.get('www-authenticate'), 'Bearer');
      const text = await response.text();
      assert.ok(!text.includes(TOKEN));
    }
  });

  it('refuses what it cannot decode with 400 naming the key id, never a key; bad requests get 400, 404 or 405', async () => {
    const [foreign] = await elsewhere.encode([defaultPayloadConverter.toPayload('sealed elsewhere')]);
    const unknownKey = await post('/decode', { payloads: [asJson(foreign!)] });
    assert.equal(unknownKey.status, 400);
    const { error } = (await unknownKey.json()) as { error: string };
    assert.match(error, /encrypted with key "other", which this process does not hold \(it holds "old", "current"\)/);
    for (const key of Object.values(keys)) assert.ok(!error.includes(key.toString('base64')));

    const [sealed] = await ours.encode([defaultPayloadConverter.toPayload('to tamper with')]);
    const data = Uint8Array.from(sealed!.data!);
    data[data.length - 1]! ^= 1;
    const tampered = await post('/decode', { payloads: [asJson({ ...sealed!, data })] });
    assert.equal(tampered.status, 400);
    assert.match(((await tampered.json()) as { error: string }).error, /key "current" failed authentication/);

    assert.equal((await post('/decode', '{not json')).status, 400);
    assert.equal((await post('/decode', { payload: [] })).status, 400);
    assert.equal((await post('/decode', { payloads: [{ metadata: { encoding: 'not base64!' } }] })).status, 400);
    assert.equal((await post('/status', { payloads: [] })).status, 404);
    const get = await fetch(`${server.url}/decode`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST, OPTIONS');
  });

  it('logs each request as JSON (path, namespace, status), never a payload, the token or a key', () => {
    const lines = server.output().trim().split('\n');
    const records = lines.map((line) => JSON.parse(line) as { msg: string; path?: string; namespace?: string; status?: number });
    assert.ok(records.some((record) => record.msg === 'codec request' && record.path === '/default/decode' && record.namespace === 'default' && record.status === 200));
    const everything = server.output();
    for (const secret of [TOKEN, ...Object.values(keys).map((key) => key.toString('base64'))]) assert.ok(!everything.includes(secret));
    assert.ok(!everything.includes('free text') && !everything.includes(Buffer.from('free text').toString('base64')));
  });

  it('stops on SIGTERM (exit 0)', async () => {
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
    assert.match(server.output(), /"msg":"codec server stopped"/);
  });

  it('refuses to start with a bad key, naming the variable and not the key', async () => {
    const short = randomBytes(16).toString('base64');
    await assert.rejects(startScript({ PIPELINE_ENCRYPTION_KEYS: `k1:${short}`, PIPELINE_ENCRYPTION_KEY_ID: '', PIPELINE_CODEC_PORT: String(await freePort()) }), (err: Error) => {
      assert.match(err.message, /exited \(1\)/);
      assert.match(err.message, /PIPELINE_ENCRYPTION_KEYS entry 1 \(key id "k1"\): the key is 16 bytes/);
      assert.ok(!err.message.includes(short));
      return true;
    });
    await assert.rejects(startScript({ PIPELINE_ENCRYPTION_KEYS: `k1:${keys.old.toString('base64')}`, PIPELINE_ENCRYPTION_KEY_ID: '', PIPELINE_CODEC_PORT: '99999' }), /PIPELINE_CODEC_PORT/);
    await assert.rejects(startScript({ PIPELINE_ENCRYPTION_KEYS: `k1:${keys.old.toString('base64')}`, PIPELINE_ENCRYPTION_KEY_ID: '', PIPELINE_CODEC_TOKEN: 'short' }), (err: Error) => /PIPELINE_CODEC_TOKEN: .*at least 16/.test(err.message) && !err.message.includes('"short"'));
  });
});
