/**
 * The pipeline CLI:
 *   run --config F [--follow] [--overwrite]
 *   status <run-id> [--json]
 *   resume <run-id> --from <stage> [--overwrite] [--follow]
 *   list [--limit N]
 * Exit codes: 0 done, 1 the run failed, 2 bad input, 3 not found.
 */
import { SingleBar, Presets } from 'cli-progress';
import { Command } from 'commander';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { RunManifest } from '../activities/runs/types';
import { loadPipelineConfig } from '../config/load-config';
import { ConfigError } from '../config/pipeline-config';
import { readSettings } from '../config/settings';
import { statusQuery } from '../workflows';
import { connectClient, getRunStatus, listRuns, resumePipelineRun, startPipelineRun, type StartResult } from './pipeline-client';

const EXIT = { ok: 0, runFailed: 1, badInput: 2, notFound: 3 } as const;

function stageLine(manifest: RunManifest): string {
  return manifest.stages
    .map((stage, index) => {
      const attempts = stage.attempts > 0 ? `, ${stage.attempts} attempt${stage.attempts === 1 ? '' : 's'}` : '';
      const extra = stage.error ? ` — ${stage.error}` : stage.note ? ` — ${stage.note}` : '';
      return `  ${index + 1}. ${stage.name.padEnd(18)} ${stage.status}${attempts}${extra}`;
    })
    .join('\n');
}

function printManifest(manifest: RunManifest): void {
  console.log(`run ${manifest.runId} of ${manifest.pipelineName}: ${manifest.status}`);
  console.log(stageLine(manifest));
  for (const stage of manifest.stages) {
    for (const [name, ref] of Object.entries(stage.outputs)) console.log(`     ${stage.name}.${name}: ${ref.uri}`);
  }
}

/** Polls the status query until the run ends, drawing a progress bar on a terminal, lines otherwise. */
async function follow(handle: WorkflowHandle): Promise<RunManifest> {
  const bar = process.stdout.isTTY
    ? new SingleBar({ format: ' {bar} {value}/{total} stages | {stage} {state}', hideCursor: true }, Presets.shades_classic)
    : undefined;
  const printed = new Map<string, string>();
  for (;;) {
    const manifest = await handle.query(statusQuery).catch(() => undefined);
    if (manifest) {
      const done = manifest.stages.filter((stage) => stage.status !== 'pending' && stage.status !== 'running').length;
      const current = manifest.stages.find((stage) => stage.status === 'running') ?? manifest.stages[Math.max(done - 1, 0)];
      if (bar) {
        if (printed.size === 0) bar.start(manifest.stages.length, done, { stage: '', state: '' });
        bar.update(done, { stage: current?.name ?? '', state: current?.status ?? '' });
        printed.set('bar', 'started');
      } else {
        for (const stage of manifest.stages) {
          if (stage.status !== 'pending' && printed.get(stage.name) !== stage.status) {
            console.log(`${stage.name}: ${stage.status}`);
            printed.set(stage.name, stage.status);
          }
        }
      }
      if (manifest.status !== 'running') {
        bar?.stop();
        return manifest;
      }
    } else {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') throw new Error(`the run ended (${status.name}) before it reported any status`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function reportStart(result: StartResult | { kind: 'not-found' } | { kind: 'unknown-stage'; stages: string[] }, followRun: boolean): Promise<number> {
  if (result.kind === 'not-found') {
    console.error('no such run');
    return EXIT.notFound;
  }
  if (result.kind === 'unknown-stage') {
    console.error(`--from: not a stage of that run; its stages are ${result.stages.join(', ')}`);
    return EXIT.badInput;
  }
  if (result.kind === 'already-running') {
    console.error(`run ${result.runId} is already running as workflow ${result.workflowId}`);
    return EXIT.badInput;
  }
  console.log(`started run ${result.runId} (workflow ${result.workflowId})`);
  if (!followRun) return EXIT.ok;
  const manifest = await follow(result.handle);
  printManifest(manifest);
  return manifest.status === 'succeeded' ? EXIT.ok : EXIT.runFailed;
}

async function main(argv: string[]): Promise<number> {
  const settings = readSettings();
  let exitCode: number = EXIT.ok;
  const withClient = async (body: (client: Client) => Promise<number>): Promise<void> => {
    const client = await connectClient(settings);
    try {
      exitCode = await body(client);
    } finally {
      await client.connection.close();
    }
  };

  const program = new Command('pipeline').description('Durable research data pipelines on Temporal').exitOverride();

  program
    .command('run')
    .description('start a pipeline run from a config file (JSON or YAML)')
    .requiredOption('--config <file>', 'run config')
    .option('--follow', 'show progress until the run ends')
    .option('--overwrite', 'redo stages whose outputs already exist with the same inputs')
    .action(async (options: { config: string; follow?: boolean; overwrite?: boolean }) => {
      const config = await loadPipelineConfig(options.config); // bad input stops here, before anything starts
      await withClient(async (client) =>
        reportStart(await startPipelineRun(client, { config, taskQueue: settings.taskQueue, overwrite: options.overwrite ?? false }), options.follow ?? false),
      );
    });

  program
    .command('status <runId>')
    .description('the stages of a run, their state, attempts and outputs')
    .option('--json', 'print the run record as JSON')
    .action(async (runId: string, options: { json?: boolean }) => {
      await withClient(async (client) => {
        const status = await getRunStatus(client, runId);
        if (status.kind === 'not-found') {
          console.error(`no run ${runId}`);
          return EXIT.notFound;
        }
        if (options.json) console.log(JSON.stringify(status, null, 2));
        else if (status.manifest) printManifest(status.manifest);
        else console.log(`workflow ${status.workflowId}: ${status.workflowStatus} (no worker answered the status query: ${status.queryError})`);
        return EXIT.ok;
      });
    });

  program
    .command('resume <runId>')
    .description('a new run reusing the outputs of an earlier run up to a stage, then running that stage and the rest')
    .requiredOption('--from <stage>', 'first stage to run again')
    .option('--overwrite', 'redo stages from --from on even if their outputs exist')
    .option('--follow', 'show progress until the run ends')
    .action(async (runId: string, options: { from: string; overwrite?: boolean; follow?: boolean }) => {
      await withClient(async (client) =>
        reportStart(
          await resumePipelineRun(client, { fromRunId: runId, fromStage: options.from, overwrite: options.overwrite ?? false, taskQueue: settings.taskQueue }),
          options.follow ?? false,
        ),
      );
    });

  program
    .command('list')
    .description('the newest pipeline runs')
    .option('--limit <n>', 'how many', (value) => Number.parseInt(value, 10), 20)
    .action(async (options: { limit: number }) => {
      await withClient(async (client) => {
        const rows = await listRuns(client, options.limit);
        for (const row of rows) {
          console.log([row.startTime.toISOString(), row.pipelineName.padEnd(16), row.runId.padEnd(30), row.status.padEnd(10), row.stage].join('  '));
        }
        return EXIT.ok;
      });
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return EXIT.badInput;
    }
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      return code === 'commander.helpDisplayed' || code === 'commander.version' ? EXIT.ok : EXIT.badInput;
    }
    throw err;
  }
  return exitCode;
}

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
