/** Both UUID table backends against the same contract; Firestore runs on the emulator `npm test` starts. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Firestore } from '@google-cloud/firestore';

import { decodeDocumentId, encodeDocumentId, FirestoreTableError, FirestoreUuidTable, withoutIdentifiers } from '../activities/deid/firestore-uuid-table';
import { LocalUuidTable, localUuidTablePath } from '../activities/deid/local-uuid-table';
import { openUuidTable } from '../activities/deid/open-uuid-table';
import { type UuidTable, uuidTableConfigSchema } from '../activities/deid/uuid-table';
import { BadInputError } from '../activities/errors';
import { uuidLookup } from '../client/uuid-lookup';
import { startFirestoreEmulator } from '../scripts/lib/servers';
import { temporaryFolder, testServers } from './helpers/environment';
import { clearEmulatorProject, emulatorFirestore, uniqueName } from './helpers/firestore';

const PREFIX = 'avf-phone-uuid-';
const UUID4 = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
const numbers = (count: number, from = 0): string[] => Array.from({ length: count }, (_, i) => `+2526${String(from + i).padStart(8, '0')}`);

interface Backend {
  /** A new instance on table `name` (the same name gives the same table). */
  open(name: string, prefix?: string): Promise<UuidTable>;
}

function contract(label: string, backend: () => Backend): void {
  describe(`UUID table contract: ${label}`, () => {
    it('gives the same uuid for the same id across calls and instances, with the prefix', async () => {
      const name = uniqueName('same');
      const first = await backend().open(name);
      const ids = ['+252612345678', 'facebook:1234567890', '+252612345679'];
      const a = await first.dataToUuids([...ids, ids[0]!]);
      assert.deepEqual([...a.keys()].sort(), [...ids].sort());
      for (const uuid of a.values()) assert.match(uuid, new RegExp(`^${PREFIX}${UUID4}$`));
      assert.equal(new Set(a.values()).size, 3);
      assert.deepEqual(await first.dataToUuids(ids.slice(0, 2)), new Map(ids.slice(0, 2).map((id) => [id, a.get(id)!])));
      const second = await backend().open(name);
      assert.deepEqual(await second.dataToUuids(ids), a);
      const otherTable = await backend().open(uniqueName('other'));
      assert.notEqual((await otherTable.dataToUuids([ids[0]!])).get(ids[0]!), a.get(ids[0]!), 'another table gives another uuid');
    });

    it('looks uuids up in reverse; unknown uuids are absent', async () => {
      const table = await backend().open(uniqueName('reverse'));
      const forward = await table.dataToUuids(['+252612345678', 'facebook:42']);
      const reverse = await table.uuidsToData([...forward.values(), `${PREFIX}00000000-0000-4000-8000-000000000000`, '']);
      assert.deepEqual(reverse, new Map([...forward].map(([id, uuid]) => [uuid, id])));
      assert.deepEqual(await table.uuidsToData([]), new Map());
      assert.deepEqual(await table.dataToUuids([]), new Map());
    });

    it('handles more ids than one read chunk (300) and more uuids than one in-query (30)', async () => {
      const name = uniqueName('chunks');
      const table = await backend().open(name);
      const ids = numbers(700);
      const half = await table.dataToUuids(ids.slice(0, 350));
      const all = await table.dataToUuids(ids);
      assert.equal(all.size, 700);
      assert.equal(new Set(all.values()).size, 700);
      for (const [id, uuid] of half) assert.equal(all.get(id), uuid);
      const sample = ids.filter((_, i) => i % 7 === 0); // 100 uuids: four in-queries
      const reverse = await table.uuidsToData(sample.map((id) => all.get(id)!));
      assert.deepEqual(reverse, new Map(sample.map((id) => [all.get(id)!, id])));
    });

    it('keeps ids that are awkward as document ids or file names apart and returns them as they were', async () => {
      const table = await backend().open(uniqueName('awkward'));
      const ids = ['a/b', '.', '..', '__name__', '%2F', '%', 'ünï', 'x y', '+252 6', 'a%2Fb', 'a_b', 'a.b'];
      const uuids = await table.dataToUuids(ids);
      assert.equal(new Set(uuids.values()).size, ids.length);
      assert.deepEqual(await table.uuidsToData([...uuids.values()]), new Map([...uuids].map(([id, uuid]) => [uuid, id])));
    });

    it('refuses empty ids and a prefix other than the one the table was created with', async () => {
      const name = uniqueName('prefix');
      const table = await backend().open(name);
      await assert.rejects(table.dataToUuids(['']), BadInputError);
      await table.dataToUuids(['+252612345678']);
      await assert.rejects((async () => (await backend().open(name, 'other-prefix-')).dataToUuids(['+252612345678']))(), BadInputError);
    });

    it('uuid-lookup prints uuid<TAB>id for known uuids and returns the unknown ones', async () => {
      const table = await backend().open(uniqueName('lookup'));
      const uuids = await table.dataToUuids(['+252612345678', 'facebook:42']);
      const lines: string[] = [];
      const unknownUuid = `${PREFIX}00000000-0000-4000-8000-000000000000`;
      const result = await uuidLookup(table, [uuids.get('facebook:42')!, unknownUuid, uuids.get('+252612345678')!], (line) => lines.push(line));
      assert.deepEqual(lines, [`${uuids.get('facebook:42')}\tfacebook:42`, `${uuids.get('+252612345678')}\t+252612345678`]);
      assert.deepEqual(result, { found: 2, unknown: [unknownUuid] });
      await assert.rejects(uuidLookup(table, [' '], () => undefined), BadInputError);
    });
  });
}

