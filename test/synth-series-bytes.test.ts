/**
 * Series periods are byte-for-byte what they were before returning rows were assembled as bytes: the
 * sha256 of every file a period writes, for fixed specs and seeds, recorded from the string-based
 * implementation (main at 04831bf) and asserted here. The specs cover returning entities, date shifts
 * (days, weeks, calendar months; plain, datetime and strftime dates), static columns whose cells need
 * quoting (delimiters, quotes, tabs, newlines, non-ASCII, missing), several id columns, foreign keys,
 * blanked derived columns (directly and through another derived column), CSV and TSV, a one-column
 * table, tables spanning several blocks and slices, a column with a total and a rescaled one (their
 * rounding depends on the row number; recorded from main at 80c3d1f), and a series with no returning
 * entities.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

import { type Delimiter, escapeCell } from '../activities/storage/csv-cells';
import { readCsvRecords } from '../activities/storage/csv-reader';
import { ByteWriter } from '../activities/synth/byte-writer';
import { BLOCK_ROWS } from '../activities/synth/generate';
import { KeptCells, SegmentReader } from '../activities/synth/period-rows';
import { generateSeriesPeriod, planSeries, type SeriesOptions } from '../activities/synth/series';
import { parseSynthSpec } from '../activities/synth/spec';
import { temporaryFolder } from './helpers/environment';
import { CLINIC_SPEC } from './helpers/synth';

const CLINIC = CLINIC_SPEC;

const TRICKY = parseSynthSpec({
  name: 'tricky',
  seed: 4242,
  tables: [
    {
      name: 'people',
      rows: 5000,
      columns: [
        { name: 'score', type: 'numeric', distribution: 'normal', mean: 50, sd: 12, min: 0, max: 100, precision: 2, weights: { label: { plain: 0.2, 'a,b': 0.1 } } },
        { name: 'person_id', type: 'id', format: { kind: 'uuid', prefix: 'p,"x' }, primaryKey: true },
        { name: 'label', type: 'categorical', values: { 'a,b': 0.25, 'say "hi"': 0.15, 'tab\there': 0.1, 'line\nbreak': 0.1, 'café ☕': 0.2, plain: 0.2 }, missing: 0.1 },
        { name: 'code', type: 'id', format: { kind: 'digits', minLength: 6, maxLength: 8 }, missing: 0.05 },
        { name: 'village', type: 'foreign-key', references: 'villages.village_id', missing: 0.1 },
        { name: 'note', type: 'text', alphabet: 'ab,"é\t ', minLength: 0, maxLength: 6, missing: 0.1 },
        { name: 'joined', type: 'date', from: '2024-01-01T00:00:00', to: '2024-03-01T00:00:00', datetime: true, missing: 0.05 },
        { name: 'first_seen', type: 'date', from: '2024-02-01', to: '2024-04-30', format: '%d/%m/%Y, %a' },
        { name: 'visit_week', type: 'date', from: '2024-01-01', to: '2024-06-30', frequency: 'W' },
        { name: 'household', type: 'grouped-id', format: { kind: 'letters', minLength: 3, maxLength: 3, alphabet: 'ABCDEFGH' }, groupSize: 40 },
        { name: 'kind', type: 'paired', source: 'label', lookup: { plain: ['p1', 'p,2'], 'a,b': 'ab', 'say "hi"': { q: 0.5, 'q"q': 0.5 }, 'tab\there': 't', 'line\nbreak': 'l', 'café ☕': 'c' } },
        { name: 'source', type: 'constant', value: 'x,y' },
        { name: 'age', type: 'numeric', kind: 'integer', min: 14, max: 90, missing: 0.05 },
        { name: 'double_score', type: 'derived', expression: 'score * 2', precision: 1 },
        { name: 'label_upper', type: 'derived', expression: 'upper(label)' },
        { name: 'label_len', type: 'derived', expression: 'len(label_upper) + age' },
        { name: 'since', type: 'derived', expression: "concat(first_seen, '|', kind)" },
      ],
    },
    {
      name: 'villages',
      rows: 60,
      columns: [{ name: 'village_id', type: 'id', format: { kind: 'letters', minLength: 2, maxLength: 4 }, primaryKey: true }],
    },
  ],
});

const SINGLE = parseSynthSpec({
  name: 'single',
  seed: 9,
  tables: [{ name: 'ids', rows: 10, columns: [{ name: 'n', type: 'id', format: { kind: 'row-number', start: 100 }, primaryKey: true }] }],
});

const LARGE = parseSynthSpec({
  name: 'large',
  seed: 77,
  tables: [
    {
      name: 'participants',
      rows: 60_000,
      columns: [
        { name: 'participant_uuid', type: 'id', format: { kind: 'uuid', prefix: 'avf-phone-uuid-' }, primaryKey: true },
        { name: 'registered_on', type: 'date', from: '2026-01-05', to: '2026-01-11' },
        { name: 'gender', type: 'categorical', values: { female: 0.5, male: 0.5 } },
        { name: 'region', type: 'categorical', values: { North: 0.4, South: 0.3, East: 0.3 } },
        { name: 'age', type: 'numeric', kind: 'integer', distribution: 'normal', mean: 30, sd: 10, min: 14, max: 90 },
        { name: 'messages_sent', type: 'numeric', kind: 'integer', min: 0, max: 40 },
        { name: 'score', type: 'numeric', distribution: 'normal', mean: 50, sd: 12, min: 0, max: 100, precision: 2 },
        { name: 'weekly_rate', type: 'derived', expression: 'messages_sent / 7', precision: 3 },
      ],
    },
  ],
});

const TOTALS = parseSynthSpec({
  name: 'totals',
  seed: 31,
  tables: [
    {
      name: 'households',
      rows: 9000,
      constraints: ['members >= adults'],
      columns: [
        { name: 'household_id', type: 'id', format: { kind: 'digits', minLength: 7, maxLength: 7 }, primaryKey: true },
        { name: 'district', type: 'categorical', values: { Baidoa: 0.5, Kismayo: 0.3, Garowe: 0.2 } },
        { name: 'adults', type: 'numeric', kind: 'integer', min: 1, max: 4 },
        { name: 'members', type: 'numeric', kind: 'integer', distribution: 'weighted', min: 1, max: 12, sum: 40000, weights: { district: { Baidoa: 0.9, Kismayo: 0.6, Garowe: 0.4 } }, dispersion: 0.2 },
        { name: 'income', type: 'numeric', distribution: 'normal', mean: 100, sd: 30, min: 10, max: 500, rescale: true, precision: 1 },
        { name: 'surveyed', type: 'date', from: '2025-03-01', to: '2025-03-31' },
      ],
    },
  ],
});

interface Case {
  name: string;
  spec: ReturnType<typeof parseSynthSpec>;
  options: SeriesOptions;
  /** sha256 of every file under the series folder, by path relative to it. */
  expected: Record<string, string>;
}

