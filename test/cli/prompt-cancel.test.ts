/**
 * Ctrl-C at a prompt, on a real terminal: exit 130, "billctl: cancelled: nothing was changed",
 * and nothing changed (no store, no config file; the invoice still a draft).
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { json } from '../helpers/cli.js';
import { makeStore } from '../helpers/store-setup.js';
import { runInTerminal } from '../helpers/terminal.js';

afterAll(dropSchemas);

const CTRL_C = '\x03';

describe('Ctrl-C in the init wizard', () => {
  for (const [question, answersBefore] of [
    ['Store (a SQLite file', []],
    ['Currency (ISO 4217)', [{ waitFor: 'Store (a SQLite file', send: '\r' }, { waitFor: 'Issuer name', send: 'Acme\r' }, { waitFor: 'Issuer address', send: '\r' }]],
  ] as const) {
    it(`at "${question}" exits 130 and writes nothing`, async () => {
      const cwd = tempDir('wizard');
      const r = await runInTerminal(['init'], { cwd, steps: [...answersBefore, { waitFor: question, send: CTRL_C }] });
      expect(r.screen).toContain('billctl: cancelled: nothing was changed');
      expect(r.screen).not.toContain('internal error');
      expect(r.code).toBe(130);
      expect(fs.readdirSync(cwd)).toEqual([]);
    }, 60_000);
  }
});

describeEachBackend('Ctrl-C at a confirmation', (backend) => {
  it('invoice finalize: exits 130, the draft stays a draft, no audit entry', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme GmbH', '--plan', 'pro']);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme'], 0, { BILLCTL_NOW: '2026-11-05T00:00:00Z' });
    const auditBefore = json<unknown[]>(await s.run(['audit', '--format', 'json']));
    const r = await runInTerminal(['invoice', 'finalize', '--period', '2026-10', '--all', '--issue-date', '2026-11-01', '--db', s.db], {
      cwd: s.dir, env: { BILLCTL_NOW: '2026-11-05T00:00:00Z' }, steps: [{ waitFor: 'Issued numbers are permanent', send: CTRL_C }],
    });
    expect(r.screen).toContain('billctl: cancelled: nothing was changed');
    expect(r.code).toBe(130);
    const list = json<{ status: string; number: string | null }[]>(await s.run(['invoice', 'list', '--format', 'json']));
    expect(list.map((i) => [i.status, i.number])).toEqual([['draft', null]]);
    expect(json<unknown[]>(await s.run(['audit', '--format', 'json']))).toEqual(auditBefore);
    expect(fs.readdirSync(s.dir).filter((f) => f !== 'billing.db' && !f.startsWith('billing.db-'))).toEqual(['billctl.yaml']);
  }, 60_000);
});
