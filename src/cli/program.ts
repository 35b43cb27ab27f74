/**
 * The commander registry. Each area registers its commands; each action imports its command
 * module when it runs.
 */
import { Command } from 'commander';
import { addGlobalOptions, examples, type RunState } from './define.js';
import { registerFoundation } from './registry/foundation.js';
import { registerIngest } from './registry/ingest.js';
import { registerInvoices } from './registry/invoices.js';
import { registerOps } from './registry/ops.js';
import { registerRating } from './registry/rating.js';
import { registerServe } from './registry/serve.js';
import { registerStripe } from './registry/stripe.js';

export const VERSION = '0.1.0';

export function buildProgram(state: RunState): Command {
  const program = new Command('billctl');
  program
    .description('Billing operations for AI platforms: import usage receipts, rate them exactly, invoice, push to Stripe.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => state.io.stdout.write(s),
      writeErr: (s) => state.io.stderr.write(s),
      // commander's own errors (unknown option, missing argument) carry the prefix billctl's do.
      outputError: (s, write) => write(`billctl: ${s}`),
      // A fixed width off a terminal keeps help text stable for scripts and golden tests.
      getOutHelpWidth: () => (state.io.stdoutIsTTY ? (process.stdout.columns ?? 80) : 80),
      getErrHelpWidth: () => (state.io.stderrIsTTY ? (process.stderr.columns ?? 80) : 80),
    })
    .configureHelp({ showGlobalOptions: true });
  addGlobalOptions(program, false);
  program.addHelpText(
    'after',
    examples('billctl init --yes --sample-catalog', 'billctl import receipts/ --rejects rejects.jsonl', 'billctl usage --period 2026-10') +
      '\nExit codes: 0 done, 1 failed, 2 used wrongly, 3 some input rejected or some tenant failed,\n' +
      '4 a quota or budget said no, 5 another run holds the lock.\n',
  );

  registerFoundation(program, state);
  registerIngest(program, state);
  registerRating(program, state);
  registerInvoices(program, state);
  registerStripe(program, state);
  registerOps(program, state);
  registerServe(program, state);

  // commander's implicit `help [command]` reads one word: `billctl help invoice generate` showed
  // the help of `invoice`. This one follows every word (groups keep the implicit one: `invoice help generate`).
  program
    .command('help [command...]')
    .description('show the help of a command (billctl help invoice generate)')
    .addHelpText('after', examples('billctl help invoice generate', 'billctl help tenant'))
    .action(async (names: string[]) => {
      let cmd = program;
      for (const name of names) {
        const sub = cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
        if (!sub) {
          const { UsageError } = await import('../errors.js');
          throw new UsageError(`help: "${names.join(' ')}" is not a command`, 'Run `billctl --help` to see the commands.');
        }
        cmd = sub;
      }
      cmd.outputHelp();
    });

  // Global flags are accepted after the command too (hidden there: the root's help lists them).
  // A required flag says so in the help (commander lists it like any other).
  const walk = (cmd: Command) => {
    for (const o of cmd.options) if (o.mandatory && !o.description.endsWith('(required)')) o.description += ' (required)';
    for (const sub of cmd.commands) {
      if (sub.name() === 'help' && cmd === program) continue;
      addGlobalOptions(sub, true);
      walk(sub);
    }
  };
  walk(program);
  return program;
}
