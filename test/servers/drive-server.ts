/**
 * A local server speaking the Drive v3 subset drive-upload uses (Drive has no emulator), and the OAuth
 * token endpoint a service account's JWT client posts to:
 * - `POST /token` (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>`): the
 *   assertion's signature is checked against the registered account's public key; answers an access token.
 * - `GET /drive/v3/files?q&fields&pageSize&pageToken`: `q` with `name = / != / contains`, `mimeType = / !=`,
 *   `'<id>' in parents`, `trashed = true|false`, `sharedWithMe = true|false`, `and`, `or`, `not`, parentheses;
 *   `fields` as `nextPageToken, files(id, name, …)`.
 * - `POST /drive/v3/files` (a folder), `PATCH /drive/v3/files/<id>` (metadata: trashed, name).
 * - `POST /upload/drive/v3/files?uploadType=multipart` (JSON metadata part + media part),
 *   `PATCH /upload/drive/v3/files/<id>?uploadType=media` (new content: a new revision, same id),
 *   `uploadType=resumable` on both (session URI in `Location`; `PUT` chunks with `Content-Range`, 308 with
 *   `Range` until the last; `bytes *\/<total>` asks for the status; non-final chunks in 256 KiB multiples).
 * Errors are Google's body `{error: {code, message, errors: [{domain, reason, message}]}}`. State is in
 * memory; tests read `files`, revisions and `requests`, share folders (as writer or reader) and inject
 * faults (403 rate limits, 429, 5xx, optionally after the operation took effect, as a lost reply).
 */
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { LoopbackHttpServer } from './loopback-server';

export const FOLDER = 'application/vnd.google-apps.folder';
const CHUNK_UNIT = 256 * 1024;

export type DriveOperation = 'token' | 'list' | 'get' | 'create' | 'update' | 'upload-session' | 'upload-chunk';

export interface DriveFault {
  status: 403 | 429 | 500 | 503;
  /** 403's reason; `rateLimitExceeded` by default. */
  reason?: 'rateLimitExceeded' | 'userRateLimitExceeded';
  /** Which requests it hits; all but the token endpoint when absent. */
  operation?: DriveOperation;
  times: number;
  /** The request takes effect, then the error is answered: a reply lost on the way back. */
  afterCommit?: boolean;
}

export interface DriveServerFile {
  id: string;
  name: string;
  mimeType: string;
  parents: string[];
  trashed: boolean;
  sharedWithMe: boolean;
  /** For shared folders: may the account add and change files in it (writer) or only read (reader). */
  role: 'writer' | 'reader';
  createdTime: string;
  modifiedTime: string;
  /** Content revisions, oldest first; folders have none. */
  revisions: Array<{ id: string; content: Buffer; md5: string }>;
}

export interface DriveLoggedRequest {
  method: string;
  path: string;
  operation: DriveOperation | 'unknown';
  uploadType?: string;
  /** The `Content-Range` of a resumable PUT. */
  contentRange?: string;
  status: number;
}

interface UploadSession {
  id: string;
  target: { kind: 'create'; metadata: Record<string, unknown> } | { kind: 'update'; fileId: string };
  mimeType: string;
  total?: number;
  fields?: string;
  received: Buffer;
}

class DriveHttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly domain = 'global',
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

const notFound = (id: string) => new DriveHttpError(404, 'notFound', `File not found: ${id}.`, 'global', { location: 'fileId', locationType: 'parameter' });
const invalidQuery = (detail: string) => new DriveHttpError(400, 'invalid', `Invalid Value: ${detail}`, 'global', { location: 'q', locationType: 'parameter' });

// ---- the `q` language (the subset drive-upload writes) ----

type Token = { kind: 'string'; value: string } | { kind: 'word'; value: string } | { kind: 'op'; value: string };

