/**
 * A codec server (Temporal's remote codec protocol): the Web UI and the `temporal` CLI send it the
 * encrypted payloads they show, `POST …/decode` with `{"payloads":[…]}` (Payload protobufs as proto3 JSON:
 * every bytes field base64), and show what it answers; `POST …/encode` seals what a person types in the
 * UI. Only the last path segment counts, so `/default/decode` (the CLI's `{namespace}` template) works.
 * The browser calls it from the Web UI's origin: CORS allows the configured origins, with the
 * `X-Namespace` header the UI sends. An optional bearer token guards it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Payload } from '@temporalio/common';
import { decode, encode } from '@temporalio/common/lib/internal-non-workflow';
import type { Logger } from 'pino';
import { z } from 'zod';

import { pipelineDataConverter } from '../config/data-converter';
import type { PayloadKeyring } from '../config/payload-encryption';
import { formatZodIssues } from '../config/problems';

export const CODEC_SERVER_ENV = {
  host: 'PIPELINE_CODEC_HOST',
  port: 'PIPELINE_CODEC_PORT',
  corsOrigins: 'PIPELINE_CODEC_CORS_ORIGINS',
  token: 'PIPELINE_CODEC_TOKEN',
} as const;

/** Temporal's samples use 8888; the embedded Web UI is on 8233. */
export const DEFAULT_CODEC_PORT = 8888;

export interface CodecServerSettings {
  host: string;
  port: number;
  /** Origins allowed to call from a browser (the Web UI's), exactly as the browser sends them; `*` allows any. */
  corsOrigins: string[];
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
}

const origin = z.union([z.literal('*'), z.url().transform((url) => new URL(url).origin)]);
const codecServerSettingsSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(DEFAULT_CODEC_PORT),
  corsOrigins: z
    .string()
    .transform((text) => text.split(',').map((entry) => entry.trim()).filter(Boolean))
    .pipe(z.array(origin).min(1)),
  token: z.string().min(16, 'at least 16 characters').optional(),
});

/** Codec server settings from the environment; `uiPort` is the embedded Web UI's, allowed by default. */
export function readCodecServerSettings(env: NodeJS.ProcessEnv, uiPort: number): CodecServerSettings {
  const raw = Object.fromEntries(Object.entries(CODEC_SERVER_ENV).flatMap(([key, name]) => (env[name] ? [[key, env[name]]] : [])));
  const result = codecServerSettingsSchema.safeParse({ corsOrigins: `http://127.0.0.1:${uiPort},http://localhost:${uiPort}`, ...raw });
  if (!result.success) {
    // Issues name the variable; none repeats its value (the token's is a secret).
    throw new Error(`invalid codec server settings:\n  ${formatZodIssues(result.error).map((line) => line.replace(/^(\w+)/, (key) => CODEC_SERVER_ENV[key as keyof typeof CODEC_SERVER_ENV] ?? key)).join('\n  ')}`);
  }
  return result.data;
}

/** A Payload in proto3 JSON: metadata values and data are base64. Other fields are not ours to keep. */
const jsonPayloadSchema = z.looseObject({
  metadata: z.record(z.string(), z.base64()).nullish(),
  data: z.base64().nullish(),
});
const requestSchema = z.looseObject({ payloads: z.array(jsonPayloadSchema) });
type JsonPayload = z.infer<typeof jsonPayloadSchema>;

function fromJson(payload: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
    ...(payload.data ? { data: Buffer.from(payload.data, 'base64') } : {}),
  };
}

function toJson(payload: Payload): { metadata: Record<string, string>; data?: string } {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value ?? new Uint8Array()).toString('base64')])),
    ...(payload.data?.byteLength ? { data: Buffer.from(payload.data).toString('base64') } : {}),
  };
}

const MAX_BODY_BYTES = 16 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    bytes += chunk.byteLength;
    if (bytes > MAX_BODY_BYTES) throw new HttpError(413, `the request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export interface RunningCodecServer {
  /** `http://host:port`: the endpoint to give the Web UI or `temporal --codec-endpoint`. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startCodecServer(options: CodecServerSettings & { keyring: PayloadKeyring; logger: Logger }): Promise<RunningCodecServer> {
  const { payloadCodecs: codecs = [] } = pipelineDataConverter(options.keyring);
  const allowsAnyOrigin = options.corsOrigins.includes('*');
  const expectedToken = options.token ? digest(`Bearer ${options.token}`) : undefined;

  const corsHeaders = (request: IncomingMessage): Record<string, string> | undefined => {
    const from = request.headers.origin;
    if (!from || (!allowsAnyOrigin && !options.corsOrigins.includes(from))) return undefined;
    return { 'Access-Control-Allow-Origin': from, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' };
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<{ status: number; payloads?: number }> => {
    const cors = corsHeaders(request) ?? {};
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { ...cors, 'Content-Type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
      return status;
    };
    const operation = new URL(request.url ?? '/', 'http://codec.invalid').pathname.split('/').filter(Boolean).pop();
    if (operation !== 'encode' && operation !== 'decode') return { status: reply(404, { error: 'not found: POST …/encode or …/decode' }) };
    if (request.method === 'OPTIONS') {
      // The preflight a browser sends before its POST (JSON body, X-Namespace header).
      if (!corsHeaders(request)) return { status: reply(403, { error: 'origin not allowed' }) };
      response.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization',
        'Access-Control-Max-Age': '600',
      });
      response.end();
      return { status: 204 };
    }
    if (request.method !== 'POST') return { status: reply(405, { error: 'use POST' }, { Allow: 'POST, OPTIONS' }) };
    if (expectedToken) {
      const given = digest(request.headers.authorization ?? '');
      if (!timingSafeEqual(given, expectedToken)) return { status: reply(401, { error: 'a bearer token is required' }, { 'WWW-Authenticate': 'Bearer' }) };
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(request));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, 'the body is not JSON');
    }
    const parsed = requestSchema.safeParse(body);
    if (!parsed.success) throw new HttpError(400, `expected {"payloads": [{"metadata": {…base64}, "data": base64}]}: ${formatZodIssues(parsed.error).join('; ')}`);
    const payloads = parsed.data.payloads.map(fromJson);
    let converted: Payload[];
    try {
      converted = operation === 'encode' ? await encode(codecs, payloads) : await decode(codecs, payloads);
    } catch (err) {
      throw new HttpError(400, (err as Error).message);
    }
    return { status: reply(200, { payloads: converted.map(toJson) }), payloads: payloads.length };
  };

  const server = createServer((request, response) => {
    const started = Date.now();
    const namespace = request.headers['x-namespace'];
    handle(request, response)
      .catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        const message = err instanceof HttpError ? err.message : 'internal error';
        if (!(err instanceof HttpError)) options.logger.error({ err }, 'codec server request failed');
        if (!response.headersSent) response.writeHead(status, { ...corsHeaders(request), 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ error: message }));
        return { status, error: message };
      })
      .then((outcome) => {
        // What was asked and how it went; never a payload.
        options.logger.info({ method: request.method, path: request.url, namespace, ...outcome, ms: Date.now() - started }, 'codec request');
      })
      .catch(() => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
