/**
 * The bad-input corpus (test/fixtures/bad-inputs/) as test suites: every case run through the real CLI, each
 * with its own data home and its own task queue, must be refused before any side effect: exit 2, a message
 * naming the path, no stack trace, within a deadline, nothing created or changed in its folder (data home
 * and the folder outside it), no workflow started on its task queue, no schedule created. A valid control
 * config run through the same harness must start a workflow the same query finds, so the checks can fail.
 *
 * The corpus is split in parts, one test file each, so each file stays within the test runner's time limit
 * on a busy machine: every CLI run loads the whole project.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';

import { waitUntil } from '../../scripts/lib/processes';
import { type BadInputCase, loadCorpus, mapWithLimit, prepareCase, runCli, snapshotTree, treeChanges } from './bad-input-cases';
import { testDataConverter } from './encryption';
import { temporaryFolder, testServers } from './environment';
import { recordReliabilityFigures } from './reliability-figures';

/** The parts of the corpus, by group (a case id's first word), and the test file that runs each. */
export const BAD_INPUT_PARTS = {
  configs: ['config', 'sources', 'env', 'schedule', 'run'], // test/bad-inputs.test.ts
  specs: ['spec', 'series', 'qa'], // test/bad-input-specs.test.ts
  imports: ['exhibit', 'bit', 'coding', 'scheme'], // test/bad-input-imports.test.ts
} as const;

/** CLI runs at a time: each is a Node process loading the whole project, mostly CPU. */
const CONCURRENCY = Number(process.env.BAD_INPUTS_CONCURRENCY ?? 4);
/** Longer than any refusal takes on a loaded machine; a CLI still running then counts as a hang. */
const DEADLINE_MS = 90_000;
/** A group's cases, at the concurrency above, on a machine busy with other work. */
const GROUP_TIMEOUT_MS = 15 * 60_000;
/** A stack frame in the output: a crash, not a refusal. */
const STACK_FRAME = /^\s+at .+/m;

interface Outcome {
  badInput: BadInputCase;
  taskQueue: string;
  scheduleId: string;
  problems: string[];
}

const groupOf = (badInput: BadInputCase): string => badInput.id.split('-')[0]!;

