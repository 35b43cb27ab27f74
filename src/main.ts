/**
 * The one top-level catch: every error becomes a message on stderr and an exit code (cli.md).
 * Nothing else in billctl exits the process.
 */
import type { Io } from './cli/context.js';
import { BillctlError, CancelledError, ExitCode, isOperational } from './errors.js';
import { urlPassword } from './store/location.js';

/** Texts that must never be printed: the Stripe key and database passwords. */
function secretsOf(io: Io, argv: readonly string[]): string[] {
  const out: string[] = [];
  if (io.env.STRIPE_API_KEY) out.push(io.env.STRIPE_API_KEY);
  for (const candidate of [io.env.BILLCTL_DB, ...argv]) {
    const pw = candidate ? urlPassword(candidate) : undefined;
    if (pw) out.push(pw, encodeURIComponent(pw));
  }
  return out.filter((s) => s.length >= 4);
}

export function scrub(text: string, secrets: readonly string[]): string {
  let t = text;
  for (const s of secrets) t = t.split(s).join('***');
  return t;
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const state = { io, argv, exitCode: 0 };
  const secrets = secretsOf(io, argv);
  try {
    const { buildProgram } = await import('./cli/program.js');
    const program = buildProgram(state);
    if (argv.length === 0) {
      io.stderr.write(program.helpInformation());
      return ExitCode.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return state.exitCode;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return ExitCode.ok;
      if (e.code !== 'commander.help') {
        io.stderr.write('Run `billctl --help` (or `billctl <command> --help`) to see the commands and flags.\n');
      }
      return ExitCode.usage;
    }
    if (err instanceof CancelledError) {
      io.stderr.write(`billctl: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof BillctlError) {
      io.stderr.write(scrub(`billctl: error: ${err.message}\n${err.hint ? `${err.hint}\n` : ''}`, secrets));
      return err.exitCode;
    }
    if (isOperational(err)) {
      io.stderr.write(scrub(`billctl: failed: ${(err as Error).message}\n`, secrets));
      if (io.env.BILLCTL_DEBUG) io.stderr.write(scrub(`${(err as Error).stack}\n`, secrets));
      return ExitCode.failed;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(
      scrub(
        `billctl: internal error (this is a bug, please report it): ${message}\n` +
          (io.env.BILLCTL_DEBUG ? `${(err as Error).stack}\n` : 'Set BILLCTL_DEBUG=1 to see where it happened.\n'),
        secrets,
      ),
    );
    return ExitCode.failed;
  }
}

export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    stdinIsTTY: process.stdin.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  };
}

/** The executable's entry: run, then exit with the code once output is flushed. */
export function run(): void {
  // A reader that stops early (`billctl export receipts | head`) closes the pipe: the command's
  // output is no longer wanted, so it ends quietly, as Unix tools do, not with an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.ok);
    process.stderr.write(`billctl: failed: writing the output: ${err.message}\n`);
    process.exit(ExitCode.failed);
  });
  main(process.argv.slice(2), processIo()).then(
    (code) => {
      process.exitCode = code;
      const exit = () => process.exit(code);
      if (process.stdout.writableLength > 0) process.stdout.once('drain', exit);
      else exit();
    },
    (err: unknown) => {
      process.stderr.write(`billctl: internal error: ${String(err)}\n`);
      process.exit(ExitCode.failed);
    },
  );
}
