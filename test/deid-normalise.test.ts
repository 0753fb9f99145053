import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';

import pino from 'pino';

import { LocalUuidTable } from '../activities/deid/local-uuid-table';
import {
  Deidentifier,
  InvalidIdentifierError,
  normaliseFacebookId,
  normalisePhoneNumber,
  toTelUrn,
  type UuidTable,
} from '../activities/deid/uuid-table';
import { BadInputError } from '../activities/errors';
import { temporaryFolder } from './helpers/environment';

describe('phone number normalisation', () => {
  it('gives E.164 whatever the punctuation, tel: prefix or 00 prefix', () => {
    for (const raw of ['+254712345678', '+254 712 345 678', '+254-712-345-678', '+254 (712) 345.678', 'tel:+254712345678', 'TEL:+254712345678', '00254712345678', ' 00 254 712 345 678 ', '+254\u00a0712345678']) {
      assert.equal(normalisePhoneNumber(raw), '+254712345678', raw);
    }
  });

  it('completes national numbers with the default country calling code, dropping the trunk 0', () => {
    assert.equal(normalisePhoneNumber('0712 345 678', '254'), '+254712345678');
    assert.equal(normalisePhoneNumber('712345678', '+254'), '+254712345678');
    assert.equal(normalisePhoneNumber('(061) 234-5678', '252'), '+252612345678');
    // An international number ignores the default.
    assert.equal(normalisePhoneNumber('+252612345678', '254'), '+252612345678');
    assert.throws(() => normalisePhoneNumber('0712345678', 'KE'), BadInputError);
  });

  it('refuses what cannot be a phone number, naming the reason but never the number', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['   ', /empty/],
      ['tel:', /empty/],
      ['+2547123abc', /letters/],
      ['+254*712345678', /characters other than digits/],
      ['254+712345678', /characters other than digits/],
      ['0712345678', /no country code/],
      ['+0712345678', /country code starts with 0/],
      ['+12345', /too short/],
      ['+1234567890123456', /too long/],
      ['0001234567890', /country code starts with 0/],
    ];
    for (const [raw, reason] of cases) {
      assert.throws(
        () => normalisePhoneNumber(raw),
        (err: unknown) => {
          assert.ok(err instanceof InvalidIdentifierError, raw);
          assert.ok(err instanceof BadInputError, 'bad input: never retried');
          assert.match(err.message, reason, raw);
          const digits = raw.replace(/\D/g, '');
          if (digits.length >= 4) assert.ok(!err.message.includes(digits.slice(-4)), `the message must not carry the number: ${err.message}`);
          return true;
        },
      );
    }
  });

  it('makes tel URNs from E.164 numbers and reads them back', () => {
    assert.equal(toTelUrn('+254712345678'), 'tel:+254712345678');
    assert.equal(normalisePhoneNumber(toTelUrn('+254712345678')), '+254712345678');
    for (const bad of ['254712345678', '+0712345678', 'tel:+254712345678', '+254 712']) assert.throws(() => toTelUrn(bad), InvalidIdentifierError);
  });
});

describe('Facebook id normalisation', () => {
  it('gives facebook:<digits> from the bare id or the URN, idempotently', () => {
    assert.equal(normaliseFacebookId('1234567890123456'), 'facebook:1234567890123456');
    assert.equal(normaliseFacebookId(' facebook:1234567890123456 '), 'facebook:1234567890123456');
    assert.equal(normaliseFacebookId(normaliseFacebookId('42')), 'facebook:42');
  });

  it('refuses ids that are not app-scoped numeric ids, without echoing them', () => {
    for (const raw of ['', 'facebook:', 'abc123', 'facebook:12 34', '1'.repeat(33)]) {
      assert.throws(() => normaliseFacebookId(raw), (err: unknown) => err instanceof InvalidIdentifierError && (raw.length < 4 || !err.message.includes(raw)));
    }
  });
});

/** A real table that counts the calls made to it. */
function counted(table: UuidTable): UuidTable & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    dataToUuids: (ids) => {
      calls.push([...ids]);
      return table.dataToUuids(ids);
    },
    uuidsToData: (uuids) => table.uuidsToData(uuids),
  };
}

describe('Deidentifier', () => {
  async function localTable(): Promise<LocalUuidTable> {
    return new LocalUuidTable({ file: join(await temporaryFolder('deidentifier'), 'table.sqlite'), uuidPrefix: 'avf-phone-uuid-' });
  }

  it('returns uuids in input order, asks the table once per distinct id and caches them', async () => {
    const local = await localTable();
    const table = counted(local);
    const deid = new Deidentifier(table);
    const first = await deid.deidentify(['+254700000001', '+254700000002', '+254700000001']);
    assert.equal(first[0], first[2]);
    assert.notEqual(first[0], first[1]);
    assert.deepEqual(table.calls, [['+254700000001', '+254700000002']]);
    const second = await deid.deidentify(['+254700000002', '+254700000003']);
    assert.equal(second[0], first[1]);
    assert.deepEqual(table.calls[1], ['+254700000003']);
    assert.deepEqual(deid.getStats(), { hits: 2, misses: 3, tableCalls: 2 });
    // A new Deidentifier (another activity) gets the same uuids from the table.
    assert.deepEqual(await new Deidentifier(local).deidentify(['+254700000001', '+254700000003']), [first[0], second[1]]);
    local.close();
  });

  it('splits look-ups into chunks and shares in-flight look-ups between concurrent calls', async () => {
    const local = await localTable();
    const table = counted(local);
    const deid = new Deidentifier(table, { chunkSize: 2 });
    const ids = ['+254700000001', '+254700000002', '+254700000003', '+254700000004', '+254700000005'];
    const [a, b] = await Promise.all([deid.deidentify(ids), deid.deidentify(ids.slice(1, 3))]);
    assert.deepEqual(table.calls, [ids.slice(0, 2), ids.slice(2, 4), ids.slice(4)]);
    assert.deepEqual(b, a.slice(1, 3));
    assert.equal(await deid.deidentifyOne(ids[4]!), a[4]);
    local.close();
  });

  it('logs counts, never ids', async () => {
    const local = await localTable();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) }));
    const deid = new Deidentifier(local);
    await deid.deidentify(['+254711223344', '+254711223344']);
    deid.logStats(logger);
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as { deid: unknown };
    assert.deepEqual(line.deid, { hits: 1, misses: 1, tableCalls: 1 });
    assert.ok(!lines[0]!.includes('711223344'));
    local.close();
  });

  it('fails when the table cannot answer, and a later call can still succeed', async () => {
    let fail = true;
    const local = await localTable();
    const flaky: UuidTable = {
      dataToUuids: async (ids) => {
        if (fail) throw new Error('table unavailable');
        return local.dataToUuids(ids);
      },
      uuidsToData: (uuids) => local.uuidsToData(uuids),
    };
    const deid = new Deidentifier(flaky);
    await assert.rejects(deid.deidentify(['+254700000009']), /table unavailable/);
    fail = false;
    assert.match((await deid.deidentify(['+254700000009']))[0]!, /^avf-phone-uuid-/);
    local.close();
  });
});