function tokenize(q: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i]!;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "'") {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= q.length) throw invalidQuery('unterminated string');
        const d = q[i]!;
        if (d === '\\') {
          value += q[i + 1] ?? '';
          i += 2;
        } else if (d === "'") {
          i += 1;
          break;
        } else {
          value += d;
          i += 1;
        }
      }
      tokens.push({ kind: 'string', value });
    } else if (c === '(' || c === ')' || c === '=') {
      tokens.push({ kind: 'op', value: c });
      i += 1;
    } else if (c === '!' && q[i + 1] === '=') {
      tokens.push({ kind: 'op', value: '!=' });
      i += 2;
    } else {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(q.slice(i));
      if (!word) throw invalidQuery(`unexpected "${c}"`);
      tokens.push({ kind: 'word', value: word[0] });
      i += word[0].length;
    }
  }
  return tokens;
}

type Predicate = (file: DriveServerFile) => boolean;

function parseQuery(q: string): Predicate {
  const tokens = tokenize(q);
  let at = 0;
  const peek = () => tokens[at];
  const next = () => {
    const token = tokens[at++];
    if (!token) throw invalidQuery('unexpected end of query');
    return token;
  };
  const isWord = (token: Token | undefined, word: string) => token?.kind === 'word' && token.value.toLowerCase() === word;

  const condition = (): Predicate => {
    const first = next();
    if (first.kind === 'op' && first.value === '(') {
      const inner = orExpression();
      const close = next();
      if (close.kind !== 'op' || close.value !== ')') throw invalidQuery('expected )');
      return inner;
    }
    if (isWord(first, 'not')) {
      const inner = condition();
      return (file) => !inner(file);
    }
    if (first.kind === 'string') {
      if (!isWord(next(), 'in') || !isWord(next(), 'parents')) throw invalidQuery("expected '<id>' in parents");
      return (file) => file.parents.includes(first.value);
    }
    if (first.kind !== 'word') throw invalidQuery('expected a field');
    const operator = next();
    const value = next();
    const field = first.value;
    const op = operator.kind === 'op' ? operator.value : operator.value.toLowerCase();
    if (field === 'name' || field === 'mimeType') {
      if (value.kind !== 'string') throw invalidQuery(`${field} takes a string`);
      const get = (file: DriveServerFile) => (field === 'name' ? file.name : file.mimeType);
      if (op === '=') return (file) => get(file) === value.value;
      if (op === '!=') return (file) => get(file) !== value.value;
      if (op === 'contains' && field === 'name') return (file) => get(file).includes(value.value);
      throw invalidQuery(`operator ${op} on ${field}`);
    }
    if (field === 'trashed' || field === 'sharedWithMe') {
      if (value.kind !== 'word' || !['true', 'false'].includes(value.value) || (op !== '=' && op !== '!=')) throw invalidQuery(`${field} = true|false`);
      const wanted = (value.value === 'true') === (op === '=');
      return (file) => (field === 'trashed' ? file.trashed : file.sharedWithMe) === wanted;
    }
    throw invalidQuery(`unsupported field ${field}`);
  };
  const andExpression = (): Predicate => {
    let left = condition();
    while (isWord(peek(), 'and')) {
      next();
      const [a, b] = [left, condition()];
      left = (file) => a(file) && b(file);
    }
    return left;
  };
  const orExpression = (): Predicate => {
    let left = andExpression();
    while (isWord(peek(), 'or')) {
      next();
      const [a, b] = [left, andExpression()];
      left = (file) => a(file) || b(file);
    }
    return left;
  };
  const predicate = orExpression();
  if (at !== tokens.length) throw invalidQuery('trailing tokens');
  return predicate;
}

/** `nextPageToken, files(id, name)` → { nextPageToken: [], files: ['id', 'name'] }; `*` for everything. */
function parseFields(fields: string | null): Map<string, string[] | '*'> {
  const selected = new Map<string, string[] | '*'>();
  if (!fields) return selected;
  for (const match of fields.matchAll(/([A-Za-z*]+)\s*(?:\(([^)]*)\))?/g)) {
    const inner = match[2]?.split(',').map((f) => f.trim()).filter(Boolean);
    selected.set(match[1]!, !inner || inner.includes('*') ? '*' : inner);
  }
  return selected;
}

