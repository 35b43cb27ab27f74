/**
 * Running the built billctl on a real pseudo-terminal (util-linux `script`), so prompts, raw-mode
 * keys like Ctrl-C and TTY detection behave as for a person at a terminal.
 */
import { spawn } from 'node:child_process';
import { BIN } from './cli.js';

export interface TerminalStep {
  /** Wait until the terminal shows this text... */
  waitFor: string;
  /** ...then type this (`\x03` is Ctrl-C). */
  send: string;
}

export interface TerminalResult {
  code: number | null;
  /** Everything the terminal showed (stdout and stderr together, with escape sequences). */
  screen: string;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

export function runInTerminal(argv: string[], o: { cwd: string; env?: Record<string, string>; steps: TerminalStep[]; timeoutMs?: number }): Promise<TerminalResult> {
  const command = [process.execPath, BIN, ...argv].map(quote).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', BILLCTL_ACTOR: 'test', TERM: 'xterm', ...o.env };
  delete env.BILLCTL_DB;
  if (o.env?.BILLCTL_DB) env.BILLCTL_DB = o.env.BILLCTL_DB;
  // -q quiet, -e the child's exit code, -f flush at once, -c the command; the typescript goes nowhere.
  const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: o.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  const steps = [...o.steps];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the terminal session did not end; it showed:\n${screen}`));
    }, o.timeoutMs ?? 30_000);
    const onData = (d: Buffer) => {
      screen += d.toString('utf8');
      const step = steps[0];
      if (step && screen.includes(step.waitFor)) {
        steps.shift();
        // A moment for the prompt to finish drawing and switch the terminal to raw mode.
        setTimeout(() => child.stdin.write(step.send), 150);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}
