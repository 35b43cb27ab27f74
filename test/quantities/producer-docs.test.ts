/**
 * docs/import.md, "Token classes": each producer's example receipt, read out of the guide and
 * imported on every backend, is stored with the classes the guide's table says.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { ROOT } from '../helpers/cli.js';
import { freshStore, write } from '../ingest/helpers.js';

afterAll(dropSchemas);

const GUIDE = fs.readFileSync(path.join(ROOT, 'docs', 'import.md'), 'utf8');
const SECTION = GUIDE.slice(GUIDE.indexOf('### Token classes'), GUIDE.indexOf('**Covenant maps.**'));
/** The section's JSON examples, each one receipt over several lines. */
const EXAMPLES = [...SECTION.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
/** The section's table: producer -> [input, cached, cache write, output, reasoning]. */
const TABLE = SECTION.split('\n').filter((l) => /^\| [A-Za-z]/.test(l) && !l.startsWith('| producer'))
  .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
  .map(([name, ...n]) => [name!, n.map((x) => Number(x.replace(/,/g, '')))] as const);

describeEachBackend('the producer examples of docs/import.md', (backend) => {
  it('import with the classes the guide states', async () => {
    expect(EXAMPLES).toHaveLength(4);
    expect(TABLE.map(([n]) => n)).toEqual(['OpenAI chat completions', 'OpenAI responses', 'Anthropic messages', 'strike receipt']);
    const s = await freshStore(backend);
    const dir = tempDir('producers');
    const r = await s.run(['import', write(dir, 'p.jsonl', EXAMPLES.map((e) => JSON.stringify(e)).join('\n') + '\n'), '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ imported: 4, rejected: 0 });
    const csv = (await s.run(['export', 'receipts', '--format', 'csv'])).stdout.trim().split('\r\n').map((l) => l.split(','));
    const [header, ...rows] = csv;
    const col = (name: string) => header!.indexOf(name);
    const classes = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens'];
    // In file order (timestamps 10:00, 10:01, 10:02, 10:03).
    const got = rows.sort((a, b) => (a[col('timestamp')]! < b[col('timestamp')]! ? -1 : 1)).map((row) => classes.map((c) => Number(row[col(c)])));
    expect(got).toEqual(TABLE.map(([, n]) => n));
  });
});
