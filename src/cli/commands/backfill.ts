/** backfill: the import engine over archives, with a window on receipt timestamps. */
import type { Context } from '../context.js';
import { runImport } from './import.js';

export async function run(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return runImport(ctx, 'backfill', args, opts);
}
