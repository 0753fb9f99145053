/**
 * Google Drive v3 as a DriveStore, as the AVF tools use it: a path's first folder is one shared with the
 * service account (`sharedWithMe = true`), the folders below it are found or created; a file is looked up
 * by name in its folder and its content replaced (a new revision, same id) when it is there, created when
 * it is not. Looking up first makes every step safe to redo: an attempt that crashed after creating a file
 * finds it on the retry. Files above a threshold go by resumable upload (googleapis has no resumable
 * upload of its own, so the protocol is spoken here with the client's authorised requests).
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

// The drive module alone: the package's index loads every Google API.
import { drive as driveApi, type drive_v3 } from 'googleapis/build/src/apis/drive';

import { BadInputError } from '../errors';
import type { DriveAuthClient } from './drive-auth';
import { type DriveCallContext, DriveUnavailableError, withDriveRetries } from './drive-requests';
import type { DriveStore, FileToUpload, UploadedFile } from './drive-store';

export const FOLDER_MIME_TYPE = 'application/vnd.google-apps.folder';
export const DEFAULT_DRIVE_ROOT_URL = 'https://www.googleapis.com/';
const FILE_FIELDS = 'id, name, mimeType, md5Checksum, size, createdTime';

type UploadTarget = { kind: 'create'; folderId: string } | { kind: 'update'; fileId: string };
type StoredFile = { id?: string | null; md5Checksum?: string | null };

/** Drive forgot a resumable session (it expired): the upload starts again in a new one. */
class SessionExpiredError extends Error {
  override readonly name = 'SessionExpiredError';
}

interface DriveFileEntry {
  id: string;
  name: string;
  mimeType: string;
  md5Checksum?: string;
  createdTime?: string;
}

export interface GoogleDriveOptions extends DriveCallContext {
  auth: DriveAuthClient;
  /** The API root, ending with "/": Google's, or a stand-in's. */
  rootUrl: string;
  resumableAboveBytes: number;
  chunkBytes: number;
}

/** A string literal of Drive's query language: backslashes and single quotes escaped. */
export function queryString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The one of several same-named entries every run agrees on: the oldest, then the smallest id. */
function canonical<T extends DriveFileEntry>(entries: T[]): T {
  return [...entries].sort((a, b) => (a.createdTime ?? '').localeCompare(b.createdTime ?? '') || a.id.localeCompare(b.id))[0]!;
}

const hexMd5 = (base64: string) => Buffer.from(base64, 'base64').toString('hex');

export class GoogleDriveStore implements DriveStore {
  readonly label = 'Google Drive';
  private readonly drive: drive_v3.Drive;
  private readonly rootUrl: string;
  private readonly folderIds = new Map<string, Promise<string>>();

  /**
   * Every call names the root: googleapis applies the client's `rootUrl` to plain requests but builds
   * media upload URLs from the call's own options only (Google's host otherwise).
   */
  private readonly callOptions: { rootUrl: string; signal: AbortSignal };

  constructor(private readonly options: GoogleDriveOptions) {
    this.rootUrl = options.rootUrl.endsWith('/') ? options.rootUrl : `${options.rootUrl}/`;
    // Retries are ours (rate-limit reasons, bounded, logged); gaxios' own would retry blindly.
    this.callOptions = { rootUrl: this.rootUrl, signal: options.signal };
    this.drive = driveApi({ version: 'v3', auth: options.auth, rootUrl: this.rootUrl, retry: false });
  }

  async upload(file: FileToUpload, onProgress: (bytesSent: number) => void): Promise<UploadedFile> {
    const folderId = await this.folderId(file.folder);
    const path = [...file.folder, file.name].join('/');
    return withDriveRetries(`uploading ${path}`, () => this.uploadOnce(folderId, path, file, onProgress), this.options);
  }

  /** The id of a folder path, found or created once per store (concurrent callers share the lookup). */
  private folderId(folder: readonly string[]): Promise<string> {
    const key = folder.join('/');
    let id = this.folderIds.get(key);
    if (!id) {
      id =
        folder.length === 1
          ? withDriveRetries(`looking up the shared folder ${key}`, () => this.sharedFolderId(folder[0]!), this.options)
          : this.folderId(folder.slice(0, -1)).then((parentId) => withDriveRetries(`finding or creating the folder ${key}`, () => this.childFolderId(parentId, folder.at(-1)!, key), this.options));
      // A failed lookup is not remembered: a later upload asks again.
      id.catch(() => this.folderIds.delete(key));
      this.folderIds.set(key, id);
    }
    return id;
  }

  private async list(q: string): Promise<DriveFileEntry[]> {
    const entries: DriveFileEntry[] = [];
    let pageToken: string | undefined;
    do {
      const response = await this.drive.files.list(
        { q, fields: `nextPageToken, files(${FILE_FIELDS})`, spaces: 'drive', pageSize: 100, supportsAllDrives: true, includeItemsFromAllDrives: true, ...(pageToken ? { pageToken } : {}) },
        this.callOptions,
      );
      for (const file of response.data.files ?? []) if (file.id && file.name && file.mimeType) entries.push(file as DriveFileEntry);
      pageToken = response.data.nextPageToken ?? undefined;
    } while (pageToken);
    return entries;
  }