const localTables: LocalUuidTable[] = [];
let localHome: string;
before(async () => {
  localHome = await temporaryFolder('deid-local');
});
after(() => localTables.forEach((table) => table.close()));

contract('local (SQLite)', () => ({
  async open(name, prefix = PREFIX) {
    const table = new LocalUuidTable({ file: localUuidTablePath(localHome, name), uuidPrefix: prefix });
    localTables.push(table);
    return table;
  },
}));

const projectId = uniqueName('deid-tables');
const clients: Firestore[] = [];
after(async () => {
  await Promise.all(clients.map((client) => client.terminate()));
  await clearEmulatorProject(projectId);
});

contract('Firestore (emulator)', () => ({
  async open(name, prefix = PREFIX) {
    const firestore = emulatorFirestore(projectId);
    clients.push(firestore);
    return new FirestoreUuidTable({ firestore, table: name, uuidPrefix: prefix });
  },
}));

describe('Firestore layout', () => {
  it('encodes document ids reversibly, keeping E.164 numbers and facebook ids readable', () => {
    assert.equal(encodeDocumentId('+252612345678'), '+252612345678');
    assert.equal(encodeDocumentId('facebook:42'), 'facebook:42');
    assert.equal(encodeDocumentId('a/b'), 'a%2Fb');
    assert.equal(encodeDocumentId('..'), '%2E%2E');
    assert.equal(encodeDocumentId('__x__'), '%5F%5Fx%5F%5F');
    for (const id of ['a/b', '..', '__x__', '%', 'ünï', '+252 6']) {
      assert.doesNotMatch(encodeDocumentId(id), /[/._ ]/);
      assert.equal(decodeDocumentId(encodeDocumentId(id)), id);
    }
    assert.equal(decodeDocumentId('100%'), '100%', 'an id an earlier pipeline stored unencoded');
  });

  it('stores tables/{table}/mappings/{id} → { uuid, id } and reads mappings written by earlier pipelines ({ uuid } only)', async () => {
    const firestore = emulatorFirestore(projectId);
    clients.push(firestore);
    const name = uniqueName('layout');
    const mappings = firestore.collection('tables').doc(name).collection('mappings');
    await mappings.doc('+252600000001').set({ uuid: `${PREFIX}legacy-1` });
    const table = new FirestoreUuidTable({ firestore, table: name, uuidPrefix: PREFIX });
    const uuids = await table.dataToUuids(['+252600000001', '+252600000002']);
    assert.equal(uuids.get('+252600000001'), `${PREFIX}legacy-1`);
    assert.deepEqual((await mappings.doc('+252600000002').get()).data(), { uuid: uuids.get('+252600000002'), id: '+252600000002' });
    assert.deepEqual((await firestore.collection('tables').doc(name).get()).data(), { uuidPrefix: PREFIX });
    assert.deepEqual(await table.uuidsToData([`${PREFIX}legacy-1`]), new Map([[`${PREFIX}legacy-1`, '+252600000001']]));
  });
});

