/** The init wizard on a terminal: prompts are the one seam replaced here. */
import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../helpers/backends.js';
import { loadConfig } from '../../src/config.js';
import { cli, json } from '../helpers/cli.js';

const answers: { inputs: string[]; confirms: boolean[]; asked: string[] } = { inputs: [], confirms: [], asked: [] };

vi.mock('../../src/cli/prompts.js', () => ({
  input: async (message: string, defaultValue?: string, validate?: (v: string) => true | string) => {
    answers.asked.push(message);
    const a = answers.inputs.shift() ?? defaultValue ?? '';
    if (validate && validate(a) !== true) throw new Error(`invalid answer ${a}`);
    return a;
  },
  confirm: async (message: string) => {
    answers.asked.push(message);
    return answers.confirms.shift() ?? false;
  },
}));

describe('init wizard', () => {
  beforeEach(() => {
    answers.inputs = [];
    answers.confirms = [];
    answers.asked = [];
  });

  it('asks for the store, issuer, currency and the sample catalog, and writes billctl.yaml', async () => {
    const dir = tempDir('wizard');
    answers.inputs = ['books.db', 'Müller GmbH', 'Hauptstr. 1\\n10115 Berlin', 'eur'];
    answers.confirms = [true];
    const r = await cli(['init', '--format', 'json'], { cwd: dir, tty: true });
    expect(r.code, r.stderr).toBe(0);
    expect(answers.asked).toEqual([
      'Store (a SQLite file, or a postgres:// URL):',
      'Issuer name on invoices (your company):',
      'Issuer address (use \\n between lines):',
      'Currency (ISO 4217):',
      'Load the sample catalog (templates/catalog.example.yaml)?',
    ]);
    const out = json<{ store: string; sample_catalog: string; config: string }>(r);
    expect(out.store).toBe(path.join(dir, 'books.db'));
    expect(out.sample_catalog).toBe('created');
    const yaml = fs.readFileSync(path.join(dir, 'billctl.yaml'), 'utf8');
    expect(yaml).toContain('db: "books.db"');
    expect(yaml).toContain('name: "Müller GmbH"');
    expect(yaml).toContain('currency: EUR');
    // The typed \n is a line break: on the invoice, two address lines (not "Hauptstr. 1\n10115 Berlin").
    expect(yaml).toContain('address: "Hauptstr. 1\\n10115 Berlin"');
    expect((await loadConfig(undefined, dir)).issuer.address).toBe('Hauptstr. 1\n10115 Berlin');
    // The written config is picked up by the next command.
    const list = await cli(['catalog', 'list', '--format', 'json'], { cwd: dir });
    expect(json<{ version: string }[]>(list).map((c) => c.version)).toEqual(['2026-01']);
  });

  it('never prompts without a terminal', async () => {
    const dir = tempDir('wizard');
    const r = await cli(['init'], { cwd: dir, tty: false });
    expect(r.code).toBe(0);
    expect(answers.asked).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'billctl.yaml'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'billing.db'))).toBe(true);
  });

  it('never prompts with --yes, even on a terminal', async () => {
    const dir = tempDir('wizard');
    const r = await cli(['init', '--yes'], { cwd: dir, tty: true });
    expect(r.code).toBe(0);
    expect(answers.asked).toEqual([]);
  });
});