function newId(): string {
  return `1${randomBytes(24).toString('base64url')}`;
}

const md5Hex = (data: Buffer) => createHash('md5').update(data).digest('hex');

export class DriveServer extends LoopbackHttpServer<DriveFault> {
  readonly files = new Map<string, DriveServerFile>();
  readonly requests: DriveLoggedRequest[] = [];
  private readonly accounts = new Map<string, ReturnType<typeof createPublicKey>>();
  private readonly tokens = new Map<string, string>();
  private readonly sessions = new Map<string, UploadSession>();
  private readonly finished = new Map<string, { fileId: string; fields?: string }>();
  private clock = Date.parse('2026-11-02T08:00:00.000Z');

  /** A service account whose assertions (signed with the matching private key) the token endpoint accepts. */
  addServiceAccount(email: string, publicKeyPem: string): void {
    this.accounts.set(email, createPublicKey(publicKeyPem));
  }

  /** A folder someone shared with the service account; returns its id. */
  shareFolder(name: string, role: 'writer' | 'reader' = 'writer'): string {
    return this.insert({ name, mimeType: FOLDER, parents: [], sharedWithMe: true, role }).id;
  }

  /** A folder or file placed directly (as another user would), e.g. a duplicate left by another tool. */
  addFile(options: { name: string; parentId: string; content?: Buffer; mimeType?: string }): DriveServerFile {
    return this.insert({ name: options.name, parents: [options.parentId], mimeType: options.mimeType ?? (options.content ? 'text/plain' : FOLDER), ...(options.content ? { content: options.content } : {}) });
  }

  /** Untrashed entries under a path of names from a shared folder, e.g. `Project/Outputs/messages.csv`. */
  entriesAt(path: string): DriveServerFile[] {
    const [root, ...rest] = path.split('/');
    let current = [...this.files.values()].filter((file) => file.sharedWithMe && file.name === root && !file.trashed);
    for (const name of rest) {
      const parents = new Set(current.map((file) => file.id));
      current = [...this.files.values()].filter((file) => file.name === name && !file.trashed && file.parents.some((parent) => parents.has(parent)));
    }
    return current;
  }

  /** The one untrashed file at a path; fails when there are none or several. */
  fileAt(path: string): DriveServerFile {
    const entries = this.entriesAt(path);
    if (entries.length !== 1) throw new Error(`${entries.length} entries at ${path}`);
    return entries[0]!;
  }

  /** Forgets every resumable session, as Drive does when they expire. */
  expireSessions(): void {
    this.sessions.clear();
    this.finished.clear();
  }

  requestCount(operation: DriveOperation): number {
    return this.requests.filter((request) => request.operation === operation).length;
  }

  private insert(options: { name: string; mimeType: string; parents: string[]; sharedWithMe?: boolean; role?: 'writer' | 'reader'; content?: Buffer }): DriveServerFile {
    this.clock += 1; // distinct, increasing creation times, as Drive's (ms) almost always are
    const time = new Date(this.clock).toISOString();
    const file: DriveServerFile = {
      id: newId(),
      name: options.name,
      mimeType: options.mimeType,
      parents: options.parents,
      trashed: false,
      sharedWithMe: options.sharedWithMe ?? false,
      role: options.role ?? 'writer',
      createdTime: time,
      modifiedTime: time,
      revisions: options.content ? [{ id: newId(), content: options.content, md5: md5Hex(options.content) }] : [],
    };
    this.files.set(file.id, file);
    return file;
  }

  /** The shared folder a file lives under decides what the account may do there. */
  private writable(file: DriveServerFile): boolean {
    let current: DriveServerFile | undefined = file;
    for (let depth = 0; current && depth < 100; depth += 1) {
      if (current.sharedWithMe) return current.role === 'writer';
      current = this.files.get(current.parents[0] ?? '');
    }
    return false;
  }

