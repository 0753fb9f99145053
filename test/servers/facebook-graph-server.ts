/**
 * A local server speaking the Graph API subset the Facebook source uses (there is no emulator):
 * `/<version>/<page-id>/published_posts?since&until&fields&limit` (newest first) and
 * `/<version>/<post-id>/comments?filter=stream|toplevel&fields&limit` (chronological; stream includes
 * replies, with `parent`). Replies `{data, paging:{cursors:{before,after}, next?}}`, `next` a full URL
 * that repeats the query (and the access_token, when one came as a parameter, as Graph does).
 * Errors `{error:{message,type,code,error_subcode,fbtrace_id}}` with HTTP 400 (403 for rate limits).
 * Tokens are accepted as `Authorization: Bearer|OAuth <t>` or `access_token=`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { LoopbackHttpServer } from './loopback-server';

export interface GraphServerComment {
  id: string;
  message: string;
  created_time: string;
  from?: { id: string; name: string };
  parent?: { id: string };
}

export interface GraphServerPost {
  id: string;
  message: string;
  created_time: string;
  comments: GraphServerComment[];
}

export interface GraphFault {
  /** Path suffix the fault applies to (`comments`, `published_posts`); all when absent. */
  edge?: 'comments' | 'published_posts';
  code: number;
  times: number;
}

export interface GraphLoggedRequest {
  path: string;
  /** Query without access_token. */
  query: Record<string, string>;
  status: number;
}

const MESSAGES: Record<number, { message: string; type: string; status: number }> = {
  1: { message: 'An unknown error has occurred.', type: 'OAuthException', status: 500 },
  2: { message: 'An unexpected error has occurred. Please retry your request later.', type: 'OAuthException', status: 503 },
  4: { message: '(#4) Application request limit reached', type: 'OAuthException', status: 403 },
  17: { message: '(#17) User request limit reached', type: 'OAuthException', status: 403 },
  32: { message: '(#32) Page request limit reached', type: 'OAuthException', status: 403 },
  613: { message: '(#613) Calls to this api have exceeded the rate limit.', type: 'OAuthException', status: 403 },
  100: { message: '(#100) Invalid parameter', type: 'GraphMethodException', status: 400 },
  190: { message: 'Error validating access token: Session has expired.', type: 'OAuthException', status: 400 },
};

/** Graph's time format, `2020-01-01T10:00:00+0000`. */
export function graphTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '+0000');
}

export class FacebookGraphServer extends LoopbackHttpServer<GraphFault> {
  readonly posts: GraphServerPost[] = [];
  readonly requests: GraphLoggedRequest[] = [];
  private trace = 0;

  constructor(private readonly options: { token: string; pageId: string; version?: string }) {
    super();
  }

  get version(): string {
    return this.options.version ?? 'v21.0';
  }

  /** A post with `comments` top-level comments, each with `repliesEach` replies, by `commenters`. */
  addPost(options: { id: string; message: string; createdTime: Date; comments: number; repliesEach?: number; commenters: Array<{ id: string; name: string }> }): GraphServerPost {
    const post: GraphServerPost = { id: options.id, message: options.message, created_time: graphTime(options.createdTime), comments: [] };
    let at = options.createdTime.getTime();
    let n = 0;
    for (let i = 0; i < options.comments; i += 1) {
      const commenter = options.commenters[n++ % options.commenters.length]!;
      at += 60_000;
      const top: GraphServerComment = { id: `${options.id.split('_').pop()}_${1000 + post.comments.length}`, message: `comment ${i} on ${options.id}`, created_time: graphTime(new Date(at)), from: commenter };
      post.comments.push(top);
      for (let r = 0; r < (options.repliesEach ?? 0); r += 1) {
        at += 60_000;
        const replier = options.commenters[n++ % options.commenters.length]!;
        post.comments.push({ id: `${options.id.split('_').pop()}_${1000 + post.comments.length}`, message: `reply ${r} to ${top.id}`, created_time: graphTime(new Date(at)), from: replier, parent: { id: top.id } });
      }
    }
    this.posts.push(post);
    return post;
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const query = Object.fromEntries(url.searchParams);
    const tokenParam = query.access_token;
    delete query.access_token;
    const reply = (status: number, body: unknown) => {
      this.requests.push({ path: url.pathname, query, status });
      res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
    };
    const error = (code: number, subcode?: number, message?: string) => {
      const known = MESSAGES[code] ?? { message: 'Unknown error', type: 'OAuthException', status: 400 };
      this.trace += 1;
      reply(known.status, { error: { message: message ?? known.message, type: known.type, code, ...(subcode ? { error_subcode: subcode } : {}), fbtrace_id: `A${this.trace.toString(36).padStart(10, 'x')}` } });
    };

    const header = /^(?:Bearer|OAuth) (.+)$/.exec(req.headers.authorization ?? '');
    const token = header?.[1] ?? tokenParam;
    if (!token) return error(104 as number, undefined, 'An access token is required to request this resource.');
    if (token !== this.options.token) return error(190, 463);

    const match = new RegExp(`^/${this.version.replace('.', '\\.')}/([^/]+)/(comments|published_posts)$`).exec(url.pathname);
    if (!match) return error(100, 33, `Unsupported get request. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`);
    const [, id, edge] = match as unknown as [string, string, 'comments' | 'published_posts'];

    const fault = this.faults.find((f) => f.times > 0 && (!f.edge || f.edge === edge));
    if (fault) {
      fault.times -= 1;
      return error(fault.code);
    }

    const limit = Math.min(Number(query.limit ?? 25) || 25, 100);
    let items: unknown[];
    if (edge === 'published_posts') {
      if (id !== this.options.pageId) return error(100, 33, `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`);
      const since = query.since ? Number(query.since) * 1000 : -Infinity;
      const until = query.until ? Number(query.until) * 1000 : Infinity;
      items = this.posts
        .filter((post) => {
          const t = Date.parse(post.created_time.replace('+0000', 'Z'));
          return t >= since && t <= until;
        })
        .sort((a, b) => (a.created_time < b.created_time ? 1 : -1))
        .map(({ id: postId, message, created_time }) => ({ id: postId, message, created_time }));
    } else {
      const post = this.posts.find((p) => p.id === id);
      if (!post) return error(100, 33, `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`);
      const stream = query.filter === 'stream';
      const fields = new Set((query.fields ?? 'id,message,created_time').split(','));
      items = post.comments
        .filter((comment) => stream || !comment.parent)
        .map((comment) => ({
          id: comment.id,
          ...(fields.has('message') ? { message: comment.message } : {}),
          ...(fields.has('created_time') ? { created_time: comment.created_time } : {}),
          ...(fields.has('from') && comment.from ? { from: comment.from } : {}),
          ...(fields.has('parent') && comment.parent ? { parent: { id: comment.parent.id } } : {}),
        }));
    }
    // Cursors are opaque base64 of the offset, as Graph's are opaque.
    const offset = query.after ? Number(Buffer.from(query.after, 'base64').toString()) : 0;
    const data = items.slice(offset, offset + limit);
    const cursors = { before: Buffer.from(String(offset)).toString('base64'), after: Buffer.from(String(offset + data.length)).toString('base64') };
    const paging: Record<string, unknown> = { cursors };
    if (offset + limit < items.length) {
      const next = new URL(url.href);
      next.searchParams.set('after', cursors.after);
      paging.next = next.href; // keeps access_token when the request had one, as Graph's links do
    }
    reply(200, { data, paging });
  }
}
