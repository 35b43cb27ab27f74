/**
 * The only importer of @inquirer/prompts. Tests replace this module; nothing else prompts.
 * Callers make sure a terminal is attached before calling.
 */
export async function confirm(message: string, defaultValue = false): Promise<boolean> {
  const p = await import('@inquirer/prompts');
  return p.confirm({ message, default: defaultValue });
}

export async function input(message: string, defaultValue?: string, validate?: (v: string) => true | string): Promise<string> {
  const p = await import('@inquirer/prompts');
  return p.input({ message, ...(defaultValue !== undefined ? { default: defaultValue } : {}), ...(validate ? { validate } : {}) });
}
