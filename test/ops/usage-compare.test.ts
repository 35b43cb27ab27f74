/** usage --compare-reported: the receipts' reported cost against the usage they were rated for (no plan fee, no discount). */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { makeStore } from '../helpers/store-setup.js';
import { parseJson } from './helpers.js';

afterAll(dropSchemas);

describeEachBackend('usage --compare-reported', (backend) => {
  it('compares the usage lines with the reported cost: the fee and the discount are not differences', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'big', '--plan', 'enterprise']); // fee 2,500.00, 1,000 GPU hours included, 10 % usage discount
    await s.run(['import', s.file('r.jsonl', [
      // 1,000 h covered by the allowance, then 10 h at 4.00 = 40.00 (the discount takes 4.00 off the subtotal).
      '{"id":"g1","tenant_id":"big","timestamp":"2026-10-02T10:00:00Z","gpu_type":"a100-80gb","gpu_seconds":3600000,"cost":"0"}',
      '{"id":"g2","tenant_id":"big","timestamp":"2026-10-03T10:00:00Z","gpu_type":"a100-80gb","gpu_seconds":36000,"cost":"40.00"}',
    ].join('\n'))]);
    await s.run(['usage', '--period', '2026-10']); // fills the usage cache, which holds no usage amount
    for (const extra of [[], ['--by', 'gpu']]) {
      for (let i = 0; i < 2; i++) {
        const [row] = parseJson<Record<string, unknown>[]>((await s.run(['usage', '--period', '2026-10', '--compare-reported', '--format', 'json', ...extra])).stdout);
        expect(row, extra.join(' ')).toMatchObject({
          rated_amount: extra.length === 0 ? '2536.00' : '40.00', rated_usage: '40.00', reported_cost: '40.00', difference: '0.00',
        });
      }
    }
    const csv = (await s.run(['usage', '--period', '2026-10', '--compare-reported', '--format', 'csv'])).stdout;
    expect(csv.split('\n')[1]).toBe('big,2026-10,2,2,3636000,0,0,0,0,0,2536.00,USD,40.00,40.00,0.00');
  });
});