  private resource(file: DriveServerFile, fields: string[] | '*'): Record<string, unknown> {
    const head = file.revisions.at(-1);
    const all: Record<string, unknown> = {
      kind: 'drive#file',
      id: file.id,
      name: file.name,
      mimeType: file.mimeType,
      parents: file.parents,
      trashed: file.trashed,
      createdTime: file.createdTime,
      modifiedTime: file.modifiedTime,
      ...(head ? { md5Checksum: head.md5, size: String(head.content.length), headRevisionId: head.id } : {}),
    };
    if (fields === '*') return all;
    return Object.fromEntries(fields.filter((field) => field in all).map((field) => [field, all[field]]));
  }

  /** A file resource as `fields` asks (`id, name` or `files(...)`-less forms); kind, id, name, mimeType by default. */
  private resourceFor(file: DriveServerFile, fields: string | null): Record<string, unknown> {
    if (!fields) return this.resource(file, ['kind', 'id', 'name', 'mimeType']);
    const list = fields.split(',').map((f) => f.trim()).filter(Boolean);
    return this.resource(file, list.includes('*') ? '*' : list);
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    void this.serve(req, res).catch((err: unknown) => {
      if (!res.headersSent) this.reply(res, { method: req.method ?? '', path: req.url ?? '', operation: 'unknown', status: 500 }, 500, { error: { code: 500, message: String(err), errors: [{ domain: 'global', reason: 'backendError', message: 'Backend Error' }] } });
    });
  }

