/** audit [--since DATE]: who changed what, when. */
import { parseDate, parseRfc3339 } from '../../domain/time.js';
import { UsageError } from '../../errors.js';
import type { AuditEntry } from '../../store/store.js';
import type { Context } from '../context.js';

export function parseSince(text: string, flag = '--since'): string {
  const date = parseDate(text);
  if (date !== undefined) return new Date(date).toISOString();
  const t = parseRfc3339(text);
  if (!t.ok) throw new UsageError(`${flag}: "${text}" is not a date (YYYY-MM-DD) or an RFC 3339 timestamp`);
  return new Date(t.ms).toISOString();
}

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const since = opts.since === undefined ? undefined : parseSince(String(opts.since));
  return ctx.withStore(async (store) => {
    const entries = await store.listAudit(since);
    await ctx.rows<AuditEntry>(
      entries,
      [
        { header: 'at', value: (e) => e.at },
        { header: 'actor', value: (e) => e.actor },
        { header: 'command', value: (e) => e.command },
        { header: 'details', value: (e) => JSON.stringify(e.details) },
      ],
      entries.map((e) => ({ id: e.id, at: e.at, actor: e.actor, command: e.command, details: e.details })),
    );
    return 0;
  });
}
