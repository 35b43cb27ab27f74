/** billctl import / backfill on the command line: summary JSON, exit codes, rejects, batches, every input kind. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/main.js';
import { cli, type CliResult } from '../helpers/cli.js';
import { dumpStore, fixture, freshStore, query, summaryOf, write } from '../ingest/helpers.js';

afterAll(dropSchemas);

const line = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;

/** Runs billctl in this process with stderr as a terminal (cli-progress draws only on one). */
async function onTerminal(argv: string[]): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 200 });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (d: Buffer) => out.push(d));
  stderr.on('data', (d: Buffer) => err.push(d));
  const code = await main(argv, {
    stdout, stderr, stdin: Readable.from([]), stdoutIsTTY: false, stderrIsTTY: true, stdinIsTTY: false,
    env: { ...process.env, NO_COLOR: '1', BILLCTL_ACTOR: 'test' }, cwd: process.cwd(),
  });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
const rec = (id: string, extra: Record<string, unknown> = {}) =>
  line({ id, tenant_id: 'acme', timestamp: '2026-10-03T10:00:00Z', model: 'Qwen-70B', input_tokens: 100, output_tokens: 10, ...extra });

describeEachBackend('billctl import', (backend) => {
  it('imports the formats of receipts.md, creating tenants on the default plan', async () => {
    const s = await freshStore(backend);
    const r = await s.run([
      'import', fixture('spec-examples.jsonl'), fixture('spec-example.csv'), '--covenant-map', fixture('covenants.csv'), '--format', 'json',
    ]);
    expect(r.code).toBe(0);
    expect(summaryOf(r)).toEqual({
      files: 2, lines: 4, imported: 4, duplicates: 0, conflicts: 0, rejected: 0, new_tenants: 2, unsplit_tokens: 1,
    });
    const d = await dumpStore(s.db);
    expect(d.receipts.map((x) => [x.tenant_id, x.id, x.gpu_key, x.gpu_seconds, x.input_tokens, x.output_tokens, x.unsplit])).toEqual([
      ['acme', '5f0c', 'a100-80gb', 412, 1800, 350, 0],
      ['acme', '77b2', 'rtx-4090', 900, 5200, 0, 1],
      ['acme', 'r-1', 'a100-80gb', 412, 1800, 350, 0],
      ['org_123', 'req_81', null, 0, 150, 300, 0],
    ]);
    expect(d.tenants).toEqual([
      { id: 'acme', timezone: 'UTC', auto_created: 1 },
      { id: 'org_123', timezone: 'UTC', auto_created: 1 },
    ]);
    const plans = await query(s.db, 'SELECT tenant_id, plan, from_period FROM tenant_plans ORDER BY tenant_id');
    expect(plans).toEqual([
      { tenant_id: 'acme', plan: 'free', from_period: null },
      { tenant_id: 'org_123', plan: 'free', from_period: null },
    ]);
    // Each file's batch has its audit entry, written with the receipts it accounts for.
    const audit = JSON.parse((await s.run(['audit', '--format', 'json'])).stdout) as { command: string; actor: string; details: Record<string, unknown> }[];
    expect(audit.filter((e) => e.command === 'import').map((e) => [e.actor, e.details])).toEqual([
      ['test', { file: fixture('spec-examples.jsonl'), batch: 1, status: 'complete', lines: 3, imported: 3, duplicates: 0, conflicts: 0, rejected: 0, new_tenants: 2, unsplit_tokens: 1 }],
      ['test', { file: fixture('spec-example.csv'), batch: 2, status: 'complete', lines: 1, imported: 1, duplicates: 0, conflicts: 0, rejected: 0, new_tenants: 0, unsplit_tokens: 0 }],
    ]);
  });

  it('reports each reject with file, line and reason; --rejects writes them verbatim; exit 3', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('rejects');
    const rejects = path.join(dir, 'rejects.jsonl');
    const r = await s.run(['import', 'mixed-rejects.jsonl', '--rejects', rejects, '--format', 'json'], { cwd: path.dirname(fixture('x')) });
    expect(r.code).toBe(3);
    expect(summaryOf(r)).toMatchObject({ lines: 8, imported: 2, rejected: 6, conflicts: 0 });
    expect(r.stderr).toContain('mixed-rejects.jsonl:2: timestamp "2026-02-30T10:00:00Z" names a day that does not exist');
    expect(r.stderr).toContain('mixed-rejects.jsonl:3: timestamp has no UTC offset');
    expect(r.stderr).toContain('mixed-rejects.jsonl:4: input_tokens is 9007199254740993: above 2^53 − 1 (9007199254740991)');
    expect(r.stderr).toContain('mixed-rejects.jsonl:5: input_tokens is "12a": not a whole number');
    expect(r.stderr).toContain('mixed-rejects.jsonl:6: gpu_seconds 5 but no gpu_type');
    expect(r.stderr).toMatch(/mixed-rejects\.jsonl:7: not valid JSON: /);
    const lines = fs.readFileSync(fixture('mixed-rejects.jsonl'), 'utf8').split('\n');
    const written = fs.readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(written.map((w) => [w.line, w.text])).toEqual([2, 3, 4, 5, 6, 7].map((n) => [n, lines[n - 1]]));
    expect(written.every((w) => w.file === 'mixed-rejects.jsonl' && w.kind === 'reject' && typeof w.reason === 'string')).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['rejects.jsonl']); // written through a temporary file, renamed
    // The same file again: not read, but its rejects are rejects again (exit 3, the same report and --rejects file).
    const again = await s.run(['import', 'mixed-rejects.jsonl', '--rejects', path.join(dir, 'again.jsonl'), '--format', 'json'], { cwd: path.dirname(fixture('x')) });
    expect(again.code).toBe(3);
    expect(summaryOf(again)).toEqual({
      files: 1, lines: 8, imported: 0, duplicates: 2, conflicts: 0, rejected: 6, new_tenants: 0, unsplit_tokens: 0,
    });
    expect(again.stderr).toContain('mixed-rejects.jsonl:3: timestamp has no UTC offset');
    expect(again.stderr).toContain('1 file already imported with the same settings, not read again (counted as reading them again would; --force reads them)');
    expect(fs.readFileSync(path.join(dir, 'again.jsonl'), 'utf8')).toBe(fs.readFileSync(rejects, 'utf8'));
  });

  it('skips duplicates, keeps conflicts out and reports both versions; the same file again is skipped at once', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('dups');
    const a = write(dir, 'a.jsonl', rec('r1') + rec('r2') + rec('r1'));
    const first = await s.run(['import', a, '--format', 'json']);
    expect(summaryOf(first)).toMatchObject({ lines: 3, imported: 2, duplicates: 1, conflicts: 0 });
    expect(first.code).toBe(0);
    const again = await s.run(['import', a, '--format', 'json']);
    // Not read again, but counted as reading it again would: every record a duplicate (receipts.md: across runs).
    expect(summaryOf(again)).toEqual({
      files: 1, lines: 3, imported: 0, duplicates: 3, conflicts: 0, rejected: 0, new_tenants: 0, unsplit_tokens: 0,
    });
    expect(again.stderr).toBe('1 file already imported with the same settings, not read again (counted as reading them again would; --force reads them)\n');
    expect(again.code).toBe(0);
    // The same bytes under another name: matched by SHA-256.
    const copy = write(dir, 'copy.jsonl', fs.readFileSync(a));
    const copied = await s.run(['import', copy, '--format', 'json']);
    expect(summaryOf(copied)).toMatchObject({ lines: 3, duplicates: 3 });
    expect(copied.stderr).toBe('1 file already imported with the same settings, not read again (counted as reading them again would; --force reads them)\n');
    const before = await dumpStore(s.db);
    const forced = await s.run(['import', a, '--force', '--format', 'json']);
    expect(summaryOf(forced)).toMatchObject({ lines: 3, imported: 0, duplicates: 3 });
    expect(forced.stderr).toBe('');
    expect(await dumpStore(s.db)).toEqual(before);

    const b = write(dir, 'b.jsonl', rec('r2', { output_tokens: 11, status: 'completed' }) + rec('r3'));
    const c = await s.run(['import', b, '--format', 'json', '--rejects', path.join(dir, 'rej.jsonl')]);
    expect(c.code).toBe(3);
    expect(summaryOf(c)).toMatchObject({ imported: 1, conflicts: 1, duplicates: 0 });
    expect(c.stderr).toContain('b.jsonl:1: conflict: receipt "r2" of tenant "acme" is already stored');
    expect(c.stderr).toContain('output_tokens 10 -> 11');
    expect(c.stderr).toMatch(/stored: \{.*"output_tokens":10/);
    expect(c.stderr).toMatch(/new: +\{.*"output_tokens":11/);
    const c2 = await s.run(['import', b, '--format', 'json']);
    expect(c2.code).toBe(3);
    expect(summaryOf(c2)).toMatchObject({ lines: 2, imported: 0, conflicts: 1, duplicates: 1 });
    expect(c2.stderr).toContain('1 file already imported with the same settings, not read again (counted as reading them again would; --force reads them)');
    expect(c2.stderr).toContain('b.jsonl:1: conflict: receipt "r2" of tenant "acme" is already stored');
    const rej = JSON.parse(fs.readFileSync(path.join(dir, 'rej.jsonl'), 'utf8')) as Record<string, unknown>;
    expect(rej).toMatchObject({ kind: 'conflict', line: 1, id: 'r2', tenant_id: 'acme', text: rec('r2', { output_tokens: 11, status: 'completed' }).trim() });
    expect((await query(s.db, "SELECT output_tokens FROM receipts WHERE id = 'r2'"))[0]).toEqual({ output_tokens: 10 });
  });

  it('records the SHA-256 of a file hashed as it is read, and of one hashed first because a complete batch has its size', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('sha');
    const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    // No batch yet: hashed by the reading thread as it reads.
    const a = write(dir, 'a.jsonl', rec('r1') + rec('r2'));
    expect(summaryOf(await s.run(['import', a, '--format', 'json']))).toMatchObject({ imported: 2 });
    // Same size, other bytes: hashed before reading (it could have been a's content), then imported.
    const b = write(dir, 'b.jsonl', rec('r3') + rec('r4'));
    expect(fs.statSync(b).size).toBe(fs.statSync(a).size);
    expect(summaryOf(await s.run(['import', b, '--format', 'json']))).toMatchObject({ imported: 2 });
    const batches = await query(s.db, 'SELECT path, size, sha256, status FROM ingest_batches ORDER BY id');
    expect(batches).toEqual([
      { path: a, size: fs.statSync(a).size, sha256: sha(a), status: 'complete' },
      { path: b, size: fs.statSync(b).size, sha256: sha(b), status: 'complete' },
    ]);
    // The recorded hash is what skips a copy of a.
    const copy = write(dir, 'copy.jsonl', fs.readFileSync(a));
    const copied = await s.run(['import', copy, '--format', 'json']);
    expect(summaryOf(copied)).toMatchObject({ lines: 2, imported: 0, duplicates: 2 });
    expect(copied.stderr).toBe('1 file already imported with the same settings, not read again (counted as reading them again would; --force reads them)\n');
  });

  it('reads gzip, a JSON array, CSV with quoted newlines and CRLF, a BOM, a directory in path order', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('formats');
    write(dir, 'in/b/2.jsonl.gz', zlib.gzipSync(`\uFEFF${rec('g1').trim()}\r\n\r\n${rec('g2').trim()}\r\n`));
    write(dir, 'in/a.csv', fs.readFileSync(fixture('quoted-newlines.csv')));
    write(dir, 'in/c.json', fs.readFileSync(fixture('array.json')));
    write(dir, 'in/.hidden.jsonl', rec('hidden'));
    write(dir, 'in/b.jsonl', rec('b1'));
    write(dir, 'in/notes.txt', 'not receipts');
    const rejects = path.join(dir, 'rejects.jsonl');
    const r = await s.run(['import', 'in', '--format', 'json', '--rejects', rejects], { cwd: dir });
    expect(summaryOf(r)).toMatchObject({ files: 5, lines: 9, imported: 8, rejected: 1 });
    expect(r.stderr).toContain(`${path.join('in', 'c.json')}:3: not a JSON object (a number)`);
    const ids = (await query<{ id: string }>(s.db, 'SELECT id FROM receipts ORDER BY id')).map((x) => x.id);
    expect(ids).toEqual(['a-1', 'a-2', 'b1', 'g1', 'g2', 'hidden', 'q-1', 'q-2']);
    // Path order is the byte order of whole paths: every file (hidden ones too), and b.jsonl before b/2.jsonl.gz.
    const batches = await query<{ display: string; lines: number }>(s.db, 'SELECT display, lines FROM ingest_batches ORDER BY id');
    expect(batches).toEqual([
      { display: path.join('in', '.hidden.jsonl'), lines: 1 },
      { display: path.join('in', 'a.csv'), lines: 2 },
      { display: path.join('in', 'b.jsonl'), lines: 1 },
      { display: path.join('in', 'b', '2.jsonl.gz'), lines: 2 },
      { display: path.join('in', 'c.json'), lines: 3 },
    ]);
  });

  it('follows symbolic links in a directory only while they stay inside it, and reads a file reached twice once', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('links');
    write(dir, 'secret.jsonl', rec('outside'));
    write(dir, 'other/x.jsonl', rec('other'));
    write(dir, 'in/a.jsonl', rec('a'));
    write(dir, 'in/sub/b.jsonl', rec('b'));
    fs.symlinkSync('..', path.join(dir, 'in', 'up'));
    fs.symlinkSync(path.join(dir, 'other'), path.join(dir, 'in', 'elsewhere'));
    fs.symlinkSync(path.join(dir, 'secret.jsonl'), path.join(dir, 'in', 'secret.jsonl'));
    fs.symlinkSync('sub', path.join(dir, 'in', 'again'));
    fs.symlinkSync('a.jsonl', path.join(dir, 'in', 'a-too.jsonl'));
    const r = await s.run(['import', 'in', '--format', 'json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(summaryOf(r)).toMatchObject({ files: 2, lines: 2, imported: 2 });
    const ids = (await query<{ id: string }>(s.db, 'SELECT id FROM receipts ORDER BY id')).map((x) => x.id);
    expect(ids).toEqual(['a', 'b']);
    const batches = await query<{ display: string }>(s.db, 'SELECT display FROM ingest_batches ORDER BY id');
    expect(batches.map((b) => b.display)).toEqual([path.join('in', 'a.jsonl'), path.join('in', 'sub', 'b.jsonl')]);
    for (const link of ['elsewhere', 'secret.jsonl', 'up']) {
      expect(r.stderr).toContain(`warning: ${path.join('in', link)}: a symbolic link to outside the directory named, not read`);
    }
  });

  it('rejects a line holding a raw NUL byte and keeps the others, on every store', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('nul');
    const bad = Buffer.from('{"id":"bad","tenant_id":"a\u0000b","timestamp":"2026-10-03T10:00:00Z"}\n', 'utf8');
    const csvBad = Buffer.from('id,tenant_id,timestamp\nc1,acme,2026-10-03T10:00:00Z\nc2,a\u0000b,2026-10-03T10:00:00Z\n', 'utf8');
    expect(bad.includes(0)).toBe(true);
    const file = write(dir, 'nul.jsonl', Buffer.concat([Buffer.from(rec('n1')), bad, Buffer.from(rec('n2'))]));
    const csv = write(dir, 'nul.csv', csvBad);
    const rejects = path.join(dir, 'rejects.jsonl');
    const r = await s.run(['import', file, csv, '--format', 'json', '--rejects', rejects]);
    expect(r.code).toBe(3);
    expect(summaryOf(r)).toMatchObject({ files: 2, lines: 5, imported: 3, rejected: 2 });
    expect(r.stderr).toContain('nul.jsonl:2: not valid JSON: a control character in a string: unexpected "\\u0000" at position 26');
    expect(r.stderr).toContain('nul.csv:3: tenant_id contains a NUL character');
    const ids = (await query<{ id: string }>(s.db, 'SELECT id FROM receipts ORDER BY id')).map((x) => x.id);
    expect(ids).toEqual(['c1', 'n1', 'n2']);
    const written = fs.readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; text: string });
    expect(written.map((w) => [w.line, w.text])).toEqual([[2, bad.toString('utf8').trim()], [3, 'c2,a\u0000b,2026-10-03T10:00:00Z']]);
    const batches = await query<{ status: string }>(s.db, 'SELECT status FROM ingest_batches ORDER BY id');
    expect(batches.map((b) => b.status)).toEqual(['complete', 'complete']);
    // Read again (skipped): the same rejects, verbatim.
    const again = await s.run(['import', file, csv, '--format', 'json', '--rejects', path.join(dir, 'again.jsonl')]);
    expect(again.code).toBe(3);
    expect(fs.readFileSync(path.join(dir, 'again.jsonl'), 'utf8')).toBe(fs.readFileSync(rejects, 'utf8'));
  });

  it('rejects an empty .json file: it holds neither an object nor an array', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('empty');
    write(dir, 'empty.json', '');
    const r = await s.run(['import', 'empty.json', '--format', 'json'], { cwd: dir });
    expect(r.code).toBe(3);
    expect(summaryOf(r)).toMatchObject({ files: 1, rejected: 1, imported: 0 });
    expect(r.stderr).toContain('empty.json:1: the file is empty: a .json file holds one JSON object or an array of them');
  });

  it('reads standard input: JSON Lines, CSV with --input-format csv, gzip', async () => {
    const s = await freshStore(backend);
    const a = await s.run(['import', '-', '--format', 'json'], { stdin: rec('s1') + rec('s2') });
    expect(summaryOf(a)).toMatchObject({ files: 1, lines: 2, imported: 2 });
    const csv = 'id,tenant_id,timestamp,model,input_tokens\ns3,acme,2026-10-03T10:00:00Z,x,1\n';
    expect(summaryOf(await s.run(['import', '-', '--input-format', 'csv', '--format', 'json'], { stdin: csv }))).toMatchObject({ imported: 1 });
    const gz = zlib.gzipSync(rec('s4'));
    expect(summaryOf(await s.run(['import', '-', '--format', 'json'], { stdin: gz }))).toMatchObject({ imported: 1 });
    const strict = await s.run(['import', '-', '--strict', '--format', 'json'], { stdin: rec('s5') + 'oops\n' });
    expect(strict.code).toBe(3);
    expect(summaryOf(strict)).toEqual({ files: 1, lines: 2, imported: 0, duplicates: 0, conflicts: 0, rejected: 1, new_tenants: 0, unsplit_tokens: 0 });
    expect(strict.stderr).toContain('1 file refused whole by --strict');
    expect(strict.stderr).toContain('-:2: not valid JSON');
    expect((await query(s.db, 'SELECT id FROM receipts ORDER BY id')).map((x) => x.id)).toEqual(['s1', 's2', 's3', 's4']);
  });

  it('--strict imports nothing from a file with a reject, and everything from a clean one', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('strict');
    const bad = write(dir, 'bad.jsonl', rec('x1') + '{"id":"x2"}\n');
    const good = write(dir, 'good.jsonl', rec('y1'));
    const r = await s.run(['import', bad, good, '--strict', '--format', 'json']);
    expect(r.code).toBe(3);
    expect(summaryOf(r)).toMatchObject({ files: 2, lines: 3, imported: 1, rejected: 1 });
    expect(r.stderr).toContain('1 file refused whole by --strict');
    expect((await query(s.db, 'SELECT id FROM receipts')).map((x) => x.id)).toEqual(['y1']);
    // A refused file is not "already imported": without --strict it imports what is valid.
    const again = await s.run(['import', bad, '--format', 'json']);
    expect(summaryOf(again)).toMatchObject({ imported: 1, rejected: 1 });
  });

  it('--dry-run validates and counts like a real run, and writes nothing', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('dry');
    const a = write(dir, 'a.jsonl', rec('d1') + rec('d1') + rec('d2', { tenant_id: 'new-co' }) + 'bad\n');
    const before = await dumpStore(s.db);
    const dry = await s.run(['import', a, '--dry-run', '--format', 'json', '--rejects', path.join(dir, 'r.jsonl')]);
    expect(dry.code).toBe(3);
    expect(summaryOf(dry)).toEqual({
      files: 1, lines: 4, imported: 2, duplicates: 1, conflicts: 0, rejected: 1, new_tenants: 2, unsplit_tokens: 0,
    });
    expect(dry.stderr).toContain('dry run: nothing was written to the store');
    expect(fs.readFileSync(path.join(dir, 'r.jsonl'), 'utf8')).toContain('"line":4');
    expect(await dumpStore(s.db)).toEqual(before);
    expect(await query(s.db, 'SELECT id FROM ingest_batches')).toEqual([]);
    const real = await s.run(['import', a, '--format', 'json']);
    expect(summaryOf(real)).toEqual(summaryOf(dry));
  });

  it('keeps any text exactly: tabs, newlines, backslashes, quotes, accents, emoji (COPY escapes and lookups)', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('text');
    const odd = ['tab\there', 'new\nline', 'back\\slash\\N', 'cr\rhere', '"quoted"', 'ünïcødé', '😀', '\\N', 'a,b'];
    // (tenant ids may not hold control characters: receipts.md)
    const tenant = (v: string) => `t-${v.replace(/[\t\n\r]/g, '_')}`;
    const recs = odd.map((v) => rec(v, { tenant_id: tenant(v), user_id: v, model: `M ${v}`, status: v, cost: '1.5' }));
    const a = write(dir, 'a.jsonl', recs.join(''));
    expect(summaryOf(await s.run(['import', a, '--format', 'json']))).toMatchObject({ imported: odd.length, conflicts: 0 });
    const rows = await query<{ id: string; tenant_id: string; user_id: string; model: string; status: string }>(
      s.db, 'SELECT id, tenant_id, user_id, model, status FROM receipts',
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const v of odd) expect(byId.get(v)).toEqual({ id: v, tenant_id: tenant(v), user_id: v, model: `M ${v}`, status: v });
    // Again, with one changed: every other one a duplicate, found through the lookup path.
    const again = write(dir, 'b.jsonl', recs.map((r, k) => (k === 3 ? r.replace('"input_tokens":100', '"input_tokens":101') : r)).join(''));
    const r = await s.run(['import', again, '--format', 'json']);
    expect(summaryOf(r)).toMatchObject({ imported: 0, duplicates: odd.length - 1, conflicts: 1 });
    expect(r.stderr).toContain('conflict: receipt "cr\\rhere"');
  });

  it('a damaged .gz: what it holds is imported, the rest is one reject (exit 3)', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('gz');
    let text = '';
    for (let i = 0; i < 2000; i++) text += rec(`z${i}`);
    const gz = zlib.gzipSync(text);
    const f = write(dir, 'cut.jsonl.gz', gz.subarray(0, Math.floor(gz.length * 0.6)));
    const r = await s.run(['import', f, '--format', 'json']);
    expect(r.code).toBe(3);
    const sum = summaryOf(r);
    expect(sum.imported).toBeGreaterThan(100);
    expect(sum.imported).toBeLessThan(2000);
    expect(r.stderr).toMatch(/cut\.jsonl\.gz:\d+: the rest of the file cannot be read: unexpected end of file/);
  });

  it('a .gz damaged near its start records the SHA-256 of the whole file, so a copy of it is skipped', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('gzsha');
    let text = '';
    for (let i = 0; i < 20_000; i++) text += rec(`z${i}-${createHash('sha256').update(String(i)).digest('hex')}`);
    const gz = zlib.gzipSync(text);
    expect(gz.length).toBeGreaterThan(600_000); // more than two of the reader's chunks
    gz.fill(0x55, 30, 60);
    const f = write(dir, 'bad.jsonl.gz', gz);
    const r = await s.run(['import', f, '--format', 'json']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/bad\.jsonl\.gz:1: the rest of the file cannot be read/);
    const [batch] = await query(s.db, 'SELECT sha256, size FROM ingest_batches');
    expect(batch).toEqual({ sha256: createHash('sha256').update(gz).digest('hex'), size: gz.length });
    const copied = await s.run(['import', write(dir, 'copy.jsonl.gz', gz), '--format', 'json']);
    expect(copied.stderr).toContain('1 file already imported with the same settings, not read again');
  });

  it('a .json file with one object is one receipt', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('one');
    const r = await s.run(['import', write(dir, 'one.json', JSON.stringify({ id: 'o1', tenant_id: 'acme', time: 1791036431, model: 'm', input_tokens: 1 }, null, 2)), '--format', 'json']);
    expect(summaryOf(r)).toMatchObject({ lines: 1, imported: 1 });
    expect((await query(s.db, 'SELECT ts FROM receipts'))[0]).toEqual({ ts: 1791036431000 });
  });

  it('conflicts and duplicates inside one file, one parcel: the first version stays', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('inner');
    const a = write(dir, 'a.jsonl', rec('i1') + rec('i1', { input_tokens: 5 }) + rec('i1') + rec('i2') + rec('i2', { status: 'FAILED' }));
    const r = await s.run(['import', a, '--format', 'json']);
    expect(summaryOf(r)).toMatchObject({ imported: 2, duplicates: 1, conflicts: 2 });
    expect(r.stderr).toContain('a.jsonl:2: conflict: receipt "i1"');
    expect(r.stderr).toContain('a.jsonl:5: conflict: receipt "i2"');
    expect(r.stderr).toContain('billable true -> false');
    expect(await query(s.db, 'SELECT id, input_tokens, billable FROM receipts ORDER BY id')).toEqual([
      { id: 'i1', input_tokens: 100, billable: 1 },
      { id: 'i2', input_tokens: 100, billable: 1 },
    ]);
  });

  it('a file changed since its batch was read is imported again as new content', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('changed');
    const a = write(dir, 'a.jsonl', rec('c1'));
    expect(summaryOf(await s.run(['import', a, '--format', 'json'])).imported).toBe(1);
    fs.appendFileSync(a, rec('c2'));
    expect(summaryOf(await s.run(['import', a, '--format', 'json']))).toMatchObject({ imported: 1, duplicates: 1 });
  });

  it('says what to do when used wrongly (exit 2)', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('usage');
    const missing = await s.run(['import', path.join(dir, 'nope.jsonl')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file or directory');
    write(dir, 'x.txt', rec('t'));
    const unknown = await s.run(['import', path.join(dir, 'x.txt')]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--input-format');
    expect((await s.run(['import', path.join(dir, 'x.txt'), '--input-format', 'jsonl', '--format', 'json'])).code).toBe(0);
    expect((await s.run(['import', path.join(dir, 'x.txt'), '--input-format', 'xml'])).code).toBe(2);
    const empty = tempDir('empty');
    expect((await s.run(['import', empty])).stderr).toContain('no receipt files');
    expect((await s.run(['backfill', '-'])).code).toBe(2);
    expect((await s.run(['backfill', empty, '--since', '2026-13-01'])).code).toBe(2);
    expect((await s.run(['import', path.join(dir, 'x.txt'), '--covenant-map', path.join(dir, 'none.csv')])).code).toBe(2);
    write(dir, 'cov.csv', 'a,t1\na,t2\n');
    const cov = await s.run(['import', path.join(dir, 'x.txt'), '--input-format', 'jsonl', '--covenant-map', path.join(dir, 'cov.csv')]);
    expect(cov.code).toBe(2);
    expect(cov.stderr).toContain('mapped to both');
  });

  it('needs a catalog first (exit 2)', async () => {
    const db = await backend.fresh();
    await cli(['init', '--yes', '--db', db]);
    const dir = tempDir('nocat');
    const r = await cli(['import', write(dir, 'a.jsonl', rec('n1')), '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no catalog');
    expect(r.stderr).toContain('catalog import');
  });

  it('shows progress on a terminal: files, records, records per second, bytes, ETA', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('tty');
    let text = '';
    for (let i = 0; i < 3000; i++) text += rec(`t${i}`);
    const r = await onTerminal(['import', write(dir, 'a.jsonl', text), '--format', 'json', '--db', s.db]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/file \d+\/1 \| \d+ records \| \d+ records\/s \| [\d.]+ MB of [\d.]+ MB \| ETA/);
    expect(summaryOf(r).imported).toBe(3000);
    const quiet = await onTerminal(['import', write(dir, 'b.jsonl', rec('q1')), '--quiet', '--format', 'json', '--db', s.db]);
    expect(quiet.stderr).toBe('');
  });

  it('shows no progress without a terminal; the summary goes to stdout', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('quiet');
    const r = await s.run(['import', write(dir, 'a.jsonl', rec('p1'))]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/imported\s+│?\s*1/);
  });
});