/** The suite of one part of the corpus; its figures are recorded as `bad-inputs-<part>`. */
export function badInputSuite(part: keyof typeof BAD_INPUT_PARTS): void {
  describe(`bad-input corpus: ${part}`, () => {
    const corpus = loadCorpus();
    const { control } = corpus;
    const partGroups: readonly string[] = BAD_INPUT_PARTS[part];
    const cases = corpus.cases.filter((badInput) => partGroups.includes(groupOf(badInput)));
    const tag = `${part}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
    let client: Client;
    let root: string;

    before(async () => {
      client = new Client({ connection: await Connection.connect({ address: testServers.temporalAddress }), dataConverter: testDataConverter() });
      root = await temporaryFolder('bad-inputs');
    });
    after(() => client.connection.close());

    /** The CLI's environment for one case: its data home, its task queue, none of this process's data-root settings. */
    const cliEnv = (dataHome: string, taskQueue: string): NodeJS.ProcessEnv => {
      const { PIPELINE_ALLOWED_DATA_ROOTS: _allowed, PIPELINE_LOCAL_BUCKETS: _buckets, ...env } = process.env;
      return { ...env, TEMPORAL_ADDRESS: testServers.temporalAddress, TEMPORAL_NAMESPACE: 'default', PIPELINE_TASK_QUEUE: taskQueue, PIPELINE_DATA_HOME: dataHome };
    };

    const workflowsOn = async (taskQueue: string): Promise<string[]> => {
      const ids: string[] = [];
      for await (const execution of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) ids.push(execution.workflowId);
      return ids;
    };

    /** Groups by what the input is (the case id's first word), each its own test so a report says where. */
    const groups = new Map<string, BadInputCase[]>();
    for (const badInput of cases) {
      const group = badInput.id.split('-')[0]!;
      groups.set(group, [...(groups.get(group) ?? []), badInput]);
    }
    const outcomes: Outcome[] = [];

    const refuse = async (badInput: BadInputCase): Promise<Outcome> => {
      const index = cases.indexOf(badInput);
      const taskQueue = `bad-inputs-${tag}-${index}`;
      const scheduleId = `bad-inputs-${tag}-${badInput.id}`;
      const prepared = await prepareCase(root, badInput, { SCHEDULE_ID: scheduleId });
      const before = await snapshotTree(prepared.folder);
      const run = await runCli(prepared.args, { ...cliEnv(prepared.dataHome, taskQueue), ...prepared.env }, DEADLINE_MS);
      const problems: string[] = [];
      if (run.timedOut) problems.push(`still running after ${DEADLINE_MS} ms (killed)`);
      else if (run.code !== 2) problems.push(`exit code ${run.code}, expected 2`);
      for (const fragment of badInput.expect ?? []) {
        const expected = fragment.replaceAll('${CASE}', prepared.folder);
        if (!run.output.includes(expected)) problems.push(`the output does not name ${JSON.stringify(expected)}`);
      }
      if (STACK_FRAME.test(run.output)) problems.push('the output holds a stack trace');
      const changes = treeChanges(before, await snapshotTree(prepared.folder));
      if (changes.length > 0) problems.push(`the case folder changed: ${changes.slice(0, 5).join(', ')}`);
      if (problems.length > 0) problems.push(`output: ${run.output.trim().slice(0, 600)}`);
      return { badInput, taskQueue, scheduleId, problems };
    };

    const report = (list: Outcome[]): string[] =>
      list.filter((outcome) => outcome.problems.length > 0).map((outcome) => `${outcome.badInput.id} (${outcome.badInput.why}):\n    ${outcome.problems.join('\n    ')}`);

    for (const [group, members] of groups) {
      it(`refuses the ${members.length} "${group}" cases: exit 2, the path named, no stack trace, nothing written, within ${DEADLINE_MS / 1000} s`, { timeout: GROUP_TIMEOUT_MS }, async () => {
        const results = await mapWithLimit(members, CONCURRENCY, refuse);
        outcomes.push(...results);
        const failures = report(results);
        assert.deepEqual(failures, [], `${failures.length} of ${members.length} were not refused cleanly:\n${failures.join('\n')}`);
      });
    }

    it('started no workflow and no schedule for any case, where the same query finds the valid control run', { timeout: GROUP_TIMEOUT_MS }, async () => {
      assert.ok(corpus.cases.length >= 60, `the corpus has ${corpus.cases.length} cases`);
      const parted = new Set<string>(Object.values(BAD_INPUT_PARTS).flat());
      assert.deepEqual(corpus.cases.filter((badInput) => !parted.has(groupOf(badInput))).map((badInput) => badInput.id), [], 'every case belongs to a part');
      assert.equal(outcomes.length, cases.length, 'every group ran');
      // The control goes through the same harness last: once the query sees its workflow, it would have seen
      // any workflow a bad case started before it.
      const controlQueue = `bad-inputs-${tag}-control`;
      const preparedControl = await prepareCase(root, control, {});
      const controlRun = await runCli(preparedControl.args, cliEnv(preparedControl.dataHome, controlQueue), DEADLINE_MS);
      assert.equal(controlRun.code, 0, `the valid control config was not started:\n${controlRun.output}`);
      const controlWorkflow = /started run \S+ \(workflow (\S+)\)/.exec(controlRun.output)?.[1];
      assert.ok(controlWorkflow, controlRun.output);
      await waitUntil('the control run in the workflow list', async () => (await workflowsOn(controlQueue)).includes(controlWorkflow), 30_000);
      await client.workflow.getHandle(controlWorkflow).terminate('bad-inputs control: only its start was checked');

      const sideEffects: Outcome[] = [];
      for (const outcome of outcomes) {
        const started = await workflowsOn(outcome.taskQueue);
        const problems = started.length > 0 ? [`workflows started: ${started.join(', ')}`] : [];
        if (outcome.badInput.args?.[0] === 'schedule') {
          const made = await client.schedule.getHandle(outcome.scheduleId).describe().then(
            () => true,
            (err: unknown) => {
              if (err instanceof ScheduleNotFoundError) return false;
              throw err;
            },
          );
          if (made) {
            problems.push(`schedule ${outcome.scheduleId} was created`);
            await client.schedule.getHandle(outcome.scheduleId).delete();
          }
        }
        if (problems.length > 0) {
          outcome.problems.unshift(...problems);
          sideEffects.push(outcome);
        }
      }

      const refused = outcomes.filter((outcome) => outcome.problems.length === 0).length;
      await recordReliabilityFigures(`bad-inputs-${part}`, { bad_inputs: cases.length, refused_before_side_effects: refused });
      console.log(`${part}: bad_inputs=${cases.length} refused_before_side_effects=${refused} (${CONCURRENCY} CLI runs at a time)`);
      const failures = report(sideEffects);
      assert.deepEqual(failures, [], `${failures.length} of ${cases.length} bad inputs started something:\n${failures.join('\n')}`);
    });
  });
}
