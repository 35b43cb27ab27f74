/**
 * billing-rules.md, "Credits", through the CLI on both stores: promotional credit before tax as
 * credit lines, prepaid credit after tax, the draw order, start and expiry at the issue date,
 * drafts that show and follow their draws, draws recorded at finalize and returned by void,
 * balances, late usage that never touches credit lines, and the audit log.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { pdfText, squash } from '../pdf/poppler.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf } from '../helpers/store-setup.js';
import { clockStore, credits, grants, issue, proTenant, show, type GrantJson } from './helpers.js';

afterAll(dropSchemas);

interface AuditJson { command: string; details: Record<string, unknown> }

describeEachBackend('credits', (backend) => {
  it('promotional credit is a line before tax, prepaid credit lowers the amount due after tax; finalize records the draws', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    await s.run(['credit', 'grant', 'acme', '--amount', '10', '--name', 'Launch promotion']);
    await s.run(['credit', 'grant', 'acme', '--amount', '50', '--kind', 'prepaid', '--name', 'Paid in advance']);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme']);
    const draft = await show(s, '1');
    expect(credits(draft)).toEqual(['Credit: Launch promotion -10.00']);
    expect(draft.lines!.at(-1)).toMatchObject({ kind: 'credit', key: '1', amount: '-10.00' });
    expect([draft.subtotal, draft.tax, draft.total, draft.credits, draft.prepaid_applied, draft.amount_due]).toEqual(['89.00', '16.91', '105.91', '10.00', '50.00', '55.91']);
    // A draft's draws are pending: the balances stay until it is issued.
    expect((await grants(s)).map((g) => [g.id, g.kind, g.amount, g.drawn, g.balance, g.status])).toEqual([
      ['1', 'promotional', '10.00', '0.00', '10.00', 'active'],
      ['2', 'prepaid', '50.00', '0.00', '50.00', 'active'],
    ]);
    expect((await s.json<{ draws: { status: string; amount: string }[] }>(['credit', 'show', '1'])).draws).toEqual([
      expect.objectContaining({ status: 'pending', amount: '10.00', number: null }),
    ]);

    await s.run(['invoice', 'finalize', '1', '--issue-date', '2026-11-02', '--yes']);
    const inv = await show(s, 'INV-2026-000001');
    expect([inv.total, inv.prepaid_applied, inv.amount_due]).toEqual(['105.91', '50.00', '55.91']);
    // The customer's document: the promotional credit a row the subtotal adds up, the prepaid one after the total.
    const text = squash(pdfText(fs.readFileSync(path.join(s.dir, inv.pdf!)), undefined, 'raw'));
    expect(text).toContain('Launch promotion -10.00');
    expect(text).toContain('Subtotal 89.00');
    expect(text).toContain('Paid in advance -50.00');
    expect(text).toContain('55.91');
    expect(text).not.toMatch(/UNPRICED|prepaid_applied|credit_note/);
    expect((await grants(s)).map((g) => [g.drawn, g.balance, g.status])).toEqual([['10.00', '0.00', 'used'], ['50.00', '0.00', 'used']]);
    expect((await s.json<{ draws: unknown[] }>(['credit', 'show', '2'])).draws).toEqual([
      { invoice_id: '1', number: 'INV-2026-000001', period: '2026-10', status: 'recorded', issue_date: '2026-11-02', amount: '50.00', returned_at: null },
    ]);
    const audit = await s.json<AuditJson[]>(['audit']);
    expect(audit.filter((a) => a.command.startsWith('credit')).map((a) => [a.command, a.details.grant, a.details.amount])).toEqual([
      ['credit grant', '1', '10.00'], ['credit grant', '2', '50.00'], ['credit draw', '1', '10.00'], ['credit draw', '2', '50.00'],
    ]);
    expect(audit.find((a) => a.command === 'credit draw')!.details).toMatchObject({ invoice: '1', number: 'INV-2026-000001', kind: 'promotional' });
  });

  it('draws in order: the one expiring first, then the oldest, then by id; never below 0', async () => {
    const s = await clockStore(backend);
    await proTenant(s, 'acme', '0');
    await s.run(['credit', 'grant', 'acme', '--amount', '60', '--name', 'A']);
    await s.run(['credit', 'grant', 'acme', '--amount', '60', '--name', 'B']);
    await s.run(['credit', 'grant', 'acme', '--amount', '60', '--name', 'C', '--expires', '2027-01-01']);
    await s.run(['credit', 'grant', 'acme', '--amount', '30', '--name', 'D', '--start', '2026-10-01']);
    await s.run(['credit', 'grant', 'acme', '--amount', '5', '--name', 'E', '--kind', 'prepaid', '--expires', '2026-12-01']);
    const inv = await issue(s, 'acme', '2026-10', '2026-11-02');
    const full = await show(s, inv.number!);
    // C expires first; D and A, B never expire: D started first; A and B started the same day: by id.
    expect(credits(full)).toEqual(['Credit: C -60.00', 'Credit: D -30.00', 'Credit: A -9.00']);
    expect([full.subtotal, full.total, full.prepaid_applied, full.amount_due]).toEqual(['0.00', '0.00', '0.00', '0.00']);
    expect((await grants(s)).map((g) => `${g.name} ${g.balance}`)).toEqual(['A 51.00', 'B 60.00', 'C 0.00', 'D 0.00', 'E 5.00']);
    // November: what is left, A before B (by id).
    s.now = '2026-12-02T10:00:00Z';
    const nov = await show(s, (await issue(s, 'acme', '2026-11', '2026-12-02')).number!);
    expect(credits(nov)).toEqual(['Credit: A -51.00', 'Credit: B -48.00']);
    expect((await grants(s)).map((g) => `${g.name} ${g.balance} ${g.status}`)).toEqual(['A 0.00 used', 'B 12.00 active', 'C 0.00 used', 'D 0.00 used', 'E 5.00 expired']);
  });

  it('draws what is usable on the issue date: a grant expiring between draft and finalize is not drawn, one starting meanwhile is', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    await s.run(['credit', 'grant', 'acme', '--amount', '10', '--name', 'Ends soon', '--expires', '2026-11-05']);
    await s.run(['credit', 'grant', 'acme', '--amount', '5', '--name', 'Starts later', '--start', '2026-11-04']);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme']);
    expect(credits(await show(s, '1'))).toEqual(['Credit: Ends soon -10.00']);
    const fin = await s.run(['invoice', 'finalize', '1', '--issue-date', '2026-11-05', '--yes']);
    expect(fin.stderr).toContain('acme 2026-10: the draft was out of date and was remade before issuing');
    const inv = await show(s, 'INV-2026-000001');
    // Usable up to, not including, its expiry: on 2026-11-05 "Ends soon" is over.
    expect(credits(inv)).toEqual(['Credit: Starts later -5.00']);
    expect([inv.subtotal, inv.tax, inv.total]).toEqual(['94.00', '17.86', '111.86']);
    expect((await grants(s)).map((g) => `${g.name} ${g.balance} ${g.status}`)).toEqual(['Ends soon 10.00 active', 'Starts later 0.00 used']);
  });

  it('drafts show what they would draw and follow every change of the grants', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme']);
    expect((await show(s, '1')).total).toBe('117.81');
    const granted = await s.run(['credit', 'grant', 'acme', '--amount', '20']);
    expect(granted.stderr).toContain('1 draft(s) of acme now draw differently');
    const withCredit = await show(s, '1');
    expect(credits(withCredit)).toEqual(['Credit: Promotional credit -20.00']);
    expect([withCredit.subtotal, withCredit.total, withCredit.amount_due]).toEqual(['79.00', '94.01', '94.01']);
    // Made again from the same data: unchanged.
    const again = await s.json<{ results: { status: string }[] }>(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme']);
    expect(again.results.map((r) => r.status)).toEqual(['unchanged']);
    await s.run(['credit', 'revoke', '1', '--reason', 'granted to the wrong tenant']);
    const revoked = await show(s, '1');
    expect([credits(revoked), revoked.total]).toEqual([[], '117.81']);
    expect((await grants(s))[0]).toMatchObject({ status: 'revoked', balance: '20.00' });
    await s.run(['credit', 'revoke', '1', '--reason', 'again'], 2);
    expect((await s.json<AuditJson[]>(['audit'])).map((a) => a.command).filter((c) => c.startsWith('credit'))).toEqual(['credit grant', 'credit revoke']);
  });

  it('voiding an invoice returns its draws to the grants; the period issued again draws them again', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    await s.run(['credit', 'grant', 'acme', '--amount', '150', '--name', 'Welcome']);
    await s.run(['credit', 'grant', 'acme', '--amount', '7', '--kind', 'prepaid']);
    await issue(s, 'acme', '2026-10', '2026-11-02');
    expect((await grants(s)).map((g) => g.balance)).toEqual(['51.00', '7.00']);
    await s.run(['invoice', 'void', 'INV-2026-000001', '--reason', 'wrong address', '--yes']);
    const voided = await show(s, 'INV-2026-000001');
    expect([voided.status, voided.amount_due]).toEqual(['void', '0.00']);
    expect((await grants(s)).map((g) => g.balance)).toEqual(['150.00', '7.00']);
    expect((await s.json<{ draws: { status: string; returned_at: string | null }[] }>(['credit', 'show', '1'])).draws.map((d) => d.status)).toEqual(['returned']);
    const returned = (await s.json<AuditJson[]>(['audit'])).filter((a) => a.command === 'credit return');
    // The prepaid grant was not drawn: the promotional credit took the total to 0.
    expect(returned.map((a) => [a.details.grant, a.details.amount, a.details.number])).toEqual([['1', '99.00', 'INV-2026-000001']]);
    const again = await issue(s, 'acme', '2026-10', '2026-11-03');
    expect(again.number).toBe('INV-2026-000002');
    expect(credits(await show(s, 'INV-2026-000002'))).toEqual(['Credit: Welcome -99.00']);
    expect((await grants(s)).map((g) => g.balance)).toEqual(['51.00', '7.00']);
  });

  it('credit lines are not usage: late usage re-rates the period and never changes or takes back its credits', async () => {
    const s = await clockStore(backend);
    await proTenant(s, 'b', '0');
    await s.run(['import', s.file('oct.csv', csvOf([['o1', 'b', '2026-10-10T00:00:00Z', 'completed', 'qwen-70b', '', 0, 15_000_000, 0]]))]);
    await s.run(['credit', 'grant', 'b', '--amount', '20', '--name', 'Launch promotion']);
    const oct = await show(s, (await issue(s, 'b', '2026-10', '2026-11-02')).number!);
    expect(oct.lines!.map((l) => `${l.kind} ${l.amount}`)).toEqual(['fee 99.00', 'input_tokens 15.00', 'credit -20.00']);
    // A receipt of October arrives late: 1,000,000 more input tokens, all billed (3.00).
    await s.run(['import', s.file('late.csv', csvOf([['o0', 'b', '2026-10-05T00:00:00Z', 'completed', 'qwen-70b', '', 0, 1_000_000, 0]]))]);
    s.now = '2026-12-02T10:00:00Z';
    const nov = await show(s, (await issue(s, 'b', '2026-11', '2026-12-02')).number!);
    expect(nov.lines!.map((l) => `${l.kind} ${l.description} ${l.amount}`)).toEqual([
      'fee Pro plan fee 99.00',
      'adjustment Adjustment for 2026-10: Qwen-70B input tokens 3.00',
    ]);
    expect(nov.total).toBe('102.00');
  });

  it('refuses bad grants (exit 2) and names what to do', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    const cases: [string[], string][] = [
      [['credit', 'grant', 'nobody', '--amount', '5'], 'no tenant "nobody"'],
      [['credit', 'grant', 'acme', '--amount', '0'], '--amount: the amount must be more than 0'],
      [['credit', 'grant', 'acme', '--amount', '1.005'], '--amount: 1.005 has more decimals than USD has (2)'],
      [['credit', 'grant', 'acme', '--amount', 'ten'], '--amount: "ten" is not an amount'],
      [['credit', 'grant', 'acme', '--amount', '5', '--kind', 'gift'], '--kind: "gift" is not one of promotional, prepaid'],
      [['credit', 'grant', 'acme', '--amount', '5', '--start', '2026-02-30'], '--start: "2026-02-30" is not a date'],
      [['credit', 'grant', 'acme', '--amount', '5', '--expires', '2026-11-02'], '--expires 2026-11-02 is not after the start 2026-11-02'],
      [['credit', 'show', '99'], 'no credit grant "99"'],
      [['credit', 'list', '--tenant', 'nobody'], 'no tenant "nobody"'],
      [['credit', 'revoke', '1', '--reason', 'x'], 'no credit grant "1"'],
    ];
    for (const [argv, message] of cases) {
      const r = await s.run(argv, 2);
      expect(r.stderr, argv.join(' ')).toContain(message);
    }
    expect(await grants(s)).toEqual([]);
  });

  it('lists grants as JSON and CSV with balances', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    await proTenant(s, 'beta');
    await s.run(['credit', 'grant', 'beta', '--amount', '12.5', '--name', '=HYPERLINK("x")', '--expires', '2027-01-01']);
    const list = await s.json<GrantJson[]>(['credit', 'list', '--tenant', 'beta']);
    expect(list).toEqual([{
      id: '1', tenant_id: 'beta', kind: 'promotional', name: '=HYPERLINK("x")', currency: 'USD', amount: '12.50', drawn: '0.00', balance: '12.50',
      start: '2026-11-02', expires: '2027-01-01', status: 'active', revoked_at: null, created_at: expect.stringMatching(/^2026-11-02T10:00/),
    }]);
    expect(await s.json<GrantJson[]>(['credit', 'list', '--tenant', 'acme'])).toEqual([]);
    const csv = (await s.run(['export', 'credits'])).stdout.split('\r\n');
    expect(csv[0]).toBe('id,tenant_id,kind,name,currency,amount,drawn,balance,start,expires,status,revoked_at,created_at');
    expect(csv[1]).toMatch(/^1,beta,promotional,"'=HYPERLINK\(""x""\)",USD,12.50,0.00,12.50,2026-11-02,2027-01-01,active,,2026-11-02T10:00/);
  });
});
