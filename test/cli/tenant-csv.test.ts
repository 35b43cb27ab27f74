/** `tenant list --format csv` imports back through `tenant import`, unchanged, on both stores. */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { jsonOf, makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

type TenantJson = Record<string, unknown> & { id: string; plans: { plan: string; from: string | null }[] };

/** What a tenant is, without when it was written. */
const essence = (t: TenantJson) => {
  const { created_at: _c, updated_at: _u, plans, ...rest } = t;
  return { ...rest, plans: plans.map((p) => [p.plan, p.from]) };
};

describeEachBackend('tenant CSV', (backend) => {
  it('writes every column tenant import reads, and imports back unchanged, here and into a new store', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme "Robotics", Inc.', '--plan', 'free', '--timezone', 'Europe/Berlin',
      '--tax-rate', '0.19', '--tax-label', 'VAT', '--net-days', '14', '--email', 'ap@acme.example', '--address', 'Hauptstr. 1\\n10115 Berlin',
      '--tax-id', 'DE123456789', '--po-number', 'PO-4711', '--currency', 'usd']);
    await s.run(['tenant', 'set-plan', 'acme', 'pro', '--from', '2026-10']);
    // Recorded later with the same from: the pro entry never holds, so the file leaves it out.
    await s.run(['tenant', 'set-plan', 'acme', 'enterprise', '--from', '2026-10']);
    await s.run(['tenant', 'set-plan', 'acme', 'pro', '--from', '2027-01']);
    await s.run(['tenant', 'add', 'jp', '--name', '株式会社テスト', '--plan', 'enterprise', '--timezone', 'Asia/Tokyo']);
    await s.run(['tenant', 'add', 'self', '--plan', 'pro', '--billing-mode', 'invoice']);
    await s.run(['tenant', 'update', 'self', '--billing-mode', 'stripe', '--stripe-since', '2026-12', '--stripe-customer', 'cus_Abc123']);
    // Text a spreadsheet would run as a formula is written neutralised ('=…) and read back as it was.
    await s.run(['tenant', 'add', '=cmd', '--name', "'t Hoff & -Partners", '--po-number', '+PO-1']);

    const csv = (await s.run(['tenant', 'list', '--format', 'csv'])).stdout;
    expect(csv).toBe(
      [
        'id,name,plan,from,timezone,tax_rate,tax_label,net_days,email,address,tax_id,po_number,currency,billing_mode,stripe_customer,stripe_since',
        "'=cmd,''t Hoff & -Partners,free,,UTC,0,Tax,30,,,,'+PO-1,,invoice,,",
        'acme,"Acme ""Robotics"", Inc.",free,,Europe/Berlin,0.19,VAT,14,ap@acme.example,"Hauptstr. 1\n10115 Berlin",DE123456789,PO-4711,USD,invoice,,',
        'acme,,enterprise,2026-10,,,,,,,,,,,,',
        'acme,,pro,2027-01,,,,,,,,,,,,',
        'jp,株式会社テスト,enterprise,,Asia/Tokyo,0,Tax,30,,,,,,invoice,,',
        'self,self,pro,,UTC,0,Tax,30,,,,,,stripe,cus_Abc123,2026-12',
        '',
      ].join('\n'),
    );
    const file = s.file('tenants.csv', csv);
    const before = jsonOf<TenantJson[]>(await s.run(['tenant', 'list', '--format', 'json']));

    // The same store: nothing changes.
    const again = jsonOf(await s.run(['tenant', 'import', file, '--format', 'json']));
    expect(again).toEqual({ rows: 6, created: 0, updated: 0, unchanged: 4, plan_changes: 0 });
    expect(jsonOf<TenantJson[]>(await s.run(['tenant', 'list', '--format', 'json']))).toEqual(before);

    // A new store: the same tenants, the same plan for every period, the same file.
    const t = await makeStore(await backend.fresh());
    expect(jsonOf(await t.run(['tenant', 'import', file, '--format', 'json']))).toEqual({ rows: 6, created: 4, updated: 0, unchanged: 0, plan_changes: 0 });
    expect((await t.run(['tenant', 'list', '--format', 'csv'])).stdout).toBe(csv);
    const moved = jsonOf<TenantJson[]>(await t.run(['tenant', 'list', '--format', 'json']));
    const superseded = (x: TenantJson[]) => x.map((tt) => ({ ...tt, plans: tt.plans.filter((p, i) => !(tt.id === 'acme' && i === 1)) }));
    expect(moved.map(essence)).toEqual(superseded(before).map(essence));
    expect(moved.find((x) => x.id === 'self')!.stripe_since).toBe('2026-12-01T00:00:00.000Z');
    expect(moved.find((x) => x.id === '=cmd')).toMatchObject({ name: "'t Hoff & -Partners", po_number: '+PO-1' });
  });

  it("refuses a tenant's further row that changes more than its plan, naming the line", async () => {
    const s = await makeStore(await backend.fresh());
    const file = s.file('t.csv', 'id,name,plan,from\nacme,Acme,free,\nacme,Other,pro,2026-10\nacme,,,2026-11\n');
    const r = await s.run(['tenant', 'import', file], 2);
    expect(r.stderr).toContain("line 3: name: differs from line 2, the tenant's first row (its further rows only add plan entries)");
    expect(r.stderr).toContain('line 4: plan: a further row of tenant "acme" adds a plan entry and needs a plan');
    expect(jsonOf<unknown[]>(await s.run(['tenant', 'list', '--format', 'json']))).toEqual([]);
  });
});
