/**
 * Rapid Pro source: the runs of the configured flows and the workspace's contacts, incrementally.
 *
 * Incremental windows: the API lists newest first, so the newest `modified_on` seen is no safe cursor
 * while older pages are still to come. Each fetch reads the window (after, before], `after` one
 * microsecond past the previous window's end and `before` the time the fetch was planned, and the end
 * is recorded in `raw/<source>/.cursors.json` only once every window of the source is written. Within a
 * window, the heartbeat carries the next page URL, so a retried attempt requests no page twice. A run
 * modified again after an earlier fetch appears again in a later window: its newest version wins
 * downstream (remap keeps the newest `modified_on` per run uuid).
 */
import { join } from 'node:path';

import type { Deidentifier } from '../deid/uuid-table';
import { writeFileAtomic } from '../storage/atomic-write';
import { normaliseUrn, readToken, uuidsFor } from './deidentify';
import type { RapidProSourceConfig } from './fetch-sources.stage';
import { formatApiTime, nextMicrosecond, RapidProClient, type RapidProContact, type RapidProRun } from './rapid-pro-client';
import { readJsonIfExists } from './raw-files';
import { type Reject, sourceFolder, type SourceRun, type SourceSummary } from './source-run';

export const CURSORS_FILE = '.cursors.json';

export interface RapidProCursors {
  version: 1;
  flows: Record<string, { name: string; until: string; runId: string }>;
  contacts?: { until: string; runId: string };
}

interface PlannedFlow {
  uuid: string;
  name: string;
  flowType: 'activation' | 'survey';
  file: string;
  after?: string;
}

interface RapidProPlan {
  before: string;
  flows: PlannedFlow[];
  contactsAfter?: string;
}

interface PagePosition {
  next: string | null;
}

function fileSlug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'flow';
}

async function readCursors(path: string): Promise<RapidProCursors> {
  return (await readJsonIfExists<RapidProCursors>(path)) ?? { version: 1, flows: {} };
}

async function plan(run: SourceRun, client: RapidProClient, config: RapidProSourceConfig, cursorsPath: string): Promise<RapidProPlan> {
  const cursors = await readCursors(cursorsPath);
  const activation = await client.resolveFlows(config.activationFlowNames);
  const survey = await client.resolveFlows(config.surveyFlowNames);
  const used = new Set<string>();
  const flows = [...activation.map((flow) => ({ ...flow, flowType: 'activation' as const })), ...survey.map((flow) => ({ ...flow, flowType: 'survey' as const }))].map(
    (flow) => {
      let file = `runs-${fileSlug(flow.name)}.jsonl`;
      if (used.has(file)) file = `runs-${fileSlug(flow.name)}-${flow.uuid.slice(0, 8)}.jsonl`;
      used.add(file);
      const until = cursors.flows[flow.uuid]?.until;
      return { uuid: flow.uuid, name: flow.name, flowType: flow.flowType, file, ...(until ? { after: nextMicrosecond(until) } : {}) };
    },
  );
  return {
    before: formatApiTime(run.deps.now()),
    flows,
    ...(cursors.contacts ? { contactsAfter: nextMicrosecond(cursors.contacts.until) } : {}),
  };
}

/** Records the window ends of a completed source (idempotent: re-applied when a source is found complete). */
export async function advanceCursors(dataRoot: string, summary: SourceSummary): Promise<void> {
  const windows = summary.windows as { before: string; flows: Array<{ uuid: string; name: string }> } | undefined;
  if (!windows) return;
  const path = join(sourceFolder(dataRoot, summary.source), CURSORS_FILE);
  const cursors = await readCursors(path);
  for (const flow of windows.flows) {
    const current = cursors.flows[flow.uuid];
    if (!current || current.until < windows.before) cursors.flows[flow.uuid] = { name: flow.name, until: windows.before, runId: summary.runId };
  }
  if (!cursors.contacts || cursors.contacts.until < windows.before) cursors.contacts = { until: windows.before, runId: summary.runId };
  await writeFileAtomic(path, `${JSON.stringify(cursors, null, 2)}\n`);
}

