/**
 * Facebook source through the Graph API: the comments (top-level and replies, `filter=stream`) of posts
 * given by id, or of the page's published posts whose message contains `match` and which were created
 * in [startDate, endDate). Pages follow `paging.next`. The page token goes in the Authorization header;
 * `access_token` is stripped from every `next` link, so no URL we log or heartbeat carries it.
 * Graph errors `{error:{code}}`: 4, 17, 32, 341, 613 (and 80001, the page-level limit) are rate limits, waited
 * out and retried; 1 and 2 are transient; 190/102 (token) and 100 (bad parameter), 10 and 200–299
 * (permissions) cannot succeed on retry. A commenter's app-scoped id (`from.id`) is de-identified as
 * `facebook:<id>`; comments without `from` (the Graph leaves it out without page-level access) keep
 * `participant_uuid: null`.
 */
import { normaliseFacebookId } from '../deid/normalise';
import type { Deidentifier } from '../deid/uuid-table';
import { BadInputError } from '../errors';
import { readToken, uuidsFor } from './deidentify';
import type { FacebookSourceConfig } from './fetch-sources.stage';
import { getJson, type HttpPolicy, sameOriginUrl, type Verdict } from './http';
import type { Reject, SourceRun, SourceSummary } from './source-run';

// Throttling per Graph's error-handling guide: app, user, page and custom limits (341: application limit).
const RATE_LIMIT_CODES = new Set([4, 17, 32, 341, 613, 80001]);
const TRANSIENT_CODES = new Set([1, 2]);

interface GraphError {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
}

export interface GraphComment {
  id?: string;
  message?: string;
  created_time?: string;
  from?: { id?: string; name?: string };
  parent?: { id?: string };
}

export interface GraphPost {
  id: string;
  message?: string;
  created_time: string;
}

function classify(status: number, body: unknown): Verdict {
  const error = (body as { error?: GraphError } | undefined)?.error;
  if (status === 200 && !error) {
    return Array.isArray((body as { data?: unknown } | undefined)?.data) ? { kind: 'ok' } : { kind: 'transient', reason: 'a 200 reply without data' };
  }
  const code = error?.code;
  const reason = `Graph error ${code ?? 'without code'}${error?.type ? ` (${error.type})` : ''}: ${error?.message ?? `HTTP ${status}`}`;
  if (code !== undefined && RATE_LIMIT_CODES.has(code)) return { kind: 'rate-limited', reason };
  if (code !== undefined && TRANSIENT_CODES.has(code)) return { kind: 'transient', reason };
  if (code === 190 || code === 102) return { kind: 'fatal', reason: `the page token was refused — ${reason}` };
  if (code === 100) return { kind: 'fatal', reason: `bad parameter — ${reason}` };
  if (code === 10 || (code !== undefined && code >= 200 && code < 300)) return { kind: 'fatal', reason: `permission — ${reason}` };
  if (status >= 500 || status === 429) return { kind: 'transient', reason };
  // An unknown code on a 4xx: Facebook documents retrying only the codes above.
  return { kind: 'fatal', reason };
}

/** A `next` link without its access_token (it travels in the header instead). */
function withoutToken(link: string): string {
  const url = new URL(link);
  url.searchParams.delete('access_token');
  return url.href;
}

export class GraphClient {
  private readonly root: string;

  constructor(private readonly options: { baseUrl: string; version: string; token: string; source: string; http: HttpPolicy }) {
    this.root = `${options.baseUrl.replace(/\/+$/, '')}/${options.version}/`;
  }

  url(path: string, query: Record<string, string>): string {
    const url = new URL(path.split('/').map(encodeURIComponent).join('/'), this.root);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    return url.href;
  }

  async page<T>(url: string): Promise<{ data: T[]; next: string | null }> {
    const body = (await getJson(
      { url: sameOriginUrl(url, this.root, this.options.source), headers: { Authorization: `Bearer ${this.options.token}` }, source: this.options.source, classify },
      this.options.http,
    )) as { data: T[]; paging?: { next?: string } };
    const next = body.paging?.next ? withoutToken(sameOriginUrl(body.paging.next, this.root, this.options.source)) : null;
    return { data: body.data, next };
  }

  commentsUrl(postId: string): string {
    return this.url(`${postId}/comments`, { filter: 'stream', fields: 'id,message,created_time,from,parent', limit: '100' });
  }

