/** A tenant's timezone is stored as the IANA name the user gave, never ICU's deprecated alias. */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { json } from '../helpers/cli.js';
import { makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

describeEachBackend('timezones', (backend) => {
  it('tenant add, update and import keep the given name (validated); only letter case is corrected', async () => {
    const s = await makeStore(await backend.fresh());
    const tz = async (id: string) => json<{ timezone: string }>(await s.run(['tenant', 'show', id, '--format', 'json'])).timezone;
    for (const [id, given, stored] of [
      ['kol', 'Asia/Kolkata', 'Asia/Kolkata'], ['kyiv', 'Europe/Kyiv', 'Europe/Kyiv'], ['us', 'US/Eastern', 'US/Eastern'],
      ['etc', 'Etc/UTC', 'Etc/UTC'], ['ber', 'europe/berlin', 'Europe/Berlin'], ['utc', 'utc', 'UTC'],
    ]) {
      await s.run(['tenant', 'add', id!, '--timezone', given!]);
      expect(await tz(id!), given).toBe(stored);
    }
    await s.run(['tenant', 'update', 'ber', '--timezone', 'America/Argentina/Buenos_Aires']);
    expect(await tz('ber')).toBe('America/Argentina/Buenos_Aires');
    await s.run(['tenant', 'import', s.file('t.csv', 'id,timezone\nimp,Asia/Kolkata\nkyiv,Europe/Kyiv\n')]);
    expect(await tz('imp')).toBe('Asia/Kolkata');
    const bad = await s.run(['tenant', 'add', 'x', '--timezone', 'Asia/Kolkatta'], 2);
    expect(bad.stderr).toContain('"Asia/Kolkatta" is not an IANA timezone');
    // Periods follow the zone as before: Kolkata's October starts at 2026-09-30T18:30Z.
    await s.run(['import', s.file('r.jsonl', [
      '{"id":"sep","tenant_id":"kol","timestamp":"2026-09-30T18:29:59.999Z","model":"qwen-70b","input_tokens":1}',
      '{"id":"oct","tenant_id":"kol","timestamp":"2026-09-30T18:30:00Z","model":"qwen-70b","input_tokens":1}',
    ].join('\n'))]);
    const usage = json<{ receipts: number }[]>(await s.run(['usage', '--period', '2026-10', '--tenant', 'kol', '--format', 'json']));
    expect(usage.map((u) => u.receipts)).toEqual([1]);
  });
});
