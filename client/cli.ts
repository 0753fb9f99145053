/**
 * The pipeline CLI:
 *   run --config F [--follow] [--overwrite]
 *   status <run-id> [--json]
 *   resume <run-id> --from <stage> [--overwrite] [--follow]
 *   retry-stage <run-id> [--set key=value …]   (a run waiting after a failed stage)
 *   skip-stage <run-id> --reason R [--force]
 *   abort <run-id> --reason R
 *   schedule create|update <id> --config F (--cron C | --every D) [--timezone --overlap --catchup-window --jitter --period-unit --first-period --note --paused]
 *   schedule list | describe <id> | pause <id> [--note] | unpause <id> | trigger <id> | backfill <id> --from --to | delete <id>
 *   list [--limit N]
 *   uuid-lookup --table T [--backend local|firestore] [--project P] [--credentials URL] <uuid…>
 * Exit codes: 0 done, 1 the run failed, 2 bad input (or an operator action refused), 3 not found (a run, or any of
 * the uuids), 4 the run waits for an operator after a failed stage.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { type Client, ScheduleNotFoundError } from '@temporalio/client';
import { Command } from 'commander';
import { parse as parseYaml } from 'yaml';

import { openUuidTableFor } from '../activities/deid/open-uuid-table';
import { BadInputError } from '../activities/errors';
import { preflightProblems } from '../activities/registry';
import { resolveDataRoot } from '../activities/runs/data-root';
import { loadPipelineConfig } from '../config/load-config';
import { ConfigError, type PipelineConfig } from '../config/pipeline-config';
import { ProblemsError } from '../config/problems';
import { readSettings, type Settings } from '../config/settings';
import { createBlobStore } from '../worker/dependencies';
import { actOnRun, connectClient, getRunStatus, listRuns, type OperatorAction, resumePipelineRun, startPipelineRun, type StartResult } from './pipeline-client';
import { followRun, printManifest } from './run-report';
import {
  backfillSchedule,
  createOrUpdateSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  OVERLAP_POLICIES,
  type OverlapName,
  pauseSchedule,
  type PeriodUnit,
  triggerSchedule,
  unpauseSchedule,
} from './schedules';
import { uuidLookup } from './uuid-lookup';

/** Characters of a uuid4 in its usual form, after the table's prefix. */
const UUID4_LENGTH = 36;

const EXIT = { ok: 0, runFailed: 1, badInput: 2, notFound: 3, waiting: 4 } as const;

async function reportStart(result: StartResult | { kind: 'not-found' } | { kind: 'unknown-stage'; stages: string[] }, follow: boolean): Promise<number> {
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
  if (!follow) return EXIT.ok;
  const manifest = await followRun(result.handle);
  printManifest(manifest);
  return manifest.status === 'succeeded' ? EXIT.ok : manifest.status === 'failed-waiting' ? EXIT.waiting : EXIT.runFailed;
}

/**
 * The checks the worker's first activity makes, made here before anything is started, as far as this
 * machine sees what the worker sees: the data root (confined to the data home and the allowed roots,
 * after symlinks; a folder) and the files the config names (specs, code schemes). A data root that does
 * not exist here is the worker's to judge: the CLI may run elsewhere, with other settings.
 */
async function refuseBadFilesSeenHere(settings: Settings, config: PipelineConfig): Promise<void> {
  let dataRoot: string;
  try {
    dataRoot = resolveDataRoot(settings.dataHome, config.dataRoot, settings.allowedDataRoots);
  } catch (err) {
    // A folder this machine sees outside what its settings allow (an absolute path, a symlink out of the
    // data home) is refused here: starting the run would only have the worker refuse it after the start.
    if (err instanceof BadInputError && existsSync(resolve(settings.dataHome, config.dataRoot))) throw new ConfigError([err.message]);
    return;
  }
  if (!existsSync(dataRoot)) return;
  const problems = await preflightProblems(config, dataRoot);
  if (problems.length > 0) throw new ConfigError(problems);
}

