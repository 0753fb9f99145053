/**
 * The payload codec on its own: AES-256-GCM round trips, a fresh IV per payload, tampering refused, key
 * rotation by key id, plain payloads passed through, the size limit checked before encryption, and the
 * keys read from the environment or the data home's generated local key without ever printing a key.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';

import { defaultPayloadConverter,type Payload } from '@temporalio/common';
import { decode, encode } from '@temporalio/common/lib/internal-non-workflow';

import { planStages } from '../activities/registry';
import { describeForUi } from '../client/pipeline-client';
import { MAX_PAYLOAD_BYTES } from '../config/constants';
import { pipelineDataConverter } from '../config/data-converter';
import { ENCRYPTED_ENCODING, KEY_ID_METADATA, PayloadDecryptionError, PayloadEncryptionCodec, PayloadKeyring } from '../config/payload-encryption';
import { loadOrCreateLocalKeyring, localKeyFile } from '../config/payload-keys';
import { parsePipelineConfig } from '../config/pipeline-config';
import { readSettings } from '../config/settings';
import { isPlainUiText } from '../config/ui-text';
import { temporaryFolder, testServers } from './helpers/environment';

const text = (bytes: Uint8Array | null | undefined): string => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');
const key = (): Buffer => randomBytes(32);

function keyring(ids: string[], active = ids[ids.length - 1]!, keys: Record<string, Buffer> = {}): PayloadKeyring {
  return new PayloadKeyring(
    ids.map((id) => ({ id, key: (keys[id] ??= key()) })),
    active,
  );
}

const SECRET = 'tok_live_9f8e7d6c5b4a39281706';
const runInput = { runId: '20261122T000709.080Z-e8d73bd', config: { pipelineName: 'weekly', description: `paste: ${SECRET}`, dataRoot: 'weekly' } };

describe('payload encryption codec', () => {
  it('round-trips every kind of payload, and what it stores holds none of the plain bytes', async () => {
    const codec = new PayloadEncryptionCodec(keyring(['k1']));
    const payloads: Payload[] = [
      defaultPayloadConverter.toPayload(runInput),
      defaultPayloadConverter.toPayload(`free text ${SECRET}`),
      defaultPayloadConverter.toPayload(new Uint8Array([0, 1, 2, 255])),
      defaultPayloadConverter.toPayload(undefined),
      defaultPayloadConverter.toPayload(''),
    ];
    const encoded = await codec.encode(payloads);
    for (const payload of encoded) {
      assert.equal(text(payload.metadata?.encoding), ENCRYPTED_ENCODING);
      assert.equal(text(payload.metadata?.[KEY_ID_METADATA]), 'k1');
      assert.deepEqual(Object.keys(payload.metadata ?? {}).sort(), ['encoding', KEY_ID_METADATA].sort(), 'nothing else of the plain payload is left in clear');
      assert.ok(!text(payload.data).includes(SECRET));
      assert.ok(!text(payload.data).includes('json/plain'), 'the plain encoding is sealed too');
    }
    const decoded = await codec.decode(encoded);
    assert.deepEqual(
      decoded.map((payload) => defaultPayloadConverter.fromPayload(payload)),
      [runInput, `free text ${SECRET}`, new Uint8Array([0, 1, 2, 255]), undefined, ''],
    );
    assert.deepEqual(decoded.map((payload) => text(payload.metadata?.encoding)), payloads.map((payload) => text(payload.metadata?.encoding)));
  });

  it('uses a fresh random 12-byte IV for every payload: the same payload never encrypts the same way twice', async () => {
    const codec = new PayloadEncryptionCodec(keyring(['k1']));
    const payload = defaultPayloadConverter.toPayload(runInput);
    const sealed = await codec.encode(Array.from({ length: 200 }, () => payload));
    const ivs = new Set(sealed.map((one) => Buffer.from(one.data!.subarray(0, 12)).toString('hex')));
    const ciphertexts = new Set(sealed.map((one) => Buffer.from(one.data!).toString('hex')));
    assert.equal(ivs.size, 200);
    assert.equal(ciphertexts.size, 200);
    // iv (12) + ciphertext (as long as the sealed protobuf) + tag (16).
    assert.ok(sealed.every((one) => one.data!.byteLength > 28 + payload.data!.byteLength));
  });

  it('refuses a payload whose IV, ciphertext or tag was altered, or that was relabelled with another key id (GCM authentication)', async () => {
    const ring = keyring(['k1', 'k2'], 'k1');
    const codec = new PayloadEncryptionCodec(ring);
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(runInput)]);
    const length = sealed!.data!.byteLength;
    for (const index of [0, 11, 12, Math.floor(length / 2), length - 17, length - 1]) {
      const data = Uint8Array.from(sealed!.data!);
      data[index]! ^= 0x01;
      await assert.rejects(codec.decode([{ ...sealed!, data }]), (err: Error) => err instanceof PayloadDecryptionError && /key "k1" failed authentication/.test(err.message), `byte ${index}`);
    }
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } };
    await assert.rejects(codec.decode([relabelled]), /key "k2" failed authentication/);
    await assert.rejects(codec.decode([{ ...sealed!, data: sealed!.data!.subarray(0, 20) }]), /truncated/);
    const withoutKeyId = { metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING) }, data: sealed!.data! };
    await assert.rejects(codec.decode([withoutKeyId]), /no encryption-key-id/);
  });

  it('rotates by key id: payloads sealed under an older key still open after a new key becomes active; an unknown key id is named, never a key', async () => {
    const keys = { old: key(), new: key() };
    const before = new PayloadEncryptionCodec(keyring(['old'], 'old', keys));
    const after = new PayloadEncryptionCodec(keyring(['old', 'new'], 'new', keys));
    const [fromBefore] = await before.encode([defaultPayloadConverter.toPayload(runInput)]);
    const [fromAfter] = await after.encode([defaultPayloadConverter.toPayload(runInput)]);
    assert.equal(text(fromBefore!.metadata?.[KEY_ID_METADATA]), 'old');
    assert.equal(text(fromAfter!.metadata?.[KEY_ID_METADATA]), 'new', 'new payloads use the active key');
    assert.deepEqual((await after.decode([fromBefore!, fromAfter!])).map((payload) => defaultPayloadConverter.fromPayload(payload)), [runInput, runInput]);

    // A process that was not given the new key.
    const error = await before.decode([fromAfter!]).then(
      () => assert.fail('decoded without the key'),
      (err: unknown) => err as Error,
    );
    assert.ok(error instanceof PayloadDecryptionError);
    assert.match(error.message, /encrypted with key "new", which this process does not hold \(it holds "old"\): add that key to PIPELINE_ENCRYPTION_KEYS/);
    for (const secret of Object.values(keys)) {
      for (const form of [secret.toString('base64'), secret.toString('hex'), secret.toString('base64url')]) assert.ok(!error.message.includes(form));
    }
  });

  it('passes through decoding the payloads of histories recorded before encryption', async () => {
    const codec = new PayloadEncryptionCodec(keyring(['k1']));
    const plain = [defaultPayloadConverter.toPayload(runInput), defaultPayloadConverter.toPayload('anything'), defaultPayloadConverter.toPayload(null)];
    assert.deepEqual(await codec.decode(plain), plain);
  });

  it('keeps a keyring\'s keys out of logs, JSON and errors', () => {
    const secret = key();
    const ring = new PayloadKeyring([{ id: 'k1', key: secret }], 'k1');
    for (const shown of [JSON.stringify(ring), inspect(ring), String(ring), JSON.stringify({ settings: { ring } })]) {
      assert.ok(!shown.includes(secret.toString('base64')) && !shown.includes(secret.toString('hex')), shown);
    }
    assert.match(inspect(ring), /active: k1/);
    assert.throws(() => new PayloadKeyring([{ id: 'k1', key: secret.subarray(0, 16) }], 'k1'), /16 bytes, AES-256 needs 32/);
    assert.throws(() => new PayloadKeyring([{ id: 'k1', key: secret }], 'k2'), /active encryption key "k2" is not among the keys \(k1\)/);
  });
});

describe('summaries and details: plain, and free of config free text', () => {
  const config = parsePipelineConfig({
    pipelineName: 'weekly-survey',
    description: `Token for the pipeline: ${SECRET}`,
    dataRoot: 'surveys/weekly',
    stages: [{ stage: 'backup-data-root' }, { stage: 'upload-logs', destination: 'gs://avf-logs/weekly/' }],
  });

  it('builds the run summary and details from names, stages and ids only; the codec leaves them plain', async () => {
    const codec = new PayloadEncryptionCodec(keyring(['k1']));
    for (const input of [
      { runId: '20261122T000709.080Z-e8d73bd', config, overwrite: false },
      { runId: '20261122T000709.080Z-e8d73bd', config, overwrite: true, resume: { fromRunId: '20261121T101010.000Z-0abc123', fromStage: 'upload-logs' as const } },
    ]) {
      const { staticSummary, staticDetails } = describeForUi(input);
      for (const shown of [staticSummary, staticDetails]) {
        assert.ok(!shown.includes(SECRET) && !shown.includes('Token for'), shown);
        assert.ok(isPlainUiText(shown), shown);
        const [stored] = await codec.encode([defaultPayloadConverter.toPayload(shown)]);
        assert.equal(text(stored!.metadata?.encoding), 'json/plain', shown);
      }
      assert.match(staticDetails, /\*\*Data root:\*\* surveys\/weekly/);
    }
    for (const plan of planStages(config.pipelineName, config.stages)) assert.ok(isPlainUiText(plan.summary), plan.summary);
  });

  it('encrypts any other string, even one that starts like a summary', async () => {
    const codec = new PayloadEncryptionCodec(keyring(['k1']));
    const others = [
      `Pipeline weekly, run 1: backup-data-root ${SECRET}`,
      `**Pipeline:** weekly\n**Description:** ${SECRET}`,
      `**Data root:** my secret folder`,
      'save the run manifest ',
      SECRET,
      'Pipeline weekly, run 1: backup-data-root\nmore',
    ];
    for (const other of others) {
      assert.equal(isPlainUiText(other), false, other);
      const [stored] = await codec.encode([defaultPayloadConverter.toPayload(other)]);
      assert.equal(text(stored!.metadata?.encoding), ENCRYPTED_ENCODING, other);
    }
    // A summary-shaped string inside an object (an input, a result) is encrypted with the object.
    const [object] = await codec.encode([defaultPayloadConverter.toPayload({ summary: 'save the run manifest' })]);
    assert.equal(text(object!.metadata?.encoding), ENCRYPTED_ENCODING);
  });
});

describe('the data converter of the worker and the clients', () => {
  it('checks the size limit on the plain payload, before encryption, and decodes in reverse order', async () => {
    const { payloadCodecs = [] } = pipelineDataConverter(keyring(['k1']));
    const big = defaultPayloadConverter.toPayload('x'.repeat(MAX_PAYLOAD_BYTES + 1));
    await assert.rejects(encode(payloadCodecs, [big]), /exceeds the 262144-byte limit: pass a reference, not data/);
    const [sealed] = await encode(payloadCodecs, [defaultPayloadConverter.toPayload(runInput)]);
    assert.equal(text(sealed!.metadata?.encoding), ENCRYPTED_ENCODING);
    const [opened] = await decode(payloadCodecs, [sealed!]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened!), runInput);
  });
});

describe('encryption keys from the environment', () => {
  const first = key();
  const second = key();
  const keysText = `2026-01:${first.toString('base64')}, 2026-07:${second.toString('base64')}`;

  it('loads several keys, the active one named by PIPELINE_ENCRYPTION_KEY_ID', () => {
    const settings = readSettings({ PIPELINE_ENCRYPTION_KEYS: keysText, PIPELINE_ENCRYPTION_KEY_ID: '2026-07' });
    assert.equal(settings.encryption.source, 'environment');
    if (settings.encryption.source !== 'environment') return;
    assert.deepEqual(settings.encryption.keyring.keyIds, ['2026-01', '2026-07']);
    assert.equal(settings.encryption.keyring.activeKeyId, '2026-07');
    const single = readSettings({ PIPELINE_ENCRYPTION_KEYS: `only:${first.toString('base64url')}` });
    assert.equal(single.encryption.source === 'environment' && single.encryption.keyring.activeKeyId, 'only', 'one key (base64url too) is the active one');
    assert.ok(!JSON.stringify(settings).includes(first.toString('base64')), 'settings print no key');
  });

  it('refuses bad keys naming the variable and the entry, never printing a key', () => {
    const shortKey = randomBytes(16).toString('base64');
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ PIPELINE_ENCRYPTION_KEYS: `k1:${shortKey}` }, /PIPELINE_ENCRYPTION_KEYS entry 1 \(key id "k1"\): the key is 16 bytes; AES-256 needs 32/],
      [{ PIPELINE_ENCRYPTION_KEYS: `k1:%%${first.toString('hex')}` }, /PIPELINE_ENCRYPTION_KEYS entry 1 \(key id "k1"\): the key is not base64/],
      [{ PIPELINE_ENCRYPTION_KEYS: first.toString('base64') }, /PIPELINE_ENCRYPTION_KEYS entry 1: expected "<key id>:<base64 key>"/],
      [{ PIPELINE_ENCRYPTION_KEYS: `${first.toString('base64')}:k1` }, /PIPELINE_ENCRYPTION_KEYS entry 1: the key id \(before ":"\) must be letters/],
      [{ PIPELINE_ENCRYPTION_KEYS: `a:${first.toString('base64')},a:${second.toString('base64')}`, PIPELINE_ENCRYPTION_KEY_ID: 'a' }, /entry 2: key id "a" is listed twice/],
      [{ PIPELINE_ENCRYPTION_KEYS: keysText }, /PIPELINE_ENCRYPTION_KEY_ID: required when PIPELINE_ENCRYPTION_KEYS holds more than one key \(its key ids: 2026-01, 2026-07\)/],
      [{ PIPELINE_ENCRYPTION_KEYS: keysText, PIPELINE_ENCRYPTION_KEY_ID: '2027-01' }, /PIPELINE_ENCRYPTION_KEY_ID: names none of the keys of PIPELINE_ENCRYPTION_KEYS \(its key ids: 2026-01, 2026-07\)/],
      [{ PIPELINE_ENCRYPTION_KEY_ID: '2026-07' }, /PIPELINE_ENCRYPTION_KEY_ID: set without PIPELINE_ENCRYPTION_KEYS/],
    ];
    for (const [env, expected] of cases) {
      const error = (() => {
        try {
          readSettings(env);
        } catch (err) {
          return err as Error;
        }
        return assert.fail(`accepted ${Object.keys(env).join(', ')}`);
      })();
      assert.match(error.message, expected);
      for (const secret of [first, second]) assert.ok(!error.message.includes(secret.toString('base64')), error.message);
      assert.ok(!error.message.includes(shortKey), error.message);
    }
  });

  it('without keys configured, generates the data home\'s local key once (mode 0600) and every process reads the same', async () => {
    const dataHome = await temporaryFolder('local-key-home');
    const settings = readSettings({ PIPELINE_DATA_HOME: dataHome });
    assert.deepEqual(settings.encryption, { source: 'local-key-file', file: localKeyFile(dataHome) });
    await assert.rejects(stat(localKeyFile(dataHome)), /ENOENT/, 'reading settings writes nothing');

    // Several processes starting at once (a worker, the CLI, the codec server) agree on one key.
    const script = `const { loadOrCreateLocalKeyring } = require(${JSON.stringify(join(__dirname, '..', 'config', 'payload-keys.ts'))}); const { keyring, created } = loadOrCreateLocalKeyring(process.argv[1]); console.log(JSON.stringify({ id: keyring.activeKeyId, created }));`;
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, () =>
        new Promise<{ id: string; created: boolean }>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', '-e', script, localKeyFile(dataHome)], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { id: string; created: boolean }) : reject(new Error(`exit ${code}`))));
        }),
      ),
    );
    assert.equal(new Set(outcomes.map((outcome) => outcome.id)).size, 1, JSON.stringify(outcomes));
    assert.equal(outcomes.filter((outcome) => outcome.created).length, 1, 'one process generated it');
    const mode = (await stat(localKeyFile(dataHome))).mode & 0o777;
    assert.equal(mode, 0o600);
    assert.match(await readFile(localKeyFile(dataHome), 'utf8'), /^local-[0-9a-f]{8}:[A-Za-z0-9+/]{43}=\n$/);
    const again = loadOrCreateLocalKeyring(localKeyFile(dataHome));
    assert.deepEqual([again.keyring.activeKeyId, again.created], [outcomes[0]!.id, false]);

    await chmod(localKeyFile(dataHome), 0o644);
    assert.throws(() => loadOrCreateLocalKeyring(localKeyFile(dataHome)), /can be read by other users: `chmod 600/);
    await chmod(localKeyFile(dataHome), 0o600);
    await writeFile(localKeyFile(dataHome), 'garbage\n', { mode: 0o600 });
    assert.throws(() => loadOrCreateLocalKeyring(localKeyFile(dataHome)), /payload-encryption\.key entry 1: expected "<key id>:<base64 key>"/);
  });

  it('npm run worker with nothing configured generates the local key, logs its id (never the key) and serves with it', async () => {
    const dataHome = await temporaryFolder('worker-key-home');
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'worker', 'main.ts')], {
      env: { ...process.env, PIPELINE_ENCRYPTION_KEYS: '', PIPELINE_ENCRYPTION_KEY_ID: '', TEMPORAL_ADDRESS: testServers.temporalAddress, PIPELINE_TASK_QUEUE: `key-${Date.now()}`, PIPELINE_DATA_HOME: dataHome, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the worker did not start:\n${output}`)), 60_000);
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('"msg":"worker started"')) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then(() => reject(new Error(`the worker exited early:\n${output}`)));
      });
      const file = localKeyFile(dataHome);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const [keyId, keyText] = (await readFile(file, 'utf8')).trim().split(':');
      const started = output.split('\n').map((line) => JSON.parse(line || '{}') as { msg?: string; payloadEncryption?: { keys: string; activeKeyId: string } }).find((line) => line.msg === 'worker started');
      assert.deepEqual(started?.payloadEncryption, { keys: file, activeKeyId: keyId });
      assert.ok(!output.includes(keyText!), 'the key is never logged');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    }
  });
});
