/**
 * What every source kind shares while it fetches into `raw/<source>/<run id>/`: files written as
 * resumable units, a `rejects.jsonl` with a reason per record that could not be used, a heartbeat after
 * every page safely on disk, and `summary.json` written last, which marks the source complete.
 */
import { access, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import type { Logger } from 'pino';

import type { Deidentifier } from '../deid/uuid-table';
import { writeFileAtomic } from '../storage/atomic-write';
import type { BlobReader, BlobStore } from '../storage/blob-store';
import type { SourceConfig } from './fetch-sources.stage';
import type { HttpPolicy } from './http';
import { describeFile, type FinishedFile, JsonlAppender, type PartialFile, readJsonIfExists } from './raw-files';

/** One unfinished unit (a flow's runs, a dataset's comments) and where its pagination stands. */
export interface UnitProgress {
  name: string;
  partial: PartialFile;
  /** Source-specific: the next page URL, the window, the post being read… never a token or raw id. */
  position: unknown;
}

/** The heartbeat details of a fetch: enough for the next attempt to continue the source it was on. */
export interface FetchProgress {
  version: 1;
  runId: string;
  source: string;
  /** Files of this source finished in earlier attempts (name and record count). */
  finished: Array<{ name: string; records: number }>;
  rejects: PartialFile;
  unit?: UnitProgress;
  /** Source-specific decisions made once per run, e.g. the Rapid Pro window end. */
  plan?: unknown;
  /** Totals so far, for people reading the heartbeat in the Web UI. */
  recordsWritten: number;
}

export interface Reject {
  reason: string;
  /** Where the bad record came from: a file and row, a flow and run id, a post and comment id. */
  at: Record<string, unknown>;
}

export interface SourceSummary {
  source: string;
  kind: SourceConfig['kind'];
  runId: string;
  files: Array<FinishedFile & { flowType?: 'activation' | 'survey'; origin?: string }>;
  rejects: FinishedFile;
  records: number;
  rejected: number;
  /** Rapid Pro: the windows fetched, re-applied to the cursors if a crash came between the two writes. */
  windows?: unknown;
}

export interface SourceDeps {
  dataRoot: string;
  runId: string;
  blobStore: BlobStore & BlobReader;
  /** The run's UUID table behind a cache, so an id is asked for once per attempt. */
  deidentifier: Deidentifier;
  http: HttpPolicy;
  logger: Logger;
  now: () => Date;
  reportProgress: (details: Record<string, unknown>) => void;
}

/** Whether every file a heartbeat names is in the run folder. */
async function resumable(folder: string, resume: FetchProgress): Promise<boolean> {
  const names = [resume.rejects.temp, ...resume.finished.map((file) => file.name), ...(resume.unit ? [resume.unit.partial.temp] : [])];
  for (const name of names) {
    try {
      await access(join(folder, name));
    } catch {
      return false;
    }
  }
  return true;
}

export const SUMMARY_FILE = 'summary.json';
export const REJECTS_FILE = 'rejects.jsonl';

export function sourceFolder(dataRoot: string, source: string): string {
  return join(dataRoot, 'raw', source);
}

export function runFolder(dataRoot: string, source: string, runId: string): string {
  return join(sourceFolder(dataRoot, source), runId);
}

/** The summaries of a source's complete runs (those whose summary.json was written), oldest run first. */
export async function completedRunSummaries(dataRoot: string, source: string): Promise<SourceSummary[]> {
  let entries: string[];
  try {
    entries = await readdir(sourceFolder(dataRoot, source));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const summaries: SourceSummary[] = [];
  for (const entry of entries.filter((name) => !name.startsWith('.')).sort()) {
    const summary = await readJsonIfExists<SourceSummary>(join(runFolder(dataRoot, source, entry), SUMMARY_FILE));
    if (summary) summaries.push(summary);
  }
  return summaries;
}

/** The page-level machinery one source's fetch runs in. */
export class SourceRun {
  readonly folder: string;
  private readonly finished: FinishedFile[] = [];
  private readonly fileInfo = new Map<string, { flowType?: 'activation' | 'survey'; origin?: string }>();
  plan: unknown;

  private constructor(
    readonly config: SourceConfig,
    readonly deps: SourceDeps,
    private readonly rejects: JsonlAppender,
    private readonly resume: FetchProgress | undefined,
    private readonly finishedEarlier: Map<string, number>,
  ) {
    this.folder = runFolder(deps.dataRoot, config.name, deps.runId);
    this.plan = resume?.plan;
  }

  static async open(config: SourceConfig, deps: SourceDeps, resume: FetchProgress | undefined): Promise<SourceRun> {
    const folder = runFolder(deps.dataRoot, config.name, deps.runId);
    if (resume && !(await resumable(folder, resume))) {
      // Heartbeat details that name files this data root does not have (another disk?) cannot be continued.
      deps.logger.warn({ event: 'ResumeDetailsUnusable', source: config.name }, 'files of the last heartbeat are missing: fetching the source again');
      await rm(folder, { recursive: true, force: true });
      resume = undefined;
    }
    const rejects = await JsonlAppender.open(folder, REJECTS_FILE, resume?.rejects);
    return new SourceRun(config, deps, rejects, resume, new Map((resume?.finished ?? []).map((file) => [file.name, file.records])));
  }

  private get recordsWritten(): number {
    return this.finished.reduce((sum, file) => sum + file.records, 0);
  }

  private heartbeat(unit?: UnitProgress): void {
    const details: FetchProgress = {
      version: 1,
      runId: this.deps.runId,
      source: this.config.name,
      finished: this.finished.map(({ name, records }) => ({ name, records })),
      rejects: this.rejects.partial,
      ...(unit ? { unit } : {}),
      ...(this.plan === undefined ? {} : { plan: this.plan }),
      recordsWritten: this.recordsWritten + (unit?.partial.records ?? 0),
    };
    this.deps.reportProgress(details as unknown as Record<string, unknown>);
  }

  /** Records a decision (e.g. a window end) so a resumed attempt keeps it. */
  setPlan(plan: unknown): void {
    this.plan = plan;
    this.heartbeat();
  }

  /**
   * Writes one file as a unit. `body` appends pages through `page(records, rejects, position)`; after each,
   * the heartbeat says where to continue. A unit finished in an earlier attempt is not run again; one
   * interrupted is continued from its last heartbeat (`resumeFrom` is that position).
   */
  async unit<P>(
    name: string,
    info: { flowType?: 'activation' | 'survey'; origin?: string },
    body: (page: (records: readonly unknown[], rejects: readonly Reject[], position: P) => Promise<void>, resumeFrom: P | undefined) => Promise<void>,
  ): Promise<void> {
    this.fileInfo.set(name, info);
    const earlierRecords = this.finishedEarlier.get(name);
    if (earlierRecords !== undefined) {
      this.finished.push(await describeFile(join(this.folder, name), earlierRecords));
      return;
    }
    const resumeUnit = this.resume?.unit?.name === name ? this.resume.unit : undefined;
    const out = await JsonlAppender.open(this.folder, name, resumeUnit?.partial);
    try {
      await body(async (records, rejects, position) => {
        await out.append(records);
        await this.rejects.append(rejects);
        this.heartbeat({ name, partial: out.partial, position });
      }, resumeUnit?.position as P | undefined);
      this.finished.push(await out.finish());
      this.heartbeat();
    } catch (err) {
      await out.abandon();
      throw err;
    }
  }

  /** A file placed whole (a bucket download): listed like a unit's output. */
  async placed(file: FinishedFile, info: { flowType?: 'activation' | 'survey'; origin?: string }): Promise<void> {
    this.fileInfo.set(file.name, info);
    this.finished.push(file);
    this.heartbeat();
  }

  isFinished(name: string): boolean {
    return this.finishedEarlier.has(name);
  }

  async reject(rejects: readonly Reject[]): Promise<void> {
    await this.rejects.append(rejects);
  }

  /** Finishes rejects.jsonl and writes summary.json, the mark that this source is complete. */
  async complete(windows?: unknown): Promise<SourceSummary> {
    const rejects = await this.rejects.finish();
    const summary: SourceSummary = {
      source: this.config.name,
      kind: this.config.kind,
      runId: this.deps.runId,
      files: this.finished.map((file) => ({ ...file, ...this.fileInfo.get(file.name) })),
      rejects,
      records: this.recordsWritten,
      rejected: rejects.records,
      ...(windows === undefined ? {} : { windows }),
    };
    await writeFileAtomic(join(this.folder, SUMMARY_FILE), `${JSON.stringify(summary, null, 2)}\n`, { noOverwrite: true });
    return summary;
  }

  async abandon(): Promise<void> {
    await this.rejects.abandon();
  }
}
