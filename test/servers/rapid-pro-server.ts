/**
 * A local server speaking Rapid Pro API v2 (there is no emulator): flows.json, runs.json, contacts.json,
 * as nyaruka/rapidpro serves them — newest `modified_on` first, cursor pagination with `next` as a full
 * URL, inclusive `after`/`before` on `modified_on`, `flow`/`uuid` filters (an unknown value gives no
 * results), DRF error bodies `{detail}` for 401/403/404/429 (with Retry-After), HTML for a 500.
 * Seeded with generated flows, contacts (tel: URNs) and runs; runs can be added later and faults
 * injected. The tests, the bench and the demo import it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { seededRandom } from '../helpers/seeded-random';
import { LoopbackHttpServer } from './loopback-server';

/** Microseconds since the epoch: API times have microsecond precision, JS Dates only milliseconds. */
type Micros = bigint;

function formatMicros(micros: Micros): string {
  const ms = Number(micros / 1000n);
  const fraction = String(micros % 1_000_000n).padStart(6, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${fraction}Z`);
}

/** Parses an API time; undefined when invalid (Rapid Pro then returns no results). */
function parseMicros(text: string): Micros | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})?$/.exec(text);
  if (!match) return undefined;
  const ms = Date.parse(`${match[1]}${match[3] ?? 'Z'}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1000n + BigInt((match[2] ?? '0').padEnd(6, '0'));
}


export interface ServerFlow {
  uuid: string;
  name: string;
  kind: 'activation' | 'survey';
}

export interface ServerContact {
  uuid: string;
  name: string;
  urns: string[];
  language: string;
  fields: Record<string, string | null>;
  createdOn: Micros;
  modifiedOn: Micros;
}

export interface ServerRun {
  id: number;
  uuid: string;
  flow: ServerFlow;
  contact: ServerContact;
  values: Record<string, { value: string; category: string; node: string; time: string; name: string; input: string }>;
  createdOn: Micros;
  modifiedOn: Micros;
  /** Malformed on purpose (a test of rejects): served as is. */
  raw?: Record<string, unknown>;
}

export interface Fault {
  /** Endpoint file name the fault applies to, e.g. `runs.json`; every endpoint when absent. */
  endpoint?: string;
  status: 401 | 403 | 404 | 429 | 500 | 502 | 503;
  /** How many matching requests fail. */
  times: number;
  retryAfterSeconds?: number;
}

export interface LoggedRequest {
  method: string;
  endpoint: string;
  /** Query parameters; the Authorization header is never logged. */
  query: Record<string, string>;
  status: number;
}

export interface RapidProServerOptions {
  token: string;
  /** Tokens that authenticate but lack permission (403). */
  forbiddenTokens?: string[];
  /** Results per page (real workspaces: 250 for runs); tests use small pages. */
  pageSize?: number;
  seed?: number;
  /** Activation messages are drawn from these (the demo's radio-show answers); by default `message <n> <word>`. */
  activationTexts?: readonly string[];
}

export interface SeedSpec {
  flows: Array<{ name: string; kind: 'activation' | 'survey'; runs: number }>;
  contacts: number;
  /** modified_on of the first generated run; runs follow `stepMs` apart. */
  start: Date;
  stepMs?: number;
  /** Phone numbers start with this country code. */
  countryCode?: string;
}

export class RapidProServer extends LoopbackHttpServer<Fault> {
  readonly flows: ServerFlow[] = [];
  readonly contacts: ServerContact[] = [];
  /** All runs, kept sorted by (modified_on, id) ascending. */
  private runs: ServerRun[] = [];
  readonly requests: LoggedRequest[] = [];
  private nextRunId = 1;
  private clock: Micros = 0n;
  private readonly random: () => number;
  pageSize: number;

  constructor(private readonly options: RapidProServerOptions) {
    super();
    this.pageSize = options.pageSize ?? 250;
    this.random = seededRandom(options.seed ?? 1);
  }

  get runCount(): number {
    return this.runs.length;
  }

  addFlow(name: string, kind: 'activation' | 'survey'): ServerFlow {
    const flow = { uuid: randomUUIDFrom(this.random), name, kind };
    this.flows.push(flow);
    return flow;
  }

  addContact(phone: string, name = `Contact ${this.contacts.length + 1}`): ServerContact {
    const created = this.tick();
    const contact: ServerContact = {
      uuid: randomUUIDFrom(this.random),
      name,
      urns: [`tel:${phone}`],
      language: this.random() < 0.5 ? 'eng' : 'som',
      fields: { gender: this.random() < 0.5 ? 'female' : 'male', age: String(18 + Math.floor(this.random() * 50)) },
      createdOn: created,
      modifiedOn: created,
    };
    this.contacts.push(contact);
    return contact;
  }

  /** Advances the server clock (monotonic, microseconds) so every record has a distinct modified_on. */
  private tick(at?: Date): Micros {
    const wanted = at ? BigInt(at.getTime()) * 1000n + BigInt(Math.floor(this.random() * 1000)) : this.clock + 1n;
    this.clock = wanted > this.clock ? wanted : this.clock + 1n;
    return this.clock;
  }

  /** Adds a run of `flow` by `contact`, modified at `at` (or just after the newest record). */
  addRun(flow: ServerFlow, contact: ServerContact, at?: Date, text?: string): ServerRun {
    const modifiedOn = this.tick(at);
    const time = formatMicros(modifiedOn);
    const values: ServerRun['values'] = {};
    if (flow.kind === 'activation') {
      const key = flow.name.toLowerCase().replace(/[^a-z0-9]+/g, '_');
      const texts = this.options.activationTexts;
      const input = text ?? (texts ? texts[Math.floor(this.random() * texts.length)]! : `message ${this.nextRunId} ${['yes', 'no', 'maybe', 'peace', 'water'][Math.floor(this.random() * 5)]}`);
      values[key] = { value: input, category: 'All Responses', node: NODE, time, name: flow.name, input };
    } else {
      const gender = this.random() < 0.5 ? 'woman' : 'man';
      values.gender = { value: gender, category: gender === 'woman' ? 'Female' : 'Male', node: NODE, time, name: 'Gender', input: gender };
      const age = String(15 + Math.floor(this.random() * 60));
      values.age = { value: age, category: 'Has Number', node: NODE, time, name: 'Age', input: age };
    }
    const run: ServerRun = { id: this.nextRunId++, uuid: randomUUIDFrom(this.random), flow, contact, values, createdOn: modifiedOn - 1000n, modifiedOn };
    this.insert(run);
    return run;
  }

  /** A run served exactly as given (e.g. without a contact), for malformed-data tests. */
  addRawRun(flow: ServerFlow, raw: Record<string, unknown>, at?: Date): void {
    const modifiedOn = this.tick(at);
    const id = this.nextRunId++;
    this.insert({
      id,
      uuid: randomUUIDFrom(this.random),
      flow,
      contact: this.contacts[0]!,
      values: {},
      createdOn: modifiedOn,
      modifiedOn,
      raw: { id, flow: { uuid: flow.uuid, name: flow.name }, modified_on: formatMicros(modifiedOn), ...raw },
    });
  }

  private insert(run: ServerRun): void {
    const last = this.runs[this.runs.length - 1];
    this.runs.push(run);
    if (last && compareRuns(last, run) > 0) this.runs.sort(compareRuns);
  }

  /** Flows, contacts with `+<countryCode>7…` numbers, and runs spread over contacts, `stepMs` apart. */
  seed(spec: SeedSpec): void {
    const countryCode = spec.countryCode ?? '254';
    for (let i = 0; i < spec.contacts; i += 1) {
      this.addContact(`+${countryCode}7${String(10_000_000 + Math.floor(this.random() * 89_999_999)).slice(0, 8)}`);
    }
    const step = spec.stepMs ?? 1000;
    let at = spec.start.getTime();
    for (const flowSpec of spec.flows) {
      const flow = this.flows.find((f) => f.name === flowSpec.name) ?? this.addFlow(flowSpec.name, flowSpec.kind);
      for (let i = 0; i < flowSpec.runs; i += 1) {
        this.addRun(flow, this.contacts[Math.floor(this.random() * this.contacts.length)]!, new Date(at));
        at += step;
      }
    }
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const endpoint = url.pathname.replace(/^\/api\/v2\//, '');
    const query = Object.fromEntries(url.searchParams);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ method: req.method ?? 'GET', endpoint, query, status });
      if (status === 500) {
        res.writeHead(500, { 'Content-Type': 'text/html; charset=utf-8' }).end('<h1>Server Error (500)</h1>');
        return;
      }
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
    };

    const auth = /^Token (.+)$/.exec(req.headers.authorization ?? '');
    if (!auth) return reply(401, { detail: 'Authentication credentials were not provided.' }, { 'WWW-Authenticate': 'Token' });
    if (this.options.forbiddenTokens?.includes(auth[1]!)) return reply(403, { detail: 'You do not have permission to perform this action.' });
    if (auth[1] !== this.options.token) return reply(401, { detail: 'Invalid token' }, { 'WWW-Authenticate': 'Token' });

    const fault = this.faults.find((f) => f.times > 0 && (!f.endpoint || f.endpoint === endpoint));
    if (fault) {
      fault.times -= 1;
      if (fault.status === 429) {
        const seconds = fault.retryAfterSeconds ?? 1;
        return reply(429, { detail: `Request was throttled. Expected available in ${seconds} seconds.` }, { 'Retry-After': String(seconds) });
      }
      if (fault.status === 404) return reply(404, { detail: 'Not found.' });
      if (fault.status === 401) return reply(401, { detail: 'Invalid token' });
      if (fault.status === 403) return reply(403, { detail: 'You do not have permission to perform this action.' });
      return reply(fault.status, { detail: 'Server Error' });
    }
    if (req.method !== 'GET') return reply(405, { detail: `Method "${req.method}" not allowed.` });

    switch (endpoint) {
      case 'flows.json':
        return reply(200, this.listPage(url, this.flows, (flow) => [0n, this.flows.indexOf(flow)] as const, () => true, (flow) => ({
          uuid: flow.uuid,
          name: flow.name,
          type: 'message',
          archived: false,
          labels: [],
          expires: 10080,
          runs: { active: 0, waiting: 0, completed: 0, interrupted: 0, expired: 0, failed: 0 },
          results: [],
          parent_refs: [],
          created_on: '2020-01-01T00:00:00.000000Z',
          modified_on: '2020-01-01T00:00:00.000000Z',
        })));
      case 'runs.json': {
        if (query.flow && query.contact) return reply(400, { detail: 'You may only specify one of the contact, flow parameters' });
        const window = this.window(query);
        if (!window) return reply(200, { next: null, previous: null, results: [] });
        const match = (run: ServerRun) =>
          (query.flow === undefined || run.flow.uuid === query.flow) &&
          (query.uuid === undefined || run.uuid === query.uuid) &&
          (query.contact === undefined || run.contact.uuid === query.contact) &&
          window.test(run.modifiedOn);
        return reply(200, this.listPage(url, this.runs, (run) => [run.modifiedOn, run.id] as const, match, serialiseRun));
      }
      case 'contacts.json': {
        const window = this.window(query);
        if (!window) return reply(200, { next: null, previous: null, results: [] });
        const contacts = [...this.contacts].sort((a, b) => (a.modifiedOn < b.modifiedOn ? -1 : a.modifiedOn > b.modifiedOn ? 1 : 0));
        const match = (contact: ServerContact) => (query.uuid === undefined || contact.uuid === query.uuid) && window.test(contact.modifiedOn);
        return reply(200, this.listPage(url, contacts, (contact) => [contact.modifiedOn, 0] as const, match, serialiseContact));
      }
      default:
        return reply(404, { detail: 'Not found.' });
    }
  }

  /** The after/before filter; undefined for an invalid date, which matches nothing. */
  private window(query: Record<string, string>): { test: (micros: Micros) => boolean } | undefined {
    const after = query.after === undefined ? undefined : parseMicros(query.after);
    const before = query.before === undefined ? undefined : parseMicros(query.before);
    if ((query.after !== undefined && after === undefined) || (query.before !== undefined && before === undefined)) return undefined;
    return { test: (micros) => (after === undefined || micros >= after) && (before === undefined || micros <= before) };
  }

  /**
   * One page, newest first, of `items` (sorted oldest first by `keyOf`) that `match`. The cursor is the
   * (modified_on, id) of the last item served, as DRF's CursorPagination keeps a position: records added
   * while a client pages never shift what it sees. Walks down from the cursor, so a page costs its size.
   */
  private listPage<T>(url: URL, items: readonly T[], keyOf: (item: T) => readonly [bigint, number], match: (item: T) => boolean, serialise: (item: T) => unknown): unknown {
    const cursor = url.searchParams.get('cursor');
    let index = items.length - 1;
    if (cursor) {
      const decoded = /^p=(\d+)&i=(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
      if (decoded) {
        const position: readonly [bigint, number] = [BigInt(decoded[1]!), Number(decoded[2]!)];
        const before = (key: readonly [bigint, number]) => key[0] < position[0] || (key[0] === position[0] && key[1] < position[1]);
        // The last index whose key is before the position.
        let lo = 0;
        let hi = items.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (before(keyOf(items[mid]!))) lo = mid + 1;
          else hi = mid;
        }
        index = lo - 1;
      }
    }
    const page: T[] = [];
    let more = false;
    for (; index >= 0; index -= 1) {
      const item = items[index]!;
      if (!match(item)) continue;
      if (page.length === this.pageSize) {
        more = true;
        break;
      }
      page.push(item);
    }
    let next: string | null = null;
    const last = page[page.length - 1];
    if (more && last) {
      const key = keyOf(last);
      const nextUrl = new URL(url.href);
      nextUrl.searchParams.set('cursor', Buffer.from(`p=${key[0]}&i=${key[1]}`).toString('base64url'));
      next = nextUrl.href;
    }
    return { next, previous: null, results: page.map(serialise) };
  }
}