const base = { periodLength: 1, staticColumns: [] as string[], dateColumns: [] as string[], format: 'csv' as const };

const CASES: Case[] = [
  {
    name: 'clinic, monthly CSV',
    spec: CLINIC,
    options: { ...base, series: 'monthly', periodUnit: 'months', periods: 4, newFraction: 1 / 3, dateColumns: ['visit_date'], staticColumns: ['gender', 'birth_year'] },
    expected: {
      'period-1/dataset_1.csv': '88b20536f0bb580adfece00db6df83ce010eaeaab43497abd381ff6c4b131115',
      'period-1/period.json': 'c38db5f34b420bbd941d3692047354564403278d7f5f46b85ba197a05f30830c',
      'period-1/spec_1.json': '27b664a78ab14afdb1a3f10c047a41fe9fab2642fa3c7d5c2491305fd24c84c1',
      'period-2/dataset_2.csv': '888b443eed9d74d0baf556cd193f3180e70d2afd3a652f8ff4b35147fb60a063',
      'period-2/period.json': '394eb0c0e0fa3d0317393607fa4e1764c83d6831a5d9fae4bba2c5d1692dc768',
      'period-2/spec_2.json': '633d37f1ebcdcf9f96ac301d10bc2ab4fa07b36ceb432c0ffb12bb48af0741a2',
      'period-3/dataset_3.csv': '59a7c73a133d5d00aa493de17209a78271d819486060f624e6c578b58d4f4fbc',
      'period-3/period.json': '200c1f9f5a1edc6e6fb1856a73f966c5c7d437f41b2a523479487c3eff6527b4',
      'period-3/spec_3.json': 'e4ec8139e4ff381d69bab3d28369720b326558f25e02f4ea33f4ab1d8f32fbed',
      'period-4/dataset_4.csv': 'f6b31a0499e65178898bbf0b1bd12391b189f91fc86035fdcfb8e0f8587ca136',
      'period-4/period.json': '8838665f10fd6b971689299f3a1c47b2df6eb347bbe28ac62807b7c434770b73',
      'period-4/spec_4.json': '837cd5eb8755a869551f93b951faabb934b5163c8466261771921b0f34b30bf4',
      'reference/period-1.csv': '2e307aa8259ca492003c6f21db3910aea46f29429f47f48c4706d866d551c91c',
      'reference/period-2.csv': '4f36e3978b4294221fbe9df6d859e4003f9025913e8a65899e12ee16a6109cd1',
      'reference/period-3.csv': '08fb6b5d171537ad03c3817f435f01e950093606e84f77e0a0f293e8ba0097a7',
      'reference/period-4.csv': '4f8ceb38c6e2308bb3f5253420a915cb1ef5a1d01c9d386ee0672a57974e058c',
    },
  },
  {
    name: 'clinic, monthly TSV',
    spec: CLINIC,
    options: { ...base, series: 'monthly-tsv', periodUnit: 'months', periods: 3, newFraction: 0.4, dateColumns: ['visit_date'], staticColumns: ['gender', 'birth_year'], format: 'tsv' },
    expected: {
      'period-1/dataset_1.tsv': 'e776a6301a3d975d10625094b5876f0a0df0432491860d221355fa6249da309a',
      'period-1/period.json': 'c38db5f34b420bbd941d3692047354564403278d7f5f46b85ba197a05f30830c',
      'period-1/spec_1.json': '27b664a78ab14afdb1a3f10c047a41fe9fab2642fa3c7d5c2491305fd24c84c1',
      'period-2/dataset_2.tsv': 'f64d8fd3d10ce79d079e28f5b99507d04c0d7a0830f472159b00ddbebbdeec55',
      'period-2/period.json': 'e458553e03359b289b99cfc8033e51acb55ffa48498abf3e5169f34a0a233a7f',
      'period-2/spec_2.json': 'cee28f1deb80c39d4c6d66caf3a65e09f666e447c68e46309008c9713beb5ec8',
      'period-3/dataset_3.tsv': '9839f70e6bd09f34abe58a8698a06741cc2c6ada2cee3921d193ea2d7523a9c5',
      'period-3/period.json': '5b6340c7b157d7963430dc8d5bb457ed903be6c28abaf77d50320dfd60896d1d',
      'period-3/spec_3.json': '2b14fdb6211065c79050dd89ee75b230243a56ba1a6f6e28020b0d2b9745029f',
      'reference/period-1.csv': '770fc969cae5d89671947cb3f2f99fd95b0e937c08ebd46146f81fdc858faa9a',
      'reference/period-2.csv': '0ca7cadc0b4a19e6b703b10da701c97c6de6b6e34de40ce42e545270af2856b0',
      'reference/period-3.csv': 'babfc392e1fcd0bd4d3965d4d697e879650a1f908489856cb6c89ba842ab7cf7',
    },
  },
  {
    name: 'tricky cells, fortnightly CSV',
    spec: TRICKY,
    options: {
      ...base,
      series: 'tricky',
      periodUnit: 'weeks',
      periodLength: 2,
      periods: 4,
      newFraction: 0.3,
      dateColumns: ['joined', 'first_seen', 'visit_week'],
      staticColumns: ['label', 'note', 'village', 'first_seen'],
      idColumns: ['person_id', 'code'],
    },
    expected: {
      'period-1/dataset_1.csv': '3ec8d85737e62dd612e204553aca3adc4e2cb226818ab353782f6b1d3d3aab88',
      'period-1/period.json': '9b226be56454d648b86a78ed3f911ab9f8f4282db3c8777fa224c7921a789a90',
      'period-1/spec_1.json': '442c9874ad50b1d6373f55764d6c4663cc5dd7cb96de04e33c013102144e0d9c',
      'period-2/dataset_2.csv': '73876ed569f67851f0f7967513899af51d2473c9ea5f7b51ccc80bc6f74e4b5a',
      'period-2/period.json': '48b89892b37aa0b91704fbec41fe086a4d44b24818249b137d59cf958ab9a7f4',
      'period-2/spec_2.json': '5990f4977bc88c9bfce3f54b2c0cdee7d03098ee4bd40df4d324231efbf506c1',
      'period-3/dataset_3.csv': '62a3c12429bf5fc93a13424e6b457c64a8f7afc23bf3fab75de8d217cbabe3ad',
      'period-3/period.json': '88302e9d7746b00aef8de04902927729e732343b4716c6785033f5a04579fe46',
      'period-3/spec_3.json': '960703d419889c26ce5d4221a470d36e2ffe1d7a836174678e07924dae53cc08',
      'period-4/dataset_4.csv': '81232bd1a9dfc8cac74c864ba905bcb02f30b729b23ea49efb4190f00f228e65',
      'period-4/period.json': 'f65a553913f8606a0a55466197cebba210138c756abab76aa897b67cf9204e07',
      'period-4/spec_4.json': 'e9a2ae1cb6ecb7c4f1bf6c7eced96e12ee65000956b5ef34f6b051ff7382e923',
      'reference/period-1.csv': 'e90abb6b29b64d1094ae2000e4634aa91c1a531ae4b067392796a387eb529e81',
      'reference/period-2.csv': '7d1e3ffa952e50ee8c6d064c5d1fecb068011335f230bfb8a3a4a783a72661b5',
      'reference/period-3.csv': '15c81f1b7c6f1bdd81095fee16da7613481c72906f57e277b6521f1eff3b21cf',
      'reference/period-4.csv': '25878c4d04ae82d15d4678b40fc210a350ffd4a81d43e1ac50bdd96af1f3847e',
    },
  },
  {
    name: 'tricky cells, daily TSV',
    spec: TRICKY,
    options: { ...base, series: 'tricky-tsv', periodUnit: 'days', periods: 3, newFraction: 0.5, dateColumns: ['joined'], staticColumns: ['note', 'label', 'age'], format: 'tsv' },
    expected: {
      'period-1/dataset_1.tsv': '9eed27d4a7d55755748d71c94e9201a36897e4e6f59477a92678deee92d59bc7',
      'period-1/period.json': '9b226be56454d648b86a78ed3f911ab9f8f4282db3c8777fa224c7921a789a90',
      'period-1/spec_1.json': '83c51f03e625e557d81167d3fa635053335fbd7be216050b6dbcd2f875e30cc7',
      'period-2/dataset_2.tsv': '2a502b18aabc7b506c97503665919d4c6c02c1e56615d9465d0ab68047e18706',
      'period-2/period.json': 'ec10e9445436bd0a5c9aff422579b9abe4dfcbbae21f7b7a12b37dccf42487f2',
      'period-2/spec_2.json': '43762690cb6e1bc66373a38a6a3732a07804cd400d313fb64fa3d69410cd64fc',
      'period-3/dataset_3.tsv': 'f1953b53e62f364dceb653d085d81dbc5699bfbc683efc44a2bec0a583e27b17',
      'period-3/period.json': 'adc920a29b2c0fa08556600428051a8c2d5620ef2d18f886ba39f24daec05175',
      'period-3/spec_3.json': 'b1c1c86efec558b6498fd156715771f4306d15edfc9c40389c9943e8ecff7e4a',
      'reference/period-1.csv': '6bc23278e714394cf8db2f46e96b0caf5743cc35fc7872c3c7de5e1d6e2b2da2',
      'reference/period-2.csv': '89ed244d00988167cb1db3d51a629d464dfa49309b7949367218fa462b61eccb',
      'reference/period-3.csv': '417089c5a85ff748a45093c624ecfb7ceac39a052ce97df7a8bab7d13c6e51e4',
    },
  },
  {
    name: 'one-column table',
    spec: SINGLE,
    options: { ...base, series: 'single', periodUnit: 'days', periods: 3, newFraction: 0.5 },
    expected: {
      'period-1/dataset_1.csv': 'ca61e8a7ff79afcc30e225e92e14faa2247feb8facbe342373c014ded9b31970',
      'period-1/period.json': '941ae7ab99840f5d071de3b35e5c450bf6fb6a36754d902845d0351eb906ebed',
      'period-1/spec_1.json': '8eaf26329109bcb71cc35ca7af5123b0fbc1efdcb5e5fbe8d8a37c1110627b8e',
      'period-2/dataset_2.csv': '021acb03249e0d7c9721538a9ffafa8525b5ee6d29c6e6297094e60b4a34cf2e',
      'period-2/period.json': 'baff8a0548aa990b4704c6f24b3a60da9049f1f5531599a4531522f599f14224',
      'period-2/spec_2.json': 'abeed1af39558561973f5a6464e9e3ab435b1eee39712cde99617f31605240ba',
      'period-3/dataset_3.csv': '56cc0ea65e846e5844446086d4059c4b193322bb06a54e5c7aa117d8a7657f29',
      'period-3/period.json': '4d54137b47fccabaae52e98ce173ecd1e7335bbffa56a81a815698ebe0be207d',
      'period-3/spec_3.json': '5e0cf45e4f7220dcec8f7931479921e2dda6b02420cc05fada4ac54134cae94e',
      'reference/period-1.csv': 'a983434a1ed0158e8d24076fa8d5bdf0d18b993a6d08cb8e45e90edb14c7e80a',
      'reference/period-2.csv': '4d458cc03bdfade4cbba0d970622a945eda61512d2d83db30eb0be0a51df50ba',
      'reference/period-3.csv': '77409ce4e399aa86e2917e3dee1d6580d63ba8700c6e2111b082ad2cf5469ef6',
    },
  },
  {
    name: 'several blocks and slices, weekly',
    spec: LARGE,
    options: { ...base, series: 'large', periodUnit: 'weeks', periods: 3, newFraction: 0.25, dateColumns: ['registered_on'], staticColumns: ['gender', 'region'] },
    expected: {
      'period-1/dataset_1.csv': '289b9fe5f8ec1a74e2af449f186e49fd974a2b1a51b090b706471f4f95e4fc9b',
      'period-1/period.json': '0b05750fa00c30733efa7947fd86b9d29bfbc74073782b9b22f451d245ac5d9d',
      'period-1/spec_1.json': '06ed6b829b522ef604d42dd0c66bc3d5fa96adde64ead92ae9cc9d9dfe31b914',
      'period-2/dataset_2.csv': 'f1f90886c42c8b9b595c63ba26d82d076dab2819499fed7dad384a5ee0c42651',
      'period-2/period.json': '7ccdb9ab8be4c23f51b1e3c7da70419737bab071e0e932e48c2751af544ea83d',
      'period-2/spec_2.json': '1f8e57db7973c39b02287e9a5f8d3aa8ecb73394ceaa91e3e5889b93048fd87c',
      'period-3/dataset_3.csv': '38af4b8f33cbed739b5906362371e25203939625ad6662e30ead8c5844af7ec0',
      'period-3/period.json': '6cfbf770de8232fbce1dd9fed5f872e59db477a34af808b2221a48ea3c6835b1',
      'period-3/spec_3.json': '8bc2429eab7f7d2a4effd149545b68b87af90d11a2bf9127128ebe175e8c534e',
      'reference/period-1.csv': 'a286c781cf1a35bc69bbc2317f983b7fd4285a23605e6432886830f36b3e67a4',
      'reference/period-2.csv': 'd1688ea52f8e956a9aa40c1f9d15c376bf35e8a31a975d07b28db9da5b2a67b2',
      'reference/period-3.csv': 'dcdb2e9543e12b62bfc5e1da2d013f05e1121964c8909e013a2b8a0acf3d7db2',
    },
  },
  {
    name: 'totals and rescaled columns (row-dependent rounding), monthly',
    spec: TOTALS,
    options: { ...base, series: 'totals', periodUnit: 'months', periods: 3, newFraction: 0.3, dateColumns: ['surveyed'], staticColumns: ['district', 'adults'] },
    expected: {
      'period-1/dataset_1.csv': 'fd04cb73df494c7af7e8ac30abd1d7a3a1c699225cf3e27172ed80f720464801',
      'period-1/period.json': '59dd61586fd8f1e0f64402ba575582f64a9c8c63a30a512f6397bf2c46049f27',
      'period-1/spec_1.json': '1060ea14091c664fbf72cd55d540b6f10081277ef86721807f7df5f27ceb19dc',
      'period-2/dataset_2.csv': 'fc8ccd59d5d50d1d13b71893e40541b56f0e93c78e266d90e93374f2eeae8939',
      'period-2/period.json': '72589f7418046ccba9c4b8777dc38a71c3f4f973324593f93188638ede5ffce0',
      'period-2/spec_2.json': '094bb3743a39c1e522bcfee576b61daeaac9f24196c4c6779aa4857cc4167097',
      'period-3/dataset_3.csv': '094040e5004afbd715a932df9501a4e6ccc91ee71d723904b0181639398433d5',
      'period-3/period.json': 'a4b1268b0a3e3f48938fe9133bda33b4494ab1db48188a8a77bc51b9df500a82',
      'period-3/spec_3.json': '92b4358a4b13b12a029b45f19e98b5707b3ace4e8c5b273aac331248ac2001aa',
      'reference/period-1.csv': '4fecd7e6f2a56ff24c6dd07937a815fc546eef93e2ce4ba6d2592b0425019e54',
      'reference/period-2.csv': '66846597d88b53b957d1eff7c7b623524ab09afa06ec926ff9b4ffa11fa20f5e',
      'reference/period-3.csv': 'cb3ee82d65d107b6d0046984e46b59bfd432cf19fe047590a4d456193b31424f',
    },
  },
  {
    name: 'only new entities',
    spec: CLINIC,
    options: { ...base, series: 'all-new', periodUnit: 'days', periods: 2, newFraction: 1, dateColumns: ['visit_date'], staticColumns: ['gender'] },
    expected: {
      'period-1/dataset_1.csv': 'e4280eafff4a31fd22ded1d8fac2f74425a5cf019729792448fd0b13610dd7b3',
      'period-1/period.json': 'c38db5f34b420bbd941d3692047354564403278d7f5f46b85ba197a05f30830c',
      'period-1/spec_1.json': '2f3aa0063b41f70d8901ad548a0d3afd4d7962cdc612bd3f89b309ca833c5e03',
      'period-2/dataset_2.csv': '5abc823e46024eb012a92edb2f284a79ed74fdb99540796e287ad3736bd57956',
      'period-2/period.json': '46d38597e0b723f9a6d6326b60ce4ff0eb0bf17926d0d4111397968956d1644e',
      'period-2/spec_2.json': '0f31e087cb2fab776b14b157604afccefc5aaa7532bd16c49d163df975daa38e',
      'reference/period-1.csv': '19ac36fdbf127411c16f1b921e95dcef8859b90a3f0c307e559fd7f9284ea3cf',
      'reference/period-2.csv': '40a6e3940814bb105ad31c9cb5cbe302624f97b601418cedaec5e810d9ff4ec5',
    },
  },
];

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(folder, join(entry.parentPath, entry.name))).sort();
}

