/**
 * The service account behind Drive uploads: its JSON key (read through the blob store, like every
 * credentials file here) and a JWT client doing the real OAuth flow (a signed assertion exchanged for an
 * access token). The key file's `token_uri` is honoured when it names another endpoint than Google's
 * (the client library always posts to Google's own): that is how tests reach a local token endpoint.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// The drive module alone: the package's index loads every Google API (about half a second per process).
import { auth as googleAuth } from 'googleapis/build/src/apis/drive';

import { BadInputError } from '../errors';
import { type BlobStore, isBlobReader } from '../storage/blob-store';

export const DRIVE_SCOPE = 'https://www.googleapis.com/auth/drive';

/** Google's own token endpoints (the library posts to one of them; a key names the other). */
const GOOGLE_TOKEN_ENDPOINT = /^https:\/\/(oauth2|www)\.googleapis\.com\/(oauth2\/v4\/)?token$/;

export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

export type DriveAuthClient = InstanceType<typeof googleAuth.JWT>;

async function readKeyText(url: string, blobStore: BlobStore): Promise<string> {
  try {
    if (isBlobReader(blobStore)) return (await blobStore.getBytes(url)).toString('utf8');
    if (url.startsWith('file://')) return await readFile(fileURLToPath(url), 'utf8');
  } catch (err) {
    if (err instanceof BadInputError || (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BadInputError(`Google Drive: no service account key at ${url}`);
    }
    throw err;
  }
  throw new BadInputError(`Google Drive: no reader for the key ${url}`);
}

/** The key at `url`; a missing or malformed one is bad input, named by its URL and never echoed. */
export async function readServiceAccountKey(url: string, blobStore: BlobStore): Promise<ServiceAccountKey> {
  const text = await readKeyText(url, blobStore);
  let key: Partial<ServiceAccountKey>;
  try {
    key = JSON.parse(text) as Partial<ServiceAccountKey>;
  } catch {
    throw new BadInputError(`Google Drive: the key at ${url} is not JSON`);
  }
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string') {
    throw new BadInputError(`Google Drive: the key at ${url} is not a service account key (client_email and private_key are needed)`);
  }
  return key as ServiceAccountKey;
}

/** A JWT client for the key with Drive's scope; token requests go to the key's `token_uri` when it is not Google's. */
export function serviceAccountClient(key: ServiceAccountKey): DriveAuthClient {
  const client = new googleAuth.JWT({ email: key.client_email, key: key.private_key, ...(key.private_key_id ? { keyId: key.private_key_id } : {}), scopes: [DRIVE_SCOPE] });
  const tokenUri = key.token_uri;
  if (tokenUri && !GOOGLE_TOKEN_ENDPOINT.test(tokenUri)) {
    const transporter = client.transporter;
    client.transporter = {
      request: (options) => transporter.request(typeof options.url === 'string' && GOOGLE_TOKEN_ENDPOINT.test(options.url) ? { ...options, url: tokenUri } : options),
    };
  }
  return client;
}
