/**
 * The only importer of @inquirer/prompts. Tests replace this module; nothing else prompts.
 * Callers make sure a terminal is attached before calling, and ask every question before they
 * change anything, so Ctrl-C at a prompt (inquirer's ExitPromptError) is a CancelledError:
 * exit 130, nothing changed.
 */
import { CancelledError } from '../errors.js';

async function asked<T>(prompt: () => Promise<T>): Promise<T> {
  try {
    return await prompt();
  } catch (err) {
    if (err instanceof Error && (err.name === 'ExitPromptError' || err.name === 'AbortPromptError')) throw new CancelledError();
    throw err;
  }
}

export async function confirm(message: string, defaultValue = false): Promise<boolean> {
  const p = await import('@inquirer/prompts');
  return asked(() => p.confirm({ message, default: defaultValue }));
}

export async function input(message: string, defaultValue?: string, validate?: (v: string) => true | string): Promise<string> {
  const p = await import('@inquirer/prompts');
  return asked(() => p.input({ message, ...(defaultValue !== undefined ? { default: defaultValue } : {}), ...(validate ? { validate } : {}) }));
}