const NODE = '3d6a3a5c-2f4a-4c0e-9a53-6a3c8f2e0b11';

function compareRuns(a: ServerRun, b: ServerRun): number {
  return a.modifiedOn < b.modifiedOn ? -1 : a.modifiedOn > b.modifiedOn ? 1 : a.id - b.id;
}

function randomUUIDFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = '4';
  hex[16] = '89ab'[Math.floor(random() * 4)]!;
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function serialiseRun(run: ServerRun): unknown {
  if (run.raw) return run.raw;
  const urn = run.contact.urns[0] ?? null;
  return {
    id: run.id,
    uuid: run.uuid,
    flow: { uuid: run.flow.uuid, name: run.flow.name },
    contact: { uuid: run.contact.uuid, name: run.contact.name, urn, urn_display: urn?.replace(/^tel:/, '') ?? null },
    start: null,
    responded: true,
    path: [{ node: NODE, time: formatMicros(run.createdOn) }],
    values: run.values,
    created_on: formatMicros(run.createdOn),
    modified_on: formatMicros(run.modifiedOn),
    exited_on: formatMicros(run.modifiedOn),
    exit_type: 'completed',
  };
}

function serialiseContact(contact: ServerContact): unknown {
  return {
    uuid: contact.uuid,
    name: contact.name,
    status: 'active',
    language: contact.language,
    urns: contact.urns,
    groups: [],
    fields: contact.fields,
    flow: null,
    created_on: formatMicros(contact.createdOn),
    modified_on: formatMicros(contact.modifiedOn),
    last_seen_on: formatMicros(contact.modifiedOn),
    blocked: false,
    stopped: false,
  };
}

