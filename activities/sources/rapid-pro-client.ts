/**
 * Rapid Pro API v2 as its server really speaks it (nyaruka/rapidpro temba/api/v2): `GET <base>/api/v2/
 * <endpoint>.json`, `Authorization: Token <token>`, pages `{next, previous, results}` newest `modified_on`
 * first, `next` a full URL carrying an opaque `cursor`; `after`/`before` filter `modified_on` inclusively;
 * 429 with `Retry-After` seconds; 401/403 `{detail}` for a bad or under-privileged token.
 */
import { BadInputError } from '../errors';
import { getJson, type HttpPolicy, retryAfterMs, sameOriginUrl, type Verdict } from './http';

export interface RapidProFlow {
  uuid: string;
  name: string;
}

export interface RapidProValue {
  value?: unknown;
  category?: string | null;
  node?: string;
  time?: string;
  name?: string;
  input?: string | null;
}

export interface RapidProRun {
  id: number;
  uuid: string;
  flow: { uuid: string; name: string };
  contact: { uuid: string; urn?: string | null; name?: string | null; urn_display?: string | null; [key: string]: unknown };
  start: { uuid: string } | null;
  responded: boolean;
  path: Array<{ node: string; time: string }> | null;
  values: Record<string, RapidProValue>;
  created_on: string;
  modified_on: string;
  exited_on: string | null;
  exit_type: string | null;
}

export interface RapidProContact {
  uuid: string;
  name?: string | null;
  language?: string | null;
  urns: string[];
  groups?: Array<{ uuid: string; name: string }>;
  fields?: Record<string, unknown>;
  blocked?: boolean;
  stopped?: boolean;
  status?: string;
  created_on: string;
  modified_on: string;
  [key: string]: unknown;
}

export interface Page<T> {
  results: T[];
  next: string | null;
}

/**
 * API dates are UTC with microseconds, `YYYY-MM-DDThh:mm:ss.ffffffZ`. Windows are built from these strings
 * so their bounds keep microsecond precision (a JS Date has only milliseconds).
 */
export function formatApiTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The API time one microsecond after `time`: the next window starts there, since `after` is inclusive. */
export function nextMicrosecond(time: string): string {
  const match = /^(.*T\d{2}:\d{2}:\d{2})\.(\d{1,6})Z$/.exec(time);
  if (!match) throw new Error(`not an API time: ${time}`);
  const micros = Number(match[2]!.padEnd(6, '0')) + 1;
  if (micros < 1_000_000) return `${match[1]}.${String(micros).padStart(6, '0')}Z`;
  const nextSecond = new Date(Date.parse(`${match[1]}Z`) + 1000);
  return nextSecond.toISOString().replace(/\.\d{3}Z$/, '.000000Z');
}

function detailOf(body: unknown): string {
  const detail = (body as { detail?: unknown } | undefined)?.detail;
  return typeof detail === 'string' ? detail : 'no detail';
}

function classify(status: number, body: unknown, headers: Headers): Verdict {
  if (status === 200) {
    const results = (body as { results?: unknown } | undefined)?.results;
    return Array.isArray(results) ? { kind: 'ok' } : { kind: 'transient', reason: 'a 200 reply without a results list' };
  }
  if (status === 401 || status === 403) return { kind: 'fatal', reason: `the API token was refused: ${detailOf(body)}` };
  if (status === 429) {
    const waitMs = retryAfterMs(headers.get('retry-after'));
    return { kind: 'rate-limited', reason: detailOf(body), ...(waitMs === undefined ? {} : { waitMs }) };
  }
  if (status >= 500) return { kind: 'transient', reason: `server error ${status}` };
  if (status === 404) return { kind: 'fatal', reason: 'not found: is baseUrl a Rapid Pro workspace?' };
  return { kind: 'fatal', reason: `request refused: ${detailOf(body)}` };
}

export class RapidProClient {
  private readonly apiRoot: string;

  constructor(
    private readonly options: { baseUrl: string; token: string; source: string; http: HttpPolicy },
  ) {
    this.apiRoot = `${options.baseUrl.replace(/\/+$/, '')}/api/v2/`;
  }

  /** First page URL of an endpoint with query parameters (undefined ones left out). */
  url(endpoint: 'flows' | 'runs' | 'contacts', query: Record<string, string | undefined> = {}): string {
    const url = new URL(`${endpoint}.json`, this.apiRoot);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, value);
    return url.href;
  }

  async page<T>(url: string): Promise<Page<T>> {
    const body = (await getJson(
      {
        url: sameOriginUrl(url, this.apiRoot, this.options.source),
        headers: { Authorization: `Token ${this.options.token}` },
        source: this.options.source,
        classify,
      },
      this.options.http,
    )) as { results: T[]; next?: string | null };
    const next = body.next ? sameOriginUrl(body.next, this.apiRoot, this.options.source) : null;
    return { results: body.results, next };
  }

  async listFlows(): Promise<RapidProFlow[]> {
    const flows: RapidProFlow[] = [];
    for (let url: string | null = this.url('flows'); url; ) {
      const page: Page<RapidProFlow> = await this.page<RapidProFlow>(url);
      flows.push(...page.results.map(({ uuid, name }) => ({ uuid, name })));
      url = page.next;
    }
    return flows;
  }

  /** Flows by name, in the order asked; an unknown name is bad input listing the flows that exist. */
  async resolveFlows(names: readonly string[]): Promise<RapidProFlow[]> {
    const flows = await this.listFlows();
    const byName = new Map(flows.map((flow) => [flow.name, flow]));
    const missing = names.filter((name) => !byName.has(name));
    if (missing.length > 0) {
      const known = flows.map((flow) => JSON.stringify(flow.name)).sort().join(', ');
      throw new BadInputError(
        `${this.options.source}: no flow named ${missing.map((name) => JSON.stringify(name)).join(', ')}; the workspace has: ${known || 'no flows'}`,
      );
    }
    return names.map((name) => byName.get(name)!);
  }
}