  private async sharedFolderId(name: string): Promise<string> {
    const folders = await this.list(`name = ${queryString(name)} and mimeType = '${FOLDER_MIME_TYPE}' and sharedWithMe = true and trashed = false`);
    if (folders.length === 0) throw new BadInputError(`Google Drive: no folder "${name}" is shared with ${this.options.account}; share it with that account as editor`);
    // Two people may share two folders of one name: which one is meant cannot be guessed.
    if (folders.length > 1) throw new BadInputError(`Google Drive: ${folders.length} folders named "${name}" are shared with ${this.options.account}; keep one`);
    return folders[0]!.id;
  }

  private async childFolderId(parentId: string, name: string, path: string): Promise<string> {
    const inParent = `name = ${queryString(name)} and ${queryString(parentId)} in parents and mimeType = '${FOLDER_MIME_TYPE}' and trashed = false`;
    const existing = await this.list(inParent);
    if (existing.length > 0) return canonical(existing).id;
    const created = await this.drive.files.create(
      { requestBody: { name, mimeType: FOLDER_MIME_TYPE, parents: [parentId] }, fields: 'id', supportsAllDrives: true },
      this.callOptions,
    );
    // Another run may have created the same folder at the same moment: both keep the oldest, and the
    // other one (still empty: nobody uploads into a folder that is not canonical) goes to the trash.
    const now = await this.list(inParent);
    const kept = now.length > 0 ? canonical(now).id : created.data.id!;
    if (kept !== created.data.id) await this.trash(created.data.id!);
    this.options.logger.info({ event: 'DriveFolderCreated', path, raced: kept !== created.data.id }, 'folder created');
    return kept;
  }

  private async trash(fileId: string): Promise<void> {
    await this.drive.files.update({ fileId, requestBody: { trashed: true }, fields: 'id', supportsAllDrives: true }, this.callOptions);
  }

  private async uploadOnce(folderId: string, path: string, file: FileToUpload, onProgress: (bytesSent: number) => void): Promise<UploadedFile> {
    const entries = await this.list(`name = ${queryString(file.name)} and ${queryString(folderId)} in parents and trashed = false`);
    if (entries.some((entry) => entry.mimeType === FOLDER_MIME_TYPE)) throw new BadInputError(`Google Drive: ${path} is a folder; a file cannot replace it`);
    const localMd5 = hexMd5(file.digests.md5);
    let action: UploadedFile['action'];
    let fileId: string;
    let duplicatesTrashed = 0;
    if (entries.length === 0) {
      fileId = await this.sendContent({ kind: 'create', folderId }, file, onProgress);
      action = 'created';
    } else {
      const kept = canonical(entries);
      for (const duplicate of entries.filter((entry) => entry.id !== kept.id)) {
        await this.trash(duplicate.id);
        duplicatesTrashed += 1;
      }
      fileId = kept.id;
      if (kept.md5Checksum === localMd5) {
        action = 'unchanged';
      } else {
        await this.sendContent({ kind: 'update', fileId }, file, onProgress);
        action = 'replaced';
      }
    }
    if (duplicatesTrashed > 0) this.options.logger.warn({ event: 'DriveDuplicatesTrashed', path, duplicatesTrashed }, 'files of the same name moved to the trash');
    return { fileId, uri: `https://drive.google.com/file/d/${fileId}/view`, action, duplicatesTrashed };
  }

  /** Creates the file or replaces its content; checks the MD5 Drive computed. Returns the file id. */
  private async sendContent(target: UploadTarget, file: FileToUpload, onProgress: (bytesSent: number) => void): Promise<string> {
    let stored: StoredFile;
    if (file.digests.bytes > this.options.resumableAboveBytes) {
      stored = await this.resumableUpload(target, file, onProgress);
    } else {
      const media = { mimeType: file.mimeType, body: createReadStream(file.localPath) };
      const common = { media, fields: FILE_FIELDS, supportsAllDrives: true };
      const response =
        target.kind === 'create'
          ? await this.drive.files.create({ ...common, requestBody: { name: file.name, parents: [target.folderId], mimeType: file.mimeType } }, this.callOptions)
          : await this.drive.files.update({ ...common, fileId: target.fileId }, this.callOptions);
      stored = response.data;
      onProgress(file.digests.bytes);
    }
    // A mismatch is a transfer gone wrong: the retry finds the file by name and replaces its content.
    if (stored.md5Checksum && stored.md5Checksum !== hexMd5(file.digests.md5)) throw new DriveUnavailableError(`Google Drive stored other bytes than ${file.localPath} holds (MD5 mismatch)`);
    if (target.kind === 'update') return target.fileId;
    if (!stored.id) throw new DriveUnavailableError(`Google Drive created ${file.name} without answering its id`);
    return stored.id;
  }

