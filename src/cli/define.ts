/**
 * Defining commands: metadata (flags, help, examples) is declared eagerly and cheaply; the code
 * that runs a command is imported only when that command runs, so `billctl --help` loads no
 * pdfkit, stripe or pg.
 */
import { Command, Option } from 'commander';
import type { Context, GlobalOptions, Io } from './context.js';
import type { Format } from './render.js';

/** What a command module exports. Positional arguments come first, then the command's own flags. */
export interface CommandModule {
  run(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number | void>;
}

export interface RunState {
  io: Io;
  argv: readonly string[];
  exitCode: number;
}

const GLOBAL_KEYS = ['db', 'format', 'yes', 'quiet', 'color', 'config', 'actor'] as const;

/** The global flags of cli.md, accepted before or after the command. */
export function addGlobalOptions(cmd: Command, hidden: boolean): void {
  const opts = [
    new Option('--db <path-or-url>', 'the store: a SQLite file or a postgres:// URL (env BILLCTL_DB; default ./billing.db)'),
    new Option('--format <format>', 'output format').choices(['table', 'json', 'csv']),
    new Option('--yes', 'answer yes to every confirmation'),
    new Option('--quiet', 'no progress and no notices on stderr'),
    new Option('--no-color', 'plain text (also NO_COLOR)'),
    new Option('--config <file>', 'config file (default ./billctl.yaml when present)'),
    new Option('--actor <name>', 'who to record in the audit log (default: the OS user)'),
  ];
  for (const o of opts) cmd.addOption(hidden ? o.hideHelp() : o);
}

/** Global flags typed anywhere on the line; a flag typed on the command wins over one typed before it. */
export function globalOptions(cmd: Command): GlobalOptions {
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) chain.unshift(c);
  const merged: Record<string, unknown> = {};
  for (const c of chain) {
    for (const key of GLOBAL_KEYS) {
      const source = c.getOptionValueSource(key);
      if (source === 'cli' || source === 'env') merged[key] = c.getOptionValue(key);
    }
  }
  return {
    db: merged.db as string | undefined,
    format: (merged.format as Format | undefined) ?? 'table',
    yes: merged.yes === true,
    quiet: merged.quiet === true,
    color: merged.color !== false,
    config: merged.config as string | undefined,
    actor: merged.actor as string | undefined,
  };
}

/** The command's own flags, without the global ones. */
function ownOptions(cmd: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cmd.opts())) {
    if (!(GLOBAL_KEYS as readonly string[]).includes(k)) out[k] = v;
  }
  return out;
}

export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/**
 * A leaf command: `spec` is commander's "name <arg> [arg]", `load` imports its module on demand.
 */
export function leaf(
  parent: Command,
  state: RunState,
  spec: string,
  description: string,
  exampleLines: string[],
  load: () => Promise<CommandModule>,
): Command {
  const cmd = parent.command(spec).description(description);
  cmd.addHelpText('after', examples(...exampleLines));
  cmd.action(async (...args: unknown[]) => {
    const self = args[args.length - 1] as Command;
    const positional = args.slice(0, -2);
    // The context (config, store, rendering) is loaded only when a command runs: `--help` and
    // `--version` stay fast.
    const { Context: ContextClass, clockFromEnv } = await import('./context.js');
    const ctx = new ContextClass(state.io, globalOptions(self), clockFromEnv(state.io.env), state.argv);
    const mod = await load();
    const code = await mod.run(ctx, positional, ownOptions(self));
    state.exitCode = typeof code === 'number' ? code : 0;
  });
  return cmd;
}

/** A command that only groups others (`catalog`, `tenant`, ...). */
export function group(parent: Command, name: string, description: string, exampleLines: string[]): Command {
  const cmd = parent.command(name).description(description);
  cmd.addHelpText('after', examples(...exampleLines));
  return cmd;
}