/**
 * The demo's workspace: two flows (`s01e01_activation`, `s01_demog`) with a few hundred runs from ~80
 * contacts over the two weeks before `until`, served on a free loopback port. Scripts import this.
 */
/** What listeners text to the demo's radio show: themes a coder recognises, repeats, and some noise. */
export const DEMO_ACTIVATION_TEXTS: readonly string[] = [
  'We need clean water in our village',
  'water is the biggest problem here',
  'The borehole broke, we have no water',
  'Please help us with water tanks',
  'Water for the school children',
  'peace between the clans first',
  'We want peace and security',
  'Peace will bring development',
  'Stop the fighting, we need peace',
  'yes',
  'Yes I agree with the show',
  'yes the government should act',
  'no',
  'No that is not true',
  'no, they never listen',
  'maybe',
  'maybe next year things improve',
  'Not sure maybe',
  'ok',
  'hi',
  'hello',
  'k',
  'Thank you for the programme',
  'Greetings from Baidoa',
  'Stop sending me these messages',
];

export async function startDemoRapidProServer(options: { token: string; until?: Date; activationRuns?: number; surveyRuns?: number }): Promise<RapidProServer> {
  const server = new RapidProServer({ token: options.token, pageSize: 50, seed: 4, activationTexts: DEMO_ACTIVATION_TEXTS });
  const activationRuns = options.activationRuns ?? 300;
  const surveyRuns = options.surveyRuns ?? 80;
  const until = (options.until ?? new Date()).getTime();
  const stepMs = Math.floor((14 * 24 * 3600 * 1000) / (activationRuns + surveyRuns + 1));
  server.seed({
    flows: [
      { name: 's01e01_activation', kind: 'activation', runs: activationRuns },
      { name: 's01_demog', kind: 'survey', runs: surveyRuns },
    ],
    contacts: 80,
    start: new Date(until - 14 * 24 * 3600 * 1000),
    stepMs,
  });
  await server.start();
  return server;
}