async function seriesHashes(testCase: Case): Promise<Record<string, string>> {
  const folder = await temporaryFolder('series-bytes');
  const plan = planSeries(testCase.spec, testCase.options);
  for (let period = 1; period <= testCase.options.periods; period++) await generateSeriesPeriod(plan, period, { seriesFolder: folder }, 'base-hash');
  const hashes: Record<string, string> = {};
  for (const file of await filesUnder(folder)) hashes[file] = createHash('sha256').update(await readFile(join(folder, file))).digest('hex');
  return hashes;
}

describe('series period bytes', () => {
  for (const testCase of CASES) {
    it(`writes the recorded bytes: ${testCase.name}`, async () => {
      const hashes = await seriesHashes(testCase);
      if (process.env.PRINT_SERIES_HASHES) console.log(JSON.stringify({ [testCase.name]: hashes }, null, 2));
      assert.deepEqual(hashes, testCase.expected);
    });
  }
});

describe('reference segment reading', () => {
  const VALUES = ['', 'plain', 'a,b', 'tab\there', 'say "hi"', '"', 'line\nbreak', 'cr\rhere', 'crlf\r\nhere', 'café ☕', 'x'.repeat(300), 'ab"c'];

  /** A segment as the old reader read it: each line's cells after the entity, escaped again. */
  async function expectedCells(path: string, delimiter: Delimiter): Promise<Map<number, string[]>> {
    const cells = new Map<number, string[]>();
    let header = true;
    for await (const batch of readCsvRecords(path, delimiter)) {
      for (const record of batch) {
        if (!header) cells.set(Number(record[0]), record.slice(1).map((value) => escapeCell(value, delimiter)));
        header = false;
      }
    }
    return cells;
  }

  for (const delimiter of [',', '\t'] as const) {
    it(`keeps every wanted entity's cells byte for byte, whatever the buffer size (${delimiter === ',' ? 'CSV' : 'TSV'})`, async () => {
      const folder = await temporaryFolder('segment');
      const path = join(folder, 'period-1.csv');
      const entities = 3000;
      const width = 3;
      let text = `entity${delimiter}a${delimiter}"b ""quoted"""${delimiter}c\n`;
      let state = 12345;
      const next = (n: number): number => {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        return state % n;
      };
      for (let e = 0; e < entities; e++) {
        // Some lines have fewer cells than kept columns (read as empty), some more (ignored); \n or \r\n ends.
        const cells = Array.from({ length: next(10) === 0 ? 1 + next(4) : width }, () => escapeCell(VALUES[next(VALUES.length)]!, delimiter));
        text += `${e}${delimiter}${cells.join(delimiter)}${next(5) === 0 ? '\r\n' : '\n'}`;
      }
      await writeFile(path, text.slice(0, -1)); // no newline after the last line
      const expected = await expectedCells(path, delimiter);
      const wanted = Array.from({ length: entities }, (_, e) => e).filter(() => next(3) > 0);
      const lineOf = new Int32Array(entities).fill(-1);
      wanted.forEach((entity, line) => (lineOf[entity] = line));
      for (const bufferBytes of [5, 64, 1000, 1 << 20]) {
        const kept = new KeptCells(wanted.length, wanted.length, width);
        await new SegmentReader(delimiter, lineOf, kept, bufferBytes).read(path);
        assert.equal(kept.found, wanted.length, `buffer ${bufferBytes}`);
        const out = new ByteWriter(1 << 16);
        wanted.forEach((entity, line) => {
          if (line % BLOCK_ROWS === 0) kept.useBlock(line / BLOCK_ROWS);
          for (let k = 0; k < width; k++) {
            out.position = 0;
            kept.copyCell(out, line % BLOCK_ROWS, k);
            assert.equal(out.buffer.toString('utf8', 0, out.position), expected.get(entity)![k] ?? '', `buffer ${bufferBytes}, entity ${entity}, cell ${k}`);
          }
        });
      }
    });
  }
});