  /**
   * Drive's resumable protocol: open a session (POST to create, PATCH to replace; the session URI comes
   * back in `Location`), PUT the bytes in chunks with `Content-Range`, each answered 308 with the `Range`
   * received so far until the last is answered with the file. After a failed chunk, an empty PUT with
   * `Content-Range: bytes *\/<total>` asks how far the upload got, and it continues from there. A session
   * Drive no longer knows (404/410: expired) is opened again, from the first byte.
   */
  private async resumableUpload(target: UploadTarget, file: FileToUpload, onProgress: (bytesSent: number) => void): Promise<StoredFile> {
    const handle = await open(file.localPath, 'r');
    try {
      for (let sessions = 1; ; sessions += 1) {
        const session = await this.openSession(target, file);
        try {
          return await this.sendChunks(session, handle, file, onProgress);
        } catch (err) {
          if (!(err instanceof SessionExpiredError) || sessions >= 3) throw err;
          this.options.logger.warn({ event: 'DriveRetry', what: `uploading ${file.name}`, verdict: 'session-expired' }, 'resumable session lost: starting again');
        }
      }
    } finally {
      await handle.close();
    }
  }

  private async openSession(target: UploadTarget, file: FileToUpload): Promise<string> {
    const opened = await this.options.auth.request({
      url: target.kind === 'create' ? `${this.rootUrl}upload/drive/v3/files` : `${this.rootUrl}upload/drive/v3/files/${encodeURIComponent(target.fileId)}`,
      method: target.kind === 'create' ? 'POST' : 'PATCH',
      params: { uploadType: 'resumable', supportsAllDrives: true, fields: FILE_FIELDS },
      headers: { 'Content-Type': 'application/json; charset=UTF-8', 'X-Upload-Content-Type': file.mimeType, 'X-Upload-Content-Length': String(file.digests.bytes) },
      data: target.kind === 'create' ? { name: file.name, parents: [target.folderId], mimeType: file.mimeType } : {},
      responseType: 'json',
      retry: false,
      signal: this.options.signal,
    });
    const session = (opened.headers as Record<string, string | undefined>).location;
    if (!session) throw new DriveUnavailableError('Google Drive opened a resumable upload without a session URI');
    return session;
  }

  private async sendChunks(session: string, handle: FileHandle, file: FileToUpload, onProgress: (bytesSent: number) => void): Promise<StoredFile> {
    const total = file.digests.bytes;
    let offset = 0;
    let unacknowledged = false;
    for (;;) {
      const step = await withDriveRetries(
        `uploading ${file.name} (from byte ${offset} of ${total})`,
        async () => {
          if (unacknowledged) {
            const status = await this.sessionRequest(session, `bytes */${total}`);
            if (status.done) return status;
            offset = status.received;
          }
          const length = Math.min(this.options.chunkBytes, total - offset);
          const chunk = Buffer.alloc(length);
          const { bytesRead } = await handle.read(chunk, 0, length, offset);
          if (bytesRead !== length) throw new Error(`${file.localPath} changed size while it was uploaded`);
          unacknowledged = true;
          const answer = await this.sessionRequest(session, `bytes ${offset}-${offset + length - 1}/${total}`, chunk, file.mimeType);
          unacknowledged = false;
          return answer;
        },
        this.options,
      );
      if (step.done) {
        onProgress(total);
        return step.file;
      }
      offset = step.received;
      onProgress(offset);
    }
  }

  /** One PUT to a session: 308 → how many bytes Drive holds; 200/201 → the finished file. */
  private async sessionRequest(
    session: string,
    contentRange: string,
    chunk?: Buffer,
    mimeType?: string,
  ): Promise<{ done: true; file: StoredFile } | { done: false; received: number }> {
    const response = await this.options.auth
      .request<StoredFile>({
        url: session,
        method: 'PUT',
        headers: { 'Content-Range': contentRange, ...(mimeType ? { 'Content-Type': mimeType } : {}) },
        ...(chunk ? { data: chunk } : {}),
        responseType: 'json',
        validateStatus: (status) => (status >= 200 && status < 300) || status === 308,
        retry: false,
        signal: this.options.signal,
      })
      .catch((err: { response?: { status?: number } }) => {
        const status = err.response?.status;
        throw status === 404 || status === 410 ? new SessionExpiredError(`resumable session answered ${status}`) : err;
      });
    if (response.status !== 308) return { done: true, file: response.data };
    // `Range: bytes=0-<last>`; none means Drive holds nothing yet.
    const range = /bytes=0-(\d+)/.exec(String((response.headers as Record<string, string | undefined>).range ?? ''));
    return { done: false, received: range ? Number(range[1]) + 1 : 0 };
  }
}
