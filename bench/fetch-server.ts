/**
 * The Rapid Pro server of `bench:fetch`, in its own process so the fetching process's memory is measured
 * alone. Seeds `BENCH_FETCH_RUNS` runs (two flows) over `BENCH_FETCH_CONTACTS` contacts, pages of
 * `BENCH_FETCH_PAGE_SIZE`, prints its base URL, and exits when its stdin closes.
 */
import { RapidProServer } from '../test/servers/rapid-pro-server';

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_FETCH_RUNS ?? 100_000);
  const server = new RapidProServer({ token: process.env.BENCH_FETCH_TOKEN ?? 'bench-token', pageSize: Number(process.env.BENCH_FETCH_PAGE_SIZE ?? 100), seed: 2026 });
  server.seed({
    flows: [
      { name: 'bench_activation', kind: 'activation', runs: Math.round(runs * 0.8) },
      { name: 'bench_survey', kind: 'survey', runs: runs - Math.round(runs * 0.8) },
    ],
    contacts: Number(process.env.BENCH_FETCH_CONTACTS ?? 5_000),
    start: new Date('2026-01-01T00:00:00Z'),
    stepMs: 1000,
  });
  console.log(await server.start());
  process.stdin.resume();
  process.stdin.on('end', () => void server.stop().then(() => process.exit(0)));
  process.stdin.on('close', () => void server.stop().then(() => process.exit(0)));
}

void main();
