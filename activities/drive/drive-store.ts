/**
 * Where drive-upload puts files: Google Drive, or a local folder standing in for it. Both keep one file
 * per name in a folder: uploading a name that is already there replaces its content (on Drive a new
 * revision of the same file id), never adds a second file.
 */
import { extname } from 'node:path';

import type { FileDigests } from '../storage/hashing';

export interface FileToUpload {
  localPath: string;
  /** Folder names from the shared folder down, e.g. ['Project', 'Outputs']. */
  folder: readonly string[];
  name: string;
  mimeType: string;
  digests: FileDigests;
}

/** created: no file of that name was there; replaced: its content changed; unchanged: it already held these bytes. */
export type UploadAction = 'created' | 'replaced' | 'unchanged';

export interface UploadedFile {
  /** The Drive file id, or the path under the local folder. */
  fileId: string;
  /** Where a person finds it: the Drive link, or a file:// URL. */
  uri: string;
  action: UploadAction;
  /** Other files of the same name found in the folder and moved to the trash (Drive only). */
  duplicatesTrashed: number;
}

export interface DriveStore {
  /** Names the store in logs and errors: "Google Drive" or the local folder. Never a key. */
  readonly label: string;
  upload(file: FileToUpload, onProgress: (bytesSent: number) => void): Promise<UploadedFile>;
}

const MIME_TYPES: Record<string, string> = {
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.json': 'application/json',
  '.jsonl': 'application/x-ndjson',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.pdf': 'application/pdf',
  '.html': 'text/html',
  '.txt': 'text/plain',
};

/** The content type Drive stores the file under (never a Google Docs type: no conversion). */
export function mimeTypeOf(name: string): string {
  return MIME_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}
