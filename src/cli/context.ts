/**
 * What a command runs with: its streams, global options, the clock, the config and the store.
 * Tests build one around in-memory streams; the executable builds one around the process.
 */
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { ChalkInstance } from 'chalk';
import { loadConfig, type Config } from '../config.js';
import { UsageError } from '../errors.js';
import { parseRfc3339 } from '../domain/time.js';
import { resolveStoreLocation } from '../store/location.js';
import { openStore, withStore, type OpenOptions } from '../store/open.js';
import type { Store } from '../store/store.js';
import { makeChalk, renderCsv, renderJson, renderTable, type Column, type Format } from './render.js';

export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface GlobalOptions {
  db?: string;
  format: Format;
  yes: boolean;
  quiet: boolean;
  color: boolean;
  config?: string;
  actor?: string;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The real clock, unless BILLCTL_NOW (RFC 3339) fixes it, which tests and demos use. */
export function clockFromEnv(env: NodeJS.ProcessEnv): Clock {
  const fixed = env.BILLCTL_NOW;
  if (!fixed) return { now: () => Date.now() };
  const t = parseRfc3339(fixed);
  if (!t.ok) throw new UsageError(`BILLCTL_NOW: ${t.reason}`, 'Write it like 2026-11-01T12:00:00Z, or unset it.');
  const start = Date.now();
  // The fixed instant advances with real time, so durations and heartbeats still work.
  return { now: () => t.ms + (Date.now() - start) };
}

export class Context {
  readonly chalk: ChalkInstance;
  private configPromise?: Promise<Config>;

  constructor(
    readonly io: Io,
    readonly opts: GlobalOptions,
    readonly clock: Clock,
    /** The command line as typed, for the audit log. */
    readonly argv: readonly string[] = [],
  ) {
    const color = opts.color && io.stdoutIsTTY && !('NO_COLOR' in io.env && io.env.NO_COLOR !== '');
    this.chalk = makeChalk(color);
  }

  get format(): Format {
    return this.opts.format;
  }

  /** Progress bars: only on a terminal, never with --quiet. */
  get showProgress(): boolean {
    return this.io.stderrIsTTY && !this.opts.quiet;
  }

  config(): Promise<Config> {
    this.configPromise ??= loadConfig(this.opts.config, this.io.cwd);
    return this.configPromise;
  }

  /** --db, else BILLCTL_DB, else the config's db, else ./billing.db. */
  async dbLocation(): Promise<string> {
    if (this.opts.db) return resolveStoreLocation(this.opts.db, this.io.cwd, '--db');
    if (this.io.env.BILLCTL_DB) return resolveStoreLocation(this.io.env.BILLCTL_DB, this.io.cwd, 'BILLCTL_DB');
    const config = await this.config();
    return config.db ?? path.resolve(this.io.cwd, 'billing.db');
  }

  async openStore(options?: OpenOptions): Promise<Store> {
    return openStore(await this.dbLocation(), options);
  }

  async withStore<T>(fn: (store: Store) => Promise<T>, options?: OpenOptions): Promise<T> {
    return withStore(await this.dbLocation(), fn, options);
  }

  private osUser?: string;

  /** Who is acting: --actor, else BILLCTL_ACTOR, else the OS user. */
  get actor(): string {
    if (this.opts.actor) return this.opts.actor;
    if (this.io.env.BILLCTL_ACTOR) return this.io.env.BILLCTL_ACTOR;
    if (this.osUser === undefined) {
      try {
        this.osUser = os.userInfo().username;
      } catch {
        this.osUser = this.io.env.USER ?? 'unknown';
      }
    }
    return this.osUser;
  }

  nowIso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  /** Appends to the store's audit log: who, what, when and the counts changed. */
  async audit(store: Store, command: string, details: Record<string, unknown>): Promise<void> {
    await store.appendAudit({ at: this.nowIso(), actor: this.actor, command, details });
  }

  out(text: string): void {
    this.io.stdout.write(text);
  }

  /** Informational text on stderr; silenced by --quiet. */
  notice(text: string): void {
    if (!this.opts.quiet) this.io.stderr.write(`${text}\n`);
  }

  /** A warning on stderr: always shown, since it reports something about the data. */
  warn(text: string): void {
    this.io.stderr.write(`${this.chalk.yellow('warning:')} ${text}\n`);
  }

  /** Renders rows as a table, CSV, or (with `json`, or the rows themselves) one JSON document. */
  async rows<R>(rows: readonly R[], columns: readonly Column<R>[], json?: unknown): Promise<void> {
    switch (this.format) {
      case 'json':
        this.out(renderJson(json ?? rows));
        return;
      case 'csv':
        this.out(renderCsv(rows, columns));
        return;
      case 'table':
        this.out(await renderTable(rows, columns, this.chalk));
        return;
      default:
        this.format satisfies never;
    }
  }

  /** One object: JSON as is; table and CSV as field/value pairs. */
  async record(fields: [string, unknown][], json: unknown): Promise<void> {
    if (this.format === 'json') {
      this.out(renderJson(json));
      return;
    }
    const cols: Column<[string, unknown]>[] = [
      { header: 'field', value: (r) => r[0] },
      { header: 'value', value: (r) => (r[1] === null || r[1] === undefined ? '' : String(r[1])) },
    ];
    await this.rows(fields, cols);
  }

  /**
   * Asks on a terminal (unless --yes); without one it goes on, for commands that scripts have
   * always run unattended. A "no" cancels (exit 2).
   */
  async confirmOnTerminal(question: string): Promise<void> {
    if (this.io.stdinIsTTY && this.io.stderrIsTTY) await this.confirm(question);
  }

  /**
   * Asks before something that cannot be undone. --yes answers yes; without a terminal and
   * without --yes the command refuses (exit 2).
   */
  async confirm(question: string): Promise<void> {
    if (this.opts.yes) return;
    if (!this.io.stdinIsTTY || !this.io.stderrIsTTY) {
      throw new UsageError(`${question} This needs confirmation, and there is no terminal to ask.`, 'Pass --yes to confirm.');
    }
    const { confirm } = await import('./prompts.js');
    if (!(await confirm(question, false))) throw new UsageError('cancelled: nothing was done');
  }
}