  private reply(res: ServerResponse, log: DriveLoggedRequest, status: number, body: unknown, headers: Record<string, string> = {}): void {
    log.status = status;
    this.requests.push(log);
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { 'Content-Type': 'application/json; charset=UTF-8' } : {}), 'Content-Length': String(Buffer.byteLength(text)), ...headers }).end(text);
  }

  private replyError(res: ServerResponse, log: DriveLoggedRequest, err: DriveHttpError): void {
    this.reply(res, log, err.status, { error: { code: err.status, message: err.message, errors: [{ message: err.message, domain: err.domain, reason: err.reason, ...err.extra }] } });
  }

  private takeFault(operation: DriveOperation): DriveFault | undefined {
    const fault = this.faults.find((f) => f.times > 0 && (f.operation === undefined ? operation !== 'token' : f.operation === operation));
    if (fault) fault.times -= 1;
    return fault;
  }

  private faultError(fault: DriveFault): DriveHttpError {
    if (fault.status === 429) return new DriveHttpError(429, 'rateLimitExceeded', 'Rate Limit Exceeded', 'usageLimits');
    if (fault.status === 403) {
      const reason = fault.reason ?? 'rateLimitExceeded';
      return new DriveHttpError(403, reason, reason === 'userRateLimitExceeded' ? 'User Rate Limit Exceeded' : 'Rate Limit Exceeded', 'usageLimits');
    }
    return new DriveHttpError(fault.status, 'backendError', 'Backend Error');
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const method = req.method ?? 'GET';
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const uploadType = url.searchParams.get('uploadType') ?? undefined;
    const log: DriveLoggedRequest = { method, path: url.pathname, operation: 'unknown', ...(uploadType ? { uploadType } : {}), status: 0 };

    if (method === 'POST' && url.pathname === '/token') {
      log.operation = 'token';
      const fault = this.takeFault('token');
      if (fault) return this.replyError(res, log, this.faultError(fault));
      return this.token(res, log, new URLSearchParams(body.toString('utf8')));
    }

    const fileMatch = /^\/(upload\/)?drive\/v3\/files(?:\/([^/]+))?$/.exec(url.pathname);
    if (!fileMatch) return this.replyError(res, log, new DriveHttpError(404, 'notFound', `Not Found: ${url.pathname}`));
    const isUpload = Boolean(fileMatch[1]);
    const fileId = fileMatch[2] ? decodeURIComponent(fileMatch[2]) : undefined;
    const uploadId = url.searchParams.get('upload_id');

    // A session URI carries its own authority, as Drive's do.
    if (isUpload && uploadId && method === 'PUT') {
      log.operation = 'upload-chunk';
      log.contentRange = String(req.headers['content-range'] ?? '');
      return this.chunk(res, log, uploadId, String(req.headers['content-range'] ?? ''), body);
    }

    log.operation = !isUpload && method === 'GET' ? (fileId ? 'get' : 'list') : uploadType === 'resumable' ? 'upload-session' : method === 'POST' ? 'create' : 'update';
    const token = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!token || !this.tokens.has(token)) {
      return this.reply(res, log, 401, {
        error: {
          code: 401,
          message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
          errors: [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', location: 'Authorization', locationType: 'header' }],
          status: 'UNAUTHENTICATED',
        },
      });
    }
    const fault = this.takeFault(log.operation);
    if (fault && !fault.afterCommit) return this.replyError(res, log, this.faultError(fault));
    try {
      const answer = this.route(method, isUpload, fileId, url, req, body);
      if (fault) return this.replyError(res, log, this.faultError(fault));
      this.reply(res, log, 200, answer.body, answer.headers);
    } catch (err) {
      if (err instanceof DriveHttpError) return this.replyError(res, log, err);
      throw err;
    }
  }

  private route(method: string, isUpload: boolean, fileId: string | undefined, url: URL, req: IncomingMessage, body: Buffer): { body: unknown; headers?: Record<string, string> } {
    const fields = url.searchParams.get('fields');
    if (!isUpload) {
      if (method === 'GET' && !fileId) return { body: this.list(url) };
      const file = fileId ? this.files.get(fileId) : undefined;
      if (fileId && !file) throw notFound(fileId);
      if (method === 'GET' && file) return { body: this.resourceFor(file, fields) };
      const metadata = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      if (method === 'POST' && !file) return { body: this.resourceFor(this.createFile(metadata, undefined), fields) };
      if (method === 'PATCH' && file) return { body: this.resourceFor(this.updateFile(file, metadata, undefined), fields) };
      throw new DriveHttpError(400, 'badRequest', `${method} is not supported here`);
    }
    const uploadType = url.searchParams.get('uploadType');
    const target = fileId ? this.files.get(fileId) : undefined;
    if (fileId && !target) throw notFound(fileId);
    if (uploadType === 'multipart') {
      const [metadataPart, mediaPart] = parseMultipart(String(req.headers['content-type'] ?? ''), body);
      const metadata = JSON.parse(metadataPart!.body.toString('utf8')) as Record<string, unknown>;
      const media = { content: mediaPart!.body, mimeType: mediaPart!.contentType };
      return { body: this.resourceFor(target ? this.updateFile(target, metadata, media) : this.createFile(metadata, media), fields) };
    }
    if (uploadType === 'media') {
      const media = { content: body, mimeType: String(req.headers['content-type'] ?? 'application/octet-stream') };
      if (!target) return { body: this.resourceFor(this.createFile({ name: 'Untitled' }, media), fields) };
      return { body: this.resourceFor(this.updateFile(target, {}, media), fields) };
    }
    if (uploadType === 'resumable') {
      const metadata = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      if (target) this.checkWritable(target);
      else this.checkParents(metadata);
      const lengthHeader = req.headers['x-upload-content-length'];
      const session: UploadSession = {
        id: randomBytes(18).toString('base64url'),
        target: target ? { kind: 'update', fileId: target.id } : { kind: 'create', metadata },
        mimeType: String(req.headers['x-upload-content-type'] ?? metadata.mimeType ?? 'application/octet-stream'),
        ...(lengthHeader ? { total: Number(lengthHeader) } : {}),
        ...(fields ? { fields } : {}),
        received: Buffer.alloc(0),
      };
      this.sessions.set(session.id, session);
      const location = new URL(url.pathname, this.baseUrl);
      location.searchParams.set('uploadType', 'resumable');
      location.searchParams.set('upload_id', session.id);
      return { body: undefined, headers: { Location: location.href } };
    }
    throw new DriveHttpError(400, 'badRequest', `unsupported uploadType ${String(uploadType)}`);
  }

  private checkParents(metadata: Record<string, unknown>): void {
    const parents = Array.isArray(metadata.parents) ? (metadata.parents as string[]) : [];
    if (parents.length === 0) throw new DriveHttpError(403, 'insufficientFilePermissions', 'The service account has no Drive of its own here: name a parent folder.');
    for (const parentId of parents) {
      const parent = this.files.get(parentId);
      if (!parent || parent.trashed) throw notFound(parentId);
      this.checkWritable(parent);
    }
  }

  private checkWritable(file: DriveServerFile): void {
    if (!this.writable(file)) throw new DriveHttpError(403, 'insufficientFilePermissions', `The user does not have sufficient permissions for file ${file.id}.`);
  }

  private createFile(metadata: Record<string, unknown>, media: { content: Buffer; mimeType: string } | undefined): DriveServerFile {
    this.checkParents(metadata);
    return this.insert({
      name: typeof metadata.name === 'string' ? metadata.name : 'Untitled',
      mimeType: typeof metadata.mimeType === 'string' ? metadata.mimeType : (media?.mimeType ?? 'application/octet-stream'),
      parents: metadata.parents as string[],
      ...(media ? { content: media.content } : {}),
    });
  }

  private updateFile(file: DriveServerFile, metadata: Record<string, unknown>, media: { content: Buffer } | undefined): DriveServerFile {
    this.checkWritable(file);
    if (typeof metadata.name === 'string') file.name = metadata.name;
    if (typeof metadata.trashed === 'boolean') file.trashed = metadata.trashed;
    if (media) {
      if (file.mimeType === FOLDER) throw new DriveHttpError(400, 'badRequest', 'A folder has no content.');
      file.revisions.push({ id: newId(), content: media.content, md5: md5Hex(media.content) });
    }
    this.clock += 1;
    file.modifiedTime = new Date(this.clock).toISOString();
    return file;
  }

  private list(url: URL): Record<string, unknown> {
    const q = url.searchParams.get('q');
    const predicate = q ? parseQuery(q) : () => true;
    const matching = [...this.files.values()].filter(predicate);
    const pageSize = Math.min(Number(url.searchParams.get('pageSize') ?? 100) || 100, 1000);
    const offset = Number(Buffer.from(url.searchParams.get('pageToken') ?? '', 'base64url').toString() || '0');
    const page = matching.slice(offset, offset + pageSize);
    const fields = parseFields(url.searchParams.get('fields'));
    const fileFields = fields.size === 0 ? ['kind', 'id', 'name', 'mimeType'] : (fields.get('files') ?? []);
    const answer: Record<string, unknown> = { files: page.map((file) => this.resource(file, fileFields)) };
    if (fields.size === 0 || fields.has('kind')) answer.kind = 'drive#fileList';
    if (offset + pageSize < matching.length && (fields.size === 0 || fields.has('nextPageToken'))) answer.nextPageToken = Buffer.from(String(offset + pageSize)).toString('base64url');
    if (fields.size === 0 || fields.has('incompleteSearch')) answer.incompleteSearch = false;
    return answer;
  }

  private chunk(res: ServerResponse, log: DriveLoggedRequest, uploadId: string, contentRange: string, body: Buffer): void {
    const session = this.sessions.get(uploadId);
    const finished = this.finished.get(uploadId);
    const finishedFile = finished ? this.files.get(finished.fileId) : undefined;
    // A finished session answers its file again, as Drive's do.
    if (!session && finishedFile) return this.reply(res, log, 200, this.resourceFor(finishedFile, finished!.fields ?? null));
    if (!session) return this.replyError(res, log, new DriveHttpError(404, 'notFound', 'The upload session has expired or does not exist.'));
    const fault = this.takeFault('upload-chunk');
    if (fault && !fault.afterCommit) return this.replyError(res, log, this.faultError(fault));

    const status = /^bytes \*\/(\d+|\*)$/.exec(contentRange);
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange);
    if (!status && !range) return this.replyError(res, log, new DriveHttpError(400, 'badContentRange', `Invalid Content-Range: ${contentRange}`));
    const totalText = (status ?? range)![status ? 1 : 3]!;
    if (totalText !== '*') session.total = Number(totalText);
    if (range) {
      const start = Number(range[1]);
      const end = Number(range[2]);
      if (end - start + 1 !== body.length) return this.replyError(res, log, new DriveHttpError(400, 'badContentRange', 'Content-Range does not match the body length.'));
      if (start > session.received.length) return this.replyError(res, log, new DriveHttpError(400, 'badContentRange', `The upload offset ${start} is beyond the ${session.received.length} bytes received.`));
      const isLast = session.total !== undefined && end + 1 === session.total;
      if (!isLast && body.length % CHUNK_UNIT !== 0) return this.replyError(res, log, new DriveHttpError(400, 'badRequest', 'Chunks other than the last must be multiples of 256 KiB.'));
      // Bytes already received (a resend after a lost reply) are skipped.
      session.received = Buffer.concat([session.received, body.subarray(session.received.length - start)]);
    }
    if (session.total !== undefined && session.received.length === session.total) {
      let file: DriveServerFile;
      try {
        const media = { content: session.received, mimeType: session.mimeType };
        if (session.target.kind === 'create') {
          file = this.createFile(session.target.metadata, media);
        } else {
          const existing = this.files.get(session.target.fileId);
          if (!existing) throw notFound(session.target.fileId);
          file = this.updateFile(existing, {}, media);
        }
      } catch (err) {
        if (err instanceof DriveHttpError) return this.replyError(res, log, err);
        throw err;
      }
      this.sessions.delete(uploadId);
      this.finished.set(uploadId, { fileId: file.id, ...(session.fields ? { fields: session.fields } : {}) });
      if (fault) return this.replyError(res, log, this.faultError(fault));
      return this.reply(res, log, 200, this.resourceFor(file, session.fields ?? null));
    }
    if (fault) return this.replyError(res, log, this.faultError(fault));
    this.reply(res, log, 308, undefined, session.received.length > 0 ? { Range: `bytes=0-${session.received.length - 1}` } : {});
  }

  private token(res: ServerResponse, log: DriveLoggedRequest, form: URLSearchParams): void {
    const invalid = (description: string) => this.reply(res, log, 400, { error: 'invalid_grant', error_description: description });
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return this.reply(res, log, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
    const parts = (form.get('assertion') ?? '').split('.');
    if (parts.length !== 3) return invalid('Invalid JWT: Token must be a short-lived token and in a reasonable timeframe');
    const [header, payload, signature] = parts as [string, string, string];
    let claims: { iss?: string; scope?: string; exp?: number; aud?: string };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return invalid('Invalid JWT payload');
    }
    const key = this.accounts.get(claims.iss ?? '');
    if (!key) return invalid('Invalid grant: account not found');
    if (!verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))) return invalid('Invalid JWT Signature.');
    if (!claims.exp || claims.exp * 1000 < Date.now()) return invalid('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
    if (!String(claims.scope ?? '').split(' ').includes('https://www.googleapis.com/auth/drive')) return invalid('Invalid OAuth scope or ID token audience provided.');
    const accessToken = `ya29.${randomBytes(24).toString('base64url')}`;
    this.tokens.set(accessToken, claims.iss!);
    this.reply(res, log, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
  }
}

/** multipart/related as googleapis writes it: `--b\r\ncontent-type: …\r\n\r\n<body>\r\n` per part, then `--b--`. */
function parseMultipart(contentType: string, body: Buffer): Array<{ contentType: string; body: Buffer }> {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!boundary) throw new DriveHttpError(400, 'badRequest', 'multipart upload without a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Array<{ contentType: string; body: Buffer }> = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // after the CRLF that ends the delimiter line, before the CRLF that precedes the next
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    parts.push({ contentType: /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1]?.trim() ?? 'application/octet-stream', body: part.subarray(headerEnd + 4) });
    at = next;
  }
  if (parts.length !== 2) throw new DriveHttpError(400, 'badRequest', `a multipart upload has 2 parts, not ${parts.length}`);
  return parts;
}