  postsUrl(pageId: string, since: Date, until: Date): string {
    return this.url(`${pageId}/published_posts`, {
      since: String(Math.floor(since.getTime() / 1000)),
      until: String(Math.ceil(until.getTime() / 1000)),
      fields: 'id,message,created_time',
      limit: '100',
    });
  }
}

/** Graph times look like `2020-01-01T10:00:00+0000`. */
export function parseGraphTime(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const ms = Date.parse(text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

interface DatasetPosition {
  /** The posts whose comments make the dataset, decided once (search results are not re-run). */
  posts: string[];
  post: number;
  next: string | null;
}

export async function fetchFacebook(run: SourceRun, config: FacebookSourceConfig): Promise<SourceSummary> {
  const { deps } = run;
  const token = await readToken(deps.blobStore, config.tokenFileUrl, config.name);
  const client = new GraphClient({ baseUrl: config.graphApiBaseUrl, version: config.graphApiVersion, token, source: config.name, http: deps.http });

  for (const dataset of config.datasets) {
    await run.unit<DatasetPosition>(`${dataset.name}.jsonl`, { flowType: 'activation', origin: dataset.name }, async (page, resumeFrom) => {
      let position = resumeFrom;
      if (!position) {
        const posts = new Set(dataset.postIds ?? []);
        if (dataset.search) {
          const start = new Date(dataset.search.startDate);
          const end = new Date(dataset.search.endDate);
          for (let url: string | null = client.postsUrl(config.pageId, start, end); url; ) {
            const result: { data: GraphPost[]; next: string | null } = await client.page<GraphPost>(url);
            for (const post of result.data) {
              const created = parseGraphTime(post.created_time);
              // since/until are whole seconds and inclusive: the exact window is applied here.
              if (created && created >= start.toISOString() && created < end.toISOString() && post.message?.includes(dataset.search.match)) posts.add(post.id);
            }
            url = result.next;
          }
        }
        position = { posts: [...posts], post: 0, next: null };
        await page([], [], position);
      }
      for (let index = position.post; index < position.posts.length; index += 1) {
        const postId = position.posts[index]!;
        let url: string | null = index === position.post && position.next ? position.next : client.commentsUrl(postId);
        while (url) {
          const result: { data: GraphComment[]; next: string | null } = await client.page<GraphComment>(url);
          const { records, rejects } = await deidentifyComments(result.data, dataset.name, postId, deps.deidentifier);
          const next = result.next;
          // Where to go next: this post's next page, or the start of the following post.
          await page(records, rejects, next ? { posts: position.posts, post: index, next } : { posts: position.posts, post: index + 1, next: null });
          url = next;
        }
      }
    });
  }
  return run.complete();
}

async function deidentifyComments(
  comments: readonly GraphComment[],
  dataset: string,
  postId: string,
  deidentifier: Deidentifier,
): Promise<{ records: unknown[]; rejects: Reject[] }> {
  const rejects: Reject[] = [];
  const usable: Array<{ comment: GraphComment; created: string; id?: string }> = [];
  for (const comment of comments) {
    const at = { dataset, post_id: postId, comment_id: typeof comment?.id === 'string' ? comment.id : null };
    const created = parseGraphTime(comment?.created_time);
    if (typeof comment?.id !== 'string' || !created) {
      rejects.push({ reason: 'comment without id or created_time', at });
      continue;
    }
    let id: string | undefined;
    if (comment.from?.id !== undefined) {
      try {
        id = normaliseFacebookId(String(comment.from.id));
      } catch (err) {
        if (!(err instanceof BadInputError)) throw err;
        rejects.push({ reason: `from.id: ${err.message}`, at });
        continue;
      }
    }
    usable.push({ comment, created, ...(id ? { id } : {}) });
  }
  const uuids = await uuidsFor(deidentifier, usable.flatMap(({ id }) => (id ? [id] : [])));
  const records = usable.map(({ comment, created, id }) => ({
    flow_type: 'activation',
    dataset,
    post_id: postId,
    comment_id: comment.id,
    parent_id: comment.parent?.id ?? null,
    participant_uuid: id ? uuids.get(id)! : null,
    message: comment.message ?? '',
    created_time: created,
  }));
  return { records, rejects };
}