describeEachBackend('billctl backfill', (backend) => {
  it('imports only receipts in the window, counts the rest, and skips finished archives', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('backfill');
    const day = (id: string, ts: string) => rec(id, { timestamp: ts });
    write(dir, 'archive/2025-12.jsonl.gz', zlib.gzipSync(day('b1', '2025-12-31T23:59:59.999Z') + day('b2', '2026-01-01T00:00:00Z')));
    write(dir, 'archive/2026-01.jsonl.gz', zlib.gzipSync(day('b3', '2026-01-31T23:59:59.999Z') + day('b4', '2026-02-01T00:00:00Z')));
    write(dir, 'archive/legacy.jsonl', '{"strike_id":"l1","covenant_id":"9a1e","timestamp":"2026-01-15T09:00:00+01:00","gpu_type":"RTX 4090","gpu_hours_used":0.25,"model":"gemma-2b","tokens_processed":5200}\n');
    const args = ['backfill', path.join(dir, 'archive'), '--since', '2026-01-01', '--until', '2026-01-31', '--covenant-map', fixture('covenants.csv'), '--format', 'json'];
    const r = await s.run(args);
    expect(r.code).toBe(0);
    expect(summaryOf(r)).toEqual({
      files: 3, lines: 5, imported: 3, duplicates: 0, conflicts: 0, rejected: 0, new_tenants: 1, unsplit_tokens: 1,
    });
    expect(r.stderr).toBe('2 receipts outside --since/--until, not imported\n');
    expect((await query(s.db, 'SELECT id FROM receipts ORDER BY id')).map((x) => x.id)).toEqual(['b2', 'b3', 'l1']);
    const again = await s.run(args);
    expect(summaryOf(again)).toEqual({
      files: 3, lines: 5, imported: 0, duplicates: 3, conflicts: 0, rejected: 0, new_tenants: 0, unsplit_tokens: 0,
    });
    expect(again.stderr).toBe(
      '3 files already imported with the same settings, not read again (counted as reading them again would; --force reads them)\n' +
        '2 receipts outside --since/--until, not imported\n',
    );
    // Another window is another import of the same archives.
    const wider = await s.run([...args.slice(0, 2), '--since', '2025-01-01', '--until', '2026-12-31T00:00:00Z', '--covenant-map', fixture('covenants.csv'), '--format', 'json']);
    expect(summaryOf(wider)).toMatchObject({ imported: 2, duplicates: 3 });
    expect(wider.stderr).toBe('');
  });
});

it('has examples in --help', async () => {
  for (const cmd of ['import', 'backfill']) {
    const r = await cli([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain(`$ billctl ${cmd} `);
  }
});
