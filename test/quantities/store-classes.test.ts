/**
 * The field table's new quantities through the store, on every backend: written, summed in
 * rollups, compared as billing content; every new reject with file and line; and a store an older
 * billctl imported, re-imported after migration 16, has no conflict and no new receipt.
 */
import { createHash } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { cli } from '../helpers/cli.js';
import { SAMPLE_CATALOG } from '../helpers/fixtures.js';
import { freshStore, write } from '../ingest/helpers.js';

afterAll(dropSchemas);

const line = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;
const summary = (stdout: string) => JSON.parse(stdout) as Record<string, number>;

describeEachBackend('token classes, event type and quantity in the store', (backend) => {
  it('stores every class, sums them in rollups, and tells duplicates from conflicts by all of them', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('classes');
    const text =
      line({ id: 'c1', tenant_id: 't', timestamp: '2026-10-05T10:00:00Z', model: 'qwen-70b', prompt_tokens: 3_000_000, prompt_tokens_details: { cached_tokens: 2_000_000 }, completion_tokens: 500_000, completion_tokens_details: { reasoning_tokens: 100_000 } }) +
      line({ id: 'a1', tenant_id: 't', timestamp: '2026-10-05T11:00:00Z', model: 'qwen-70b', input_tokens: 50, cache_read_input_tokens: 900, cache_creation_input_tokens: 100, output_tokens: 40 }) +
      line({ id: 's1', tenant_id: 't', timestamp: '2026-10-05T12:00:00Z', event_type: 'Storage', quantity: 1234 });
    const first = await s.run(['import', write(dir, 'a.jsonl', text), '--format', 'json']);
    expect(first.code).toBe(0);
    expect(summary(first.stdout)).toMatchObject({ imported: 3, duplicates: 0, conflicts: 0 });
    const store = (await openStore(s.db)) as SqlStore;
    try {
      const rows = await store.db.all<Record<string, unknown>>(
        'SELECT id, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, event_type, quantity FROM receipts ORDER BY id',
      );
      expect(rows.map((r) => Object.values(r).map((v) => (typeof v === 'bigint' || typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v)))).toEqual([
        ['a1', 50, 900, 100, 40, 0, null, 0],
        ['c1', 1_000_000, 2_000_000, 0, 400_000, 100_000, null, 0],
        ['s1', 0, 0, 0, 0, 0, 'storage', 1234],
      ]);
      const roll = await store.rollups('t', 0, 100_000);
      expect(roll.map((r) => [r.modelKey, r.receipts, r.inputTokens, r.cachedInputTokens, r.cacheWriteTokens, r.outputTokens, r.reasoningTokens, r.quantity])).toEqual([
        [null, 1n, 0n, 0n, 0n, 0n, 0n, 1234n],
        ['qwen-70b', 2n, 1_000_050n, 2_000_900n, 100n, 400_040n, 100_000n, 0n],
      ]);
    } finally {
      await store.close();
    }
    // The same again: duplicates. One class changed: a conflict that names it.
    const again = await s.run(['import', write(dir, 'b.jsonl', text), '--format', 'json']);
    expect(summary(again.stdout)).toMatchObject({ imported: 0, duplicates: 3, conflicts: 0 });
    const changed = text.replace('"cache_creation_input_tokens":100', '"cache_creation_input_tokens":101').replace('"quantity":1234', '"quantity":1235');
    const c = await s.run(['import', write(dir, 'c.jsonl', changed), '--format', 'json']);
    expect(c.code).toBe(3);
    expect(summary(c.stdout)).toMatchObject({ imported: 0, duplicates: 1, conflicts: 2 });
    expect(c.stderr).toContain('c.jsonl:2: conflict: receipt "a1" of tenant "t" is already stored (batch 1) with other billing content (cache_write_tokens 100 -> 101); the stored one stays');
    expect(c.stderr).toContain('c.jsonl:3: conflict: receipt "s1" of tenant "t" is already stored (batch 1) with other billing content (quantity 1234 -> 1235); the stored one stays');
  });

  it('rejects what the token class rules reject, with file, line and reason', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('class-rejects');
    const base = { tenant_id: 't', timestamp: '2026-10-05T10:00:00Z', model: 'm' };
    const text =
      line({ ...base, id: 'ok', prompt_tokens: 10 }) +
      line({ ...base, id: 'x1', prompt_tokens: 500, prompt_tokens_details: { cached_tokens: 900 } }) +
      line({ ...base, id: 'x2', prompt_tokens_details: { cached_tokens: 800 } }) +
      line({ ...base, id: 'x3', model: undefined, cache_creation_input_tokens: 7 }) +
      line({ ...base, id: 'x4', completion_tokens: 1, completion_tokens_details: { reasoning_tokens: 2 } }) +
      line({ ...base, id: 'x5', quantity: -3 });
    const r = await s.run(['import', write(dir, 'r.jsonl', text), '--format', 'json'], { cwd: dir });
    expect(r.code).toBe(3);
    expect(summary(r.stdout)).toMatchObject({ lines: 6, imported: 1, rejected: 5 });
    expect(r.stderr).toContain('r.jsonl:2: cached_tokens 900 exceed prompt_tokens 500');
    expect(r.stderr).toContain('r.jsonl:3: cached_tokens 800 is included in input_tokens, but the receipt has no input_tokens');
    expect(r.stderr).toContain('r.jsonl:4: tokens but no model (input_tokens 0, cache_write_tokens 7, output_tokens 0)');
    expect(r.stderr).toContain('r.jsonl:5: reasoning_tokens 2 exceed completion_tokens 1');
    expect(r.stderr).toContain('r.jsonl:6: quantity is -3: below 0');
  });

  it('a store an older billctl imported (migration 14), re-imported after the upgrade: 0 conflicts, 0 new receipts', async () => {
    const db = await backend.fresh();
    const dir = tempDir('upgrade');
    // Receipts of every first-wave shape, with and without ids (derived ids), billable or not.
    const text =
      line({ request_id: 'req_81', organization_id: 'org_123', user_id: 'u_9', provider: 'openai', model: 'gpt-4o-mini', prompt_tokens: 150, completion_tokens: 300, request_timestamp: '2026-10-03T14:07:11Z' }) +
      line({ tenant_id: 'acme', timestamp: '2026-10-03T14:07:12Z', model: 'Qwen 70B', input_tokens: 1800, output_tokens: 350, user_id: 'u1' }) +
      line({ tenant_id: 'acme', timestamp: '2026-10-03T14:07:13Z', gpu_type: 'A100 80GB', gpu_seconds: 412, status: 'failed' }) +
      line({ tenant_id: 'acme', timestamp: '2026-10-03T14:07:14Z', model: 'gemma-2b', tokens_processed: 5200 });
    const file = write(dir, 'old.jsonl', text);
    // As migration 14's billctl stored them: its columns, its derived ids.
    const oldId = (parts: (string | number)[]) => `sha256:${createHash('sha256').update(parts.join('|'), 'utf8').digest('hex')}`;
    const old: (string | number | null)[][] = [
      ['org_123', 'req_81', Date.UTC(2026, 9, 3, 14, 7, 11), 1, null, 'u_9', null, 'openai', 'gpt-4o-mini', 'gpt-4o-mini', null, null, 0, 150, 300, null, 0, 1],
      ['acme', oldId(['acme', Date.UTC(2026, 9, 3, 14, 7, 12), 1, 'qwen-70b', '', 0, 1800, 350, 'u1']), Date.UTC(2026, 9, 3, 14, 7, 12), 1, null, 'u1', null, null, 'Qwen 70B', 'qwen-70b', null, null, 0, 1800, 350, null, 0, 1],
      ['acme', oldId(['acme', Date.UTC(2026, 9, 3, 14, 7, 13), 0, '', 'a100-80gb', 412, 0, 0, '']), Date.UTC(2026, 9, 3, 14, 7, 13), 0, 'failed', null, null, null, null, null, 'A100 80GB', 'a100-80gb', 412, 0, 0, null, 0, 1],
      ['acme', oldId(['acme', Date.UTC(2026, 9, 3, 14, 7, 14), 1, 'gemma-2b', '', 0, 5200, 0, '']), Date.UTC(2026, 9, 3, 14, 7, 14), 1, null, null, null, null, 'gemma-2b', 'gemma-2b', null, null, 0, 5200, 0, null, 1, 1],
    ];
    const store = (await openStore(db, { create: true, skipSchemaCheck: true })) as SqlStore;
    try {
      await store.migrate({ to: 14 });
      for (const r of old) {
        await store.db.run(
          `INSERT INTO receipts (tenant_id, id, ts, billable, status, user_id, project_id, provider, model, model_key, gpu_type, gpu_key,
             gpu_seconds, input_tokens, output_tokens, reported_cost, unsplit, batch_id) VALUES (${old[0]!.map(() => '?').join(', ')})`,
          r,
        );
      }
      await store.migrate();
    } finally {
      await store.close();
    }
    expect((await cli(['catalog', 'import', SAMPLE_CATALOG, '--db', db])).code).toBe(0);
    const r = await cli(['import', file, '--format', 'json', '--db', db]);
    expect(r.stderr).toBe('');
    // (The old receipts were written without their tenants: those are created now, nothing else.)
    expect(summary(r.stdout)).toEqual({
      files: 1, lines: 4, imported: 0, duplicates: 4, conflicts: 0, rejected: 0, new_tenants: 2, unsplit_tokens: 0,
    });
    expect(r.code).toBe(0);
    const after = (await openStore(db)) as SqlStore;
    try {
      const n = await after.db.get<{ n: unknown }>('SELECT COUNT(*) AS n FROM receipts');
      expect(Number(n!.n)).toBe(4);
    } finally {
      await after.close();
    }
  });
});