export async function fetchRapidPro(run: SourceRun, config: RapidProSourceConfig): Promise<SourceSummary> {
  const { deps } = run;
  const token = await readToken(deps.blobStore, config.tokenFileUrl, config.name);
  const client = new RapidProClient({ baseUrl: config.baseUrl, token, source: config.name, http: deps.http });
  const cursorsPath = join(sourceFolder(deps.dataRoot, config.name), CURSORS_FILE);
  if (run.plan === undefined) run.setPlan(await plan(run, client, config, cursorsPath));
  const planned = run.plan as RapidProPlan;
  const testContacts = new Set(config.testContactUuids);
  const contactCache = new Map<string, string | null>();

  /** URN of a contact whose run came without one (anonymised or older workspaces), looked up once. */
  async function urnOfContact(uuid: string): Promise<string | null> {
    if (!contactCache.has(uuid)) {
      const page = await client.page<RapidProContact>(client.url('contacts', { uuid }));
      if (contactCache.size > 10_000) contactCache.clear(); // bounded memory
      contactCache.set(uuid, page.results[0]?.urns[0] ?? null);
    }
    return contactCache.get(uuid)!;
  }

  for (const flow of planned.flows) {
    await run.unit<PagePosition>(flow.file, { flowType: flow.flowType, origin: flow.name }, async (page, resumeFrom) => {
      let url = resumeFrom ? resumeFrom.next : client.url('runs', { flow: flow.uuid, after: flow.after, before: planned.before });
      while (url) {
        const { results, next } = await client.page<RapidProRun>(url);
        const { records, rejects } = await deidentifyRuns(results, flow, testContacts, urnOfContact, deps.deidentifier);
        await page(records, rejects, { next });
        url = next;
      }
    });
  }

  await run.unit<PagePosition>('contacts.jsonl', { origin: 'contacts' }, async (page, resumeFrom) => {
    let url = resumeFrom ? resumeFrom.next : client.url('contacts', { after: planned.contactsAfter, before: planned.before });
    while (url) {
      const { results, next } = await client.page<RapidProContact>(url);
      const { records, rejects } = await deidentifyContacts(results, testContacts, deps.deidentifier);
      await page(records, rejects, { next });
      url = next;
    }
  });

  const summary = await run.complete({ before: planned.before, flows: planned.flows.map(({ uuid, name }) => ({ uuid, name })) });
  await advanceCursors(deps.dataRoot, summary);
  return summary;
}

/**
 * De-identified run records: the contact (uuid, name, URN) is replaced by `participant_uuid`, the uuid
 * of the contact's URN; the run's values (the answers) are kept.
 */
async function deidentifyRuns(
  runs: readonly RapidProRun[],
  flow: PlannedFlow,
  testContacts: ReadonlySet<string>,
  urnOfContact: (uuid: string) => Promise<string | null>,
  deidentifier: Deidentifier,
): Promise<{ records: unknown[]; rejects: Reject[] }> {
  const rejects: Reject[] = [];
  const usable: Array<{ run: RapidProRun; id: string }> = [];
  for (const run of runs) {
    const at = { flow: flow.name, run_id: typeof run?.id === 'number' ? run.id : null };
    if (!run || typeof run.uuid !== 'string' || typeof run.modified_on !== 'string' || typeof run.values !== 'object' || run.values === null) {
      rejects.push({ reason: 'run without uuid, modified_on or values', at });
      continue;
    }
    if (!run.contact || typeof run.contact.uuid !== 'string') {
      rejects.push({ reason: 'run without a contact', at });
      continue;
    }
    let urn = typeof run.contact.urn === 'string' && !run.contact.urn.includes('*') ? run.contact.urn : null;
    if (!urn) urn = await urnOfContact(run.contact.uuid);
    const normalised = urn ? normaliseUrn(urn) : { problem: 'contact has no URN' };
    if ('problem' in normalised) {
      rejects.push({ reason: normalised.problem, at });
      continue;
    }
    usable.push({ run, id: normalised.id });
  }
  const uuids = await uuidsFor(deidentifier, usable.map(({ id }) => id));
  const records = usable.map(({ run, id }) => ({
    flow_type: flow.flowType,
    run_uuid: run.uuid,
    run_id: run.id,
    flow: { uuid: run.flow?.uuid ?? flow.uuid, name: run.flow?.name ?? flow.name },
    participant_uuid: uuids.get(id)!,
    ...(testContacts.has(run.contact.uuid) ? { test_run: true } : {}),
    start: run.start ?? null,
    responded: run.responded ?? null,
    path: run.path ?? null,
    values: run.values,
    created_on: run.created_on ?? null,
    modified_on: run.modified_on,
    exited_on: run.exited_on ?? null,
    exit_type: run.exit_type ?? null,
  }));
  return { records, rejects };
}

/** De-identified contacts: name, URNs and the platform uuid dropped; language, fields and groups kept. */
async function deidentifyContacts(
  contacts: readonly RapidProContact[],
  testContacts: ReadonlySet<string>,
  deidentifier: Deidentifier,
): Promise<{ records: unknown[]; rejects: Reject[] }> {
  const rejects: Reject[] = [];
  const usable: Array<{ contact: RapidProContact; id: string }> = [];
  for (const contact of contacts) {
    const urns = Array.isArray(contact?.urns) ? contact.urns : [];
    const normalised = urns.map(normaliseUrn).find((n): n is { id: string } => 'id' in n);
    if (!normalised) {
      rejects.push({ reason: urns.length === 0 ? 'contact has no URN' : 'contact has no URN this pipeline de-identifies', at: { contacts: 'page', modified_on: contact?.modified_on ?? null } });
      continue;
    }
    usable.push({ contact, id: normalised.id });
  }
  const uuids = await uuidsFor(deidentifier, usable.map(({ id }) => id));
  const records = usable.map(({ contact, id }) => ({
    participant_uuid: uuids.get(id)!,
    ...(testContacts.has(contact.uuid) ? { test_contact: true } : {}),
    language: contact.language ?? null,
    groups: (contact.groups ?? []).map((group) => group.name),
    fields: contact.fields ?? {},
    blocked: contact.blocked ?? null,
    stopped: contact.stopped ?? null,
    created_on: contact.created_on,
    modified_on: contact.modified_on,
  }));
  return { records, rejects };
}