/** `--set a.b=value`, repeatable: the value read as YAML, so `3`, `true` and `[a, b]` keep their types. */
function collectSettings(text: string, settings: Record<string, unknown>): Record<string, unknown> {
  const equals = text.indexOf('=');
  if (equals <= 0) throw new BadInputError(`--set: expected key=value, got ${JSON.stringify(text)}`);
  return { ...settings, [text.slice(0, equals).trim()]: parseYaml(text.slice(equals + 1)) as unknown };
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
      await refuseBadFilesSeenHere(settings, config);
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

  const reportAction = async (client: Client, runId: string, action: OperatorAction): Promise<number> => {
    const outcome = await actOnRun(client, runId, action);
    if (outcome.kind === 'not-found') {
      console.error(`no run ${runId}`);
      return EXIT.notFound;
    }
    if (outcome.kind === 'refused') {
      console.error(`refused: ${outcome.reason}`);
      return EXIT.badInput;
    }
    console.log(`${outcome.result.action} accepted for stage ${outcome.result.stage} of run ${outcome.result.runId}`);
    return EXIT.ok;
  };

  program
    .command('retry-stage <runId>')
    .description('run the failed stage of a waiting run again, optionally with corrected options (validated like the run config)')
    .option('--set <key=value>', 'a dotted path inside the stage config and its value (YAML: numbers, true/false, lists); repeatable', collectSettings, {})
    .action(async (runId: string, options: { set: Record<string, unknown> }) => {
      await withClient((client) => reportAction(client, runId, { kind: 'retry', ...(Object.keys(options.set).length > 0 ? { overrides: options.set } : {}) }));
    });

  program
    .command('skip-stage <runId>')
    .description('go on without the failed stage of a waiting run (the reason is recorded)')
    .requiredOption('--reason <text>', 'why the stage is skipped')
    .option('--force', 'skip even though later stages read its outputs')
    .action(async (runId: string, options: { reason: string; force?: boolean }) => {
      await withClient((client) => reportAction(client, runId, { kind: 'skip', reason: options.reason, ...(options.force ? { force: true } : {}) }));
    });

  program
    .command('abort <runId>')
    .description('end a waiting run as failed (the reason is recorded)')
    .requiredOption('--reason <text>', 'why the run is aborted')
    .action(async (runId: string, options: { reason: string }) => {
      await withClient((client) => reportAction(client, runId, { kind: 'abort', reason: options.reason }));
    });

  const schedule = program.command('schedule').description('recurring runs (Temporal Schedules): each run gets its own run id and its period from its scheduled time');
  const scheduleSpec = (command: Command) =>
    command
      .requiredOption('--config <file>', 'run config (validated now, carried by the schedule)')
      .option('--cron <expression>', 'cron expression, e.g. "0 6 * * MON"')
      .option('--every <duration>', 'interval, e.g. 7d, 1h')
      .option('--timezone <zone>', 'IANA time zone for cron expressions')
      .option('--overlap <policy>', `when a run is still going at the next time: ${Object.keys(OVERLAP_POLICIES).join('|')}`, 'skip')
      .option('--catchup-window <duration>', 'how late a missed run may still start (after an outage)')
      .option('--jitter <duration>', 'random delay up to this, to spread load')
      .option('--period-unit <unit>', 'day|week|month: what one period of the schedule is', 'week')
      .option('--first-period <iso>', 'start of period 1 (default: the start of the current period)')
      .option('--note <text>', 'a note shown with the schedule')
      .option('--paused', 'create it paused');
  type SpecOptions = { config: string; cron?: string; every?: string; timezone?: string; overlap: string; catchupWindow?: string; jitter?: string; periodUnit: string; firstPeriod?: string; note?: string; paused?: boolean };
  const upsertSchedule = async (id: string, options: SpecOptions): Promise<void> => {
    if (!(options.overlap in OVERLAP_POLICIES)) throw new BadInputError(`--overlap: expected one of ${Object.keys(OVERLAP_POLICIES).join(', ')}`);
    if (!['day', 'week', 'month'].includes(options.periodUnit)) throw new BadInputError('--period-unit: expected day, week or month');
    const config = await loadPipelineConfig(options.config);
    await refuseBadFilesSeenHere(settings, config); // as for a run: a schedule of a config its runs would refuse is refused now
    await withClient(async (client) => {
      const outcome = await createOrUpdateSchedule(client, {
        scheduleId: id,
        config,
        taskQueue: settings.taskQueue,
        overlap: options.overlap as OverlapName,
        periodUnit: options.periodUnit as PeriodUnit,
        ...(options.cron ? { cron: options.cron } : {}),
        ...(options.every ? { every: options.every } : {}),
        ...(options.timezone ? { timezone: options.timezone } : {}),
        ...(options.catchupWindow ? { catchupWindow: options.catchupWindow } : {}),
        ...(options.jitter ? { jitter: options.jitter } : {}),
        ...(options.firstPeriod ? { firstPeriod: options.firstPeriod } : {}),
        ...(options.note ? { note: options.note } : {}),
        ...(options.paused ? { paused: true } : {}),
      });
      console.log(`schedule ${id} ${outcome}`);
      return EXIT.ok;
    });
  };
  scheduleSpec(schedule.command('create <id>').description('create a schedule (or update it, if it exists)')).action(upsertSchedule);
  scheduleSpec(schedule.command('update <id>').description('replace a schedule\'s config, timing and policies')).action(upsertSchedule);
  schedule
    .command('list')
    .description('every schedule, with its next run')
    .action(async () => {
      await withClient(async (client) => {
        for (const item of await listSchedules(client)) {
          console.log([item.scheduleId.padEnd(30), item.state.paused ? 'paused ' : 'active ', item.info.nextActionTimes[0]?.toISOString() ?? '-', item.state.note ?? ''].join('  '));
        }
        return EXIT.ok;
      });
    });
  schedule
    .command('describe <id>')
    .description('a schedule: its timing, state, recent and next runs')
    .action(async (id: string) => {
      await withClient(async (client) => {
        const description = await describeSchedule(client, id);
        if (!description) {
          console.error(`no schedule ${id}`);
          return EXIT.notFound;
        }
        console.log(JSON.stringify({ scheduleId: id, spec: description.spec, state: description.state, policies: description.policies, recentActions: description.info.recentActions, nextActionTimes: description.info.nextActionTimes }, null, 2));
        return EXIT.ok;
      });
    });
  const scheduleCommand = (name: string, description: string, act: (client: Client, id: string, options: { note?: string }) => Promise<void>, withNote = false) => {
    const command = schedule.command(`${name} <id>`).description(description);
    if (withNote) command.option('--note <text>', 'why (shown with the schedule)');
    command.action(async (id: string, options: { note?: string }) => {
      await withClient(async (client) => {
        try {
          await act(client, id, options);
        } catch (err) {
          if (err instanceof ScheduleNotFoundError) {
            console.error(`no schedule ${id}`);
            return EXIT.notFound;
          }
          throw err;
        }
        console.log(`schedule ${id}: ${name} done`);
        return EXIT.ok;
      });
    });
    return command;
  };
  scheduleCommand('pause', 'stop starting runs until unpaused', (client, id, options) => pauseSchedule(client, id, options.note), true);
  scheduleCommand('unpause', 'start runs again', (client, id, options) => unpauseSchedule(client, id, options.note), true);
  scheduleCommand('trigger', 'start a run now, as if scheduled', (client, id) => triggerSchedule(client, id));
  scheduleCommand('delete', 'remove the schedule (its runs stay)', (client, id) => deleteSchedule(client, id));
  schedule
    .command('backfill <id>')
    .description('start the runs the schedule would have started between two times, in order')
    .requiredOption('--from <iso>', 'start (inclusive)')
    .requiredOption('--to <iso>', 'end (exclusive)')
    .action(async (id: string, options: { from: string; to: string }) => {
      const from = new Date(options.from);
      const to = new Date(options.to);
      if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) throw new BadInputError('--from and --to must be ISO dates');
      await withClient(async (client) => {
        await backfillSchedule(client, id, from, to);
        console.log(`schedule ${id}: backfill of ${from.toISOString()} … ${to.toISOString()} requested`);
        return EXIT.ok;
      });
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

  program
    .command('uuid-lookup <uuids...>')
    .description('the identifiers behind de-identified uuids, for people allowed to read the UUID table (to stdout only)')
    .requiredOption('--table <name>', 'the UUID table')
    .option('--backend <backend>', 'local (under the data home) or firestore', 'local')
    .option('--project <id>', 'firestore: the Google Cloud project')
    .option('--credentials <url>', 'firestore: a service-account key file (gs:// or file://)')
    .action(async (uuids: string[], options: { table: string; backend: string; project?: string; credentials?: string }) => {
      if (options.backend !== 'local' && options.backend !== 'firestore') throw new BadInputError(`--backend: expected local or firestore, got ${options.backend}`);
      // A table refuses to open under another prefix than its own; every uuid carries it before its uuid4.
      const uuidPrefix = uuids[0]!.slice(0, Math.max(0, uuids[0]!.length - UUID4_LENGTH));
      const opened = await openUuidTableFor(
        { backend: options.backend, table: options.table, uuidPrefix, ...(options.project ? { projectId: options.project } : {}), ...(options.credentials ? { credentialsFileUrl: options.credentials } : {}) },
        settings.dataHome,
        createBlobStore(settings),
      );
      try {
        const { unknown } = await uuidLookup(opened.table, uuids, (line) => console.log(line));
        if (unknown.length > 0) console.error(`not in table ${options.table}: ${unknown.join(' ')}`);
        exitCode = unknown.length > 0 ? EXIT.notFound : EXIT.ok;
      } finally {
        await opened.close();
      }
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof BadInputError) {
      console.error(err.message);
      return EXIT.badInput;
    }
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
    // Bad settings (the environment) are bad input too: one message naming the variable, no stack trace.
    if (err instanceof ProblemsError || err instanceof BadInputError) {
      console.error(err.message);
      process.exit(EXIT.badInput);
    }
    console.error(err);
    process.exit(1);
  },
);
