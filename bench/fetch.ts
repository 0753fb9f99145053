/**
 * `npm run bench:fetch`: 100k Rapid Pro runs over 1,000 pages (two flows, pages of 100) from the local
 * Rapid Pro server (its own process) into raw/, de-identified, with the production client and writer.
 * Prints runs/s and this process's peak RSS, sampled while fetching, with RSS at each quarter of the
 * pages to show it stays flat. Last line: `fetch runs_per_s=<n> peak_rss_mb=<n>`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

import pino from 'pino';

import { type OpenedUuidTable,openUuidTable } from '../activities/deid/open-uuid-table';
import { fetchSources } from '../activities/sources/fetch-sources';
import { fetchSourcesConfigSchema } from '../activities/sources/fetch-sources.stage';
import { BlobStoreRouter } from '../activities/storage/blob-store';
import { LocalBlobStore } from '../activities/storage/local-blob-store';

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_FETCH_RUNS ?? 100_000);
  const pageSize = Number(process.env.BENCH_FETCH_PAGE_SIZE ?? 100);
  const folder = mkdtempSync(join(tmpdir(), 'bench-fetch-'));
  const server = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fetch-server.ts')], {
    env: { ...process.env, BENCH_FETCH_RUNS: String(runs), BENCH_FETCH_PAGE_SIZE: String(pageSize), BENCH_FETCH_TOKEN: 'bench-token' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const stopServer = () => {
    if (server.exitCode !== null || !server.pid) return;
    try {
      process.kill(server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  process.on('exit', stopServer);
  try {
    const baseUrl = await new Promise<string>((resolve, reject) => {
      createInterface({ input: server.stdout! }).once('line', resolve);
      server.once('exit', (code) => reject(new Error(`bench server exited (${code})`)));
    });
    writeFileSync(join(folder, 'token.txt'), 'bench-token');
    const stage = fetchSourcesConfigSchema.parse({
      stage: 'fetch-sources',
      sources: [{ kind: 'rapid-pro', name: 'bench', baseUrl, tokenFileUrl: pathToFileURL(join(folder, 'token.txt')).href, activationFlowNames: ['bench_activation'], surveyFlowNames: ['bench_survey'] }],
      uuidTable: { backend: 'local', table: 'bench', uuidPrefix: 'avf-phone-uuid-' },
      projectStartDate: '2025-01-01T00:00:00Z',
      projectEndDate: '2027-01-01T00:00:00Z',
    });
    const local = new LocalBlobStore(join(folder, 'buckets'));
    const pages = Math.ceil(runs / pageSize);
    let peakRss = process.memoryUsage.rss();
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
    const quarters: string[] = [];
    let nextQuarter = 1;
    let table: OpenedUuidTable | undefined;
    const started = performance.now();
    const summaries = await fetchSources({
      request: { runId: 'bench', pipelineName: 'bench', dataRoot: join(folder, 'data'), stage, upstream: {}, overwrite: false },
      dataRoot: join(folder, 'data'),
      blobStore: new BlobStoreRouter({ file: local, gs: local }),
      logger: pino({ level: 'warn' }),
      now: () => new Date('2027-01-01T00:00:00Z'),
      reportProgress: (details) => {
        const rss = process.memoryUsage.rss();
        peakRss = Math.max(peakRss, rss);
        if (nextQuarter <= 4 && Number(details.recordsWritten) >= (nextQuarter * runs) / 4) {
          quarters.push(`${(rss / 2 ** 20).toFixed(0)} MB`);
          nextQuarter += 1;
        }
      },
      // The worker's own path: the local (SQLite) table under the data home, opened as the stage opens it.
      uuidTable: async (config) => (table = await openUuidTable(config, { dataHome: join(folder, 'home') })).table,
    });
    await table?.close();
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const fetched = summaries[0]!.files.filter((file) => file.name.startsWith('runs-')).reduce((sum, file) => sum + file.records, 0);
    if (fetched !== runs) throw new Error(`fetched ${fetched} runs, expected ${runs}`);
    const bytes = summaries[0]!.files.reduce((sum, file) => sum + file.bytes, 0);
    const runsPerSecond = Math.round(fetched / seconds);
    const peakMb = peakRss / 2 ** 20;
    console.log(`fetched ${fetched.toLocaleString('en')} runs in ${pages} pages of ${pageSize} (+ contacts) in ${seconds.toFixed(2)} s, ${(bytes / 1e6).toFixed(1)} MB of JSON Lines`);
    console.log(`RSS at each quarter of the runs: ${quarters.join(', ')}; peak ${peakMb.toFixed(0)} MB`);
    console.log(`fetch runs_per_s=${runsPerSecond} peak_rss_mb=${peakMb.toFixed(0)}`);
  } finally {
    server.stdin?.end();
    stopServer();
    rmSync(folder, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
