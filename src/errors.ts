/**
 * Typed errors carry the exit code of cli.md; only src/main.ts turns them into a process exit.
 * A message says what went wrong; `hint` says what to do about it.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  partial: 3,
  denied: 4,
  locked: 5,
  /** Ctrl-C at a prompt (128 + SIGINT, as a shell reports an interrupted command): nothing was changed. */
  cancelled: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class BillctlError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.failed,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The command was used wrongly: bad flag or value, unknown tenant, missing confirmation (exit 2). */
export class UsageError extends BillctlError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.usage, hint);
  }
}

/** Input data that breaks the contract (a catalog or tenant file), reported with every problem (exit 2). */
export class ValidationError extends UsageError {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
    hint?: string,
  ) {
    super(
      `${source}: ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
      hint,
    );
  }
}

/** Another run holds the lock (exit 5); nothing was done. */
export class LockHeldError extends BillctlError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.locked, hint);
  }
}

/** The database connection dropped (the server restarted, the network failed): exit 1, not a bug. */
export class ConnectionLostError extends BillctlError {
  constructor(where: string, cause: unknown) {
    super(
      `lost the connection to the database at ${where} (${errorMessage(cause)})`,
      ExitCode.failed,
      'Check that the server is up and reachable; what was committed before the connection dropped is kept.',
    );
  }
}

/** The user cancelled at a prompt (Ctrl-C): nothing was changed (exit 130). */
export class CancelledError extends BillctlError {
  constructor() {
    super('cancelled: nothing was changed', ExitCode.cancelled);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Errors from the outside world (files, databases, network): not bugs, exit 1. */
export function isOperational(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: unknown };
  return typeof e.code === 'string' || e.name === 'SqliteError' || e.name === 'DatabaseError';
}