describe('Firestore errors', () => {
  it('reach callers without the document ids Firestore puts in its messages, keeping the gRPC code', async () => {
    const firestore = emulatorFirestore(projectId);
    clients.push(firestore);
    const ref = firestore.collection('tables').doc(uniqueName('errors')).collection('mappings').doc('+252611223344');
    await ref.set({ uuid: `${PREFIX}x` });
    const raw = await firestore.batch().create(ref, { uuid: `${PREFIX}y` }).commit().then(
      () => assert.fail('creating an existing document must fail'),
      (err: unknown) => err as Error,
    );
    assert.match(raw.message, /611223344/, 'the emulator names the document, as Firestore does');
    const clean = withoutIdentifiers(raw);
    assert.ok(clean instanceof FirestoreTableError);
    assert.equal((clean as FirestoreTableError).code, 6);
    assert.doesNotMatch(clean.message, /611223344/);
    assert.equal(clean.cause, undefined);
    assert.match(clean.message, /\/mappings\/\[id\]/);
  });
});

describe('Firestore emulator start-up', () => {
  it('fails loudly, saying what to install, when the emulator is missing', async () => {
    const folder = await temporaryFolder('deid-emulator');
    await assert.rejects(startFirestoreEmulator({ logFile: join(folder, 'firestore.log'), jar: join(folder, 'missing.jar') }), /not installed .*gcloud components install cloud-firestore-emulator/);
  });
});

describe('openUuidTable', () => {
  it('opens the local table under <data home>/.uuid-tables/ and the Firestore table from FIRESTORE_EMULATOR_HOST', async () => {
    const dataHome = await temporaryFolder('deid-open');
    // The config schema's output is what openUuidTable takes; the backend defaults to local.
    const local = await openUuidTable(uuidTableConfigSchema.parse({ table: 'survey', uuidPrefix: PREFIX }), { dataHome });
    const localUuids = await local.table.dataToUuids(['+252612345678']);
    await local.close();
    assert.ok(existsSync(join(dataHome, '.uuid-tables', 'survey.sqlite')));

    const name = uniqueName('open');
    const remote = await openUuidTable(
      { backend: 'firestore', table: name, uuidPrefix: PREFIX, projectId, credentialsFileUrl: 'gs://never-read/key.json' },
      { dataHome, env: { FIRESTORE_EMULATOR_HOST: testServers.firestoreEmulatorHost } },
    );
    const remoteUuids = await remote.table.dataToUuids(['+252612345678']);
    assert.notEqual(remoteUuids.get('+252612345678'), localUuids.get('+252612345678'));
    await remote.close();
    const firestore = emulatorFirestore(projectId);
    clients.push(firestore);
    assert.equal((await firestore.collection('tables').doc(name).collection('mappings').doc('+252612345678').get()).get('uuid'), remoteUuids.get('+252612345678'));

    await assert.rejects(openUuidTable({ backend: 'local', table: '../escape', uuidPrefix: PREFIX }, { dataHome }), BadInputError);
    await assert.rejects(openUuidTable({ backend: 'firestore', table: 't', uuidPrefix: PREFIX }, { dataHome }), BadInputError);
    const problems = uuidTableConfigSchema.safeParse({ backend: 'firestore', table: 'a/b', uuidPrefix: 'x y', credentialsFileUrl: 's3://k' });
    assert.deepEqual(problems.error?.issues.map((issue) => issue.path.join('.')).sort(), ['credentialsFileUrl', 'projectId', 'table', 'uuidPrefix']);
    assert.deepEqual(uuidTableConfigSchema.safeParse({ backend: 'firestore', table: 't', uuidPrefix: PREFIX }).error?.issues.map((issue) => issue.path.join('.')), ['projectId']);
  });
});
