/**
 * GCloudBucket source: objects that are already de-identified (JSON Lines or JSON), downloaded as they
 * are. An object whose MD5 (from its metadata) equals the copy an earlier complete run of this source
 * has is not downloaded again: the earlier file is hard-linked (raw/ files never change, so sharing is
 * safe and costs no space).
 */
import { link } from 'node:fs/promises';
import { join } from 'node:path';

import { BadInputError } from '../errors';
import type { GcloudBucketSourceConfig } from './fetch-sources.stage';
import { countLines, describeFile, readJsonIfExists } from './raw-files';
import { uniqueFileName } from './recovery-csv';
import { completedRunSummaries, sourceFolder, type SourceRun, type SourceSummary } from './source-run';


export async function fetchGcloudBucket(run: SourceRun, config: GcloudBucketSourceConfig): Promise<SourceSummary> {
  const { deps } = run;
  // Complete earlier runs of this source, newest first.
  const earlier = (await completedRunSummaries(deps.dataRoot, config.name)).filter((summary) => summary.runId !== deps.runId).reverse();
  const used = new Set<string>();
  const inputs = [
    ...config.activationFlowUrls.map((uri) => ({ uri, flowType: 'activation' as const })),
    ...config.surveyFlowUrls.map((uri) => ({ uri, flowType: 'survey' as const })),
  ];
  for (const input of inputs) {
    const extension = /\.json$/i.test(input.uri) ? '.json' : '.jsonl';
    const name = uniqueFileName(used, input.flowType, input.uri, extension);
    const path = join(run.folder, name);
    if (!run.isFinished(name)) {
      const stored = await deps.blobStore.stat(input.uri);
      if (!stored) throw new BadInputError(`${config.name}: no object ${input.uri}`);
      const same = earlier
        .flatMap((summary) => summary.files.map((file) => ({ summary, file })))
        .find(({ file }) => file.origin === input.uri && file.md5 === stored.md5);
      if (same) {
        await link(join(sourceFolder(deps.dataRoot, config.name), same.summary.runId, same.file.name), path);
        deps.logger.info({ event: 'SourceObjectUnchanged', source: config.name, object: input.uri, reusedFrom: same.summary.runId }, 'same checksum as an earlier run: not downloaded');
      } else {
        await deps.blobStore.getFile(input.uri, path, deps.http.signal ? { signal: deps.http.signal } : {});
        deps.logger.info({ event: 'SourceObjectDownloaded', source: config.name, object: input.uri, bytes: stored.bytes }, 'downloaded');
      }
    }
    const records = extension === '.jsonl' ? await countLines(path) : jsonRecordCount(await readJsonIfExists<unknown>(path));
    await run.placed(await describeFile(path, records), { flowType: input.flowType, origin: input.uri });
  }
  return run.complete();
}

function jsonRecordCount(value: unknown): number {
  return Array.isArray(value) ? value.length : value === undefined ? 0 : 1;
}
