/** The fetch-sources config: the seed's fields in camelCase, every problem named by its field path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import pino from 'pino';

import { fetchSourcesWork } from '../activities/sources/fetch-sources';
import { fetchSourcesConfigSchema as stageSchema } from '../activities/sources/fetch-sources.stage';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { RecordingUuidTable } from './helpers/sources';

const valid = {
  stage: 'fetch-sources',
  sources: [
    { kind: 'rapid-pro', name: 'rapid-pro', baseUrl: 'rapidpro.io', tokenFileUrl: 'gs://avf-credentials/rapid-pro-token.txt', activationFlowNames: ['s01e01_activation'], surveyFlowNames: ['demog'], testContactUuids: ['0f2cb9a4-3b1e-4b1a-9a7c-0d6b1f1e2a33'] },
    { kind: 'gcloud-bucket', name: 'old-season', activationFlowUrls: ['gs://avf-data/s00/activation.jsonl'], surveyFlowUrls: [] },
    { kind: 'recovery-csv', name: 'hormuud', activationFlowUrls: ['file:///data/recovery/hormuud.csv'] },
    { kind: 'facebook', name: 'facebook', pageId: '104857600123', tokenFileUrl: 'gs://avf-credentials/fb.txt', datasets: [{ name: 'facebook_e01', search: { match: '#e01', startDate: '2020-01-01T00:00:00+03:00', endDate: '2020-01-08T00:00:00+03:00' } }] },
  ],
  uuidTable: { backend: 'firestore', table: 'avf-phone-uuids', uuidPrefix: 'avf-phone-uuid-', credentialsFileUrl: 'gs://avf-credentials/firebase.json' },
  sourceKeyRemappings: [{ sourceKey: 'rqa_s01e01 (Text) - s01e01_activation', pipelineKey: 'rqa_s01e01_raw', isActivationMessage: true }],
  timestampRemappings: [{ timeKey: 'received_at', showPipelineKeyToRemapTo: 'rqa_s01e02_raw', rangeStartInclusive: '2020-01-05T00:00:00Z', rangeEndExclusive: '2020-01-06T00:00:00Z' }],
  projectStartDate: '2020-01-01T00:00:00+03:00',
  projectEndDate: '2020-03-01T00:00:00+03:00',
  filterTestMessages: true,
};

function problems(value: unknown): string[] {
  const result = stageSchema.safeParse(value);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('fetch-sources.stage', () => {
  it('accepts the seed’s configuration in camelCase, with defaults and a domain turned into a base URL', () => {
    const parsed = stageSchema.parse(valid);
    const rapidPro = parsed.sources[0]!;
    assert.equal(rapidPro.kind === 'rapid-pro' && rapidPro.baseUrl, 'https://rapidpro.io');
    const facebook = parsed.sources[3]!;
    assert.equal(facebook.kind === 'facebook' && facebook.graphApiBaseUrl, 'https://graph.facebook.com');
    assert.equal(parsed.sourceKeyRemappings[0]!.isActivationMessage, true);
  });

  it('names every problem by its field path', () => {
    const bad = structuredClone(valid) as Record<string, any>;
    bad.sources[0].tokenFileUrl = 's3://bucket/token';
    bad.sources[0].testContactUuids = ['not-a-uuid'];
    bad.sources[1].name = 'old-season';
    bad.sources[2].name = 'remapped';
    bad.sources[3].datasets = [{ name: 'e01' }, { name: 'e01', postIds: ['x'] }];
    bad.uuidTable.backend = 'sqlite';
    bad.timestampRemappings[0].rangeEndExclusive = '2020-01-04T00:00:00Z';
    bad.projectEndDate = '2019-12-01T00:00:00Z';
    bad.sources.push({ kind: 'rapid-pro', name: 'old-season', baseUrl: 'ftp://x', tokenFileUrl: 'file:///t' });
    const found = problems(bad);
    for (const expected of [
      /^sources\.0\.tokenFileUrl: expected gs:\/\/bucket\/name or file:\/\/\/absolute\/file/,
      /^sources\.0\.testContactUuids\.0: /,
      /^sources\.2\.name: reserved/,
      /^sources\.3\.datasets\.0\.postIds: give postIds, search, or both/,
      /^sources\.3\.datasets\.1\.postIds\.0: a post id/,
      /^sources\.3\.datasets\.1\.name: duplicate dataset name "e01"/,
      /^sources\.4\.baseUrl: expected a domain/,
      /^sources\.4\.activationFlowNames: name at least one/,
      /^sources\.4\.name: duplicate source name "old-season"/,
      /^uuidTable\.backend: /,
      /^timestampRemappings\.0\.rangeEndExclusive: rangeStartInclusive must be before/,
      /^projectEndDate: projectStartDate must be before projectEndDate/,
    ]) {
      assert.ok(found.some((line) => expected.test(line)), `${expected} not in:\n${found.join('\n')}`);
    }
  });

  it('has an inputs hash that changes with every run: an incremental fetch always looks for new data', async () => {
    const stage = stageSchema.parse(valid);
    const context = (runId: string) => ({
      request: { runId, pipelineName: 'p', dataRoot: '/tmp/x', stage, upstream: {}, overwrite: false },
      dataRoot: '/tmp/x',
      blobStore: new LocalBlobStore('/tmp/x'),
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      reportProgress: () => undefined,
      uuidTable: () => new RecordingUuidTable('p-'),
    });
    const first = JSON.stringify(await fetchSourcesWork.inputs(context('run-1')));
    assert.notEqual(first, JSON.stringify(await fetchSourcesWork.inputs(context('run-2'))));
    assert.equal(first, JSON.stringify(await fetchSourcesWork.inputs(context('run-1'))), 'a retried attempt of the same run has the same inputs');
  });
});
