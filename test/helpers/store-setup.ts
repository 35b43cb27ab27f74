/** Building a store through the CLI for end-to-end tests. */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { tempDir } from './backends.js';
import { cli, type CliResult } from './cli.js';
import { SAMPLE_CATALOG } from './fixtures.js';

export interface TestStore {
  db: string;
  dir: string;
  /** Runs billctl against this store (cwd = its folder); fails the test on an unexpected exit code. */
  run(argv: string[], expected?: number, env?: Record<string, string>): Promise<CliResult>;
  /** Writes a file in the store's folder and returns its path. */
  file(name: string, content: string): string;
}

/** The invoice issuer of test stores (finalizing refuses the placeholder issuer). */
export const TEST_ISSUER_YAML = 'issuer:\n  name: "Test Cloud GmbH"\n  address: "Teststr. 1\\n10115 Berlin"\n';

export async function makeStore(db: string, options: { catalog?: boolean } = {}): Promise<TestStore> {
  const dir = tempDir('store');
  fs.writeFileSync(path.join(dir, 'billctl.yaml'), TEST_ISSUER_YAML);
  const run = async (argv: string[], expected = 0, env: Record<string, string> = {}) => {
    const r = await cli([...argv, '--db', db], { cwd: dir, env });
    if (r.code !== expected) {
      throw new Error(`billctl ${argv.join(' ')}: expected exit ${expected}, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
    return r;
  };
  await run(['init', '--yes']);
  if (options.catalog !== false) await run(['catalog', 'import', SAMPLE_CATALOG]);
  return {
    db,
    dir,
    run,
    file(name, content) {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content);
      return p;
    },
  };
}

export const RECEIPT_CSV_HEADER = 'id,tenant_id,timestamp,status,model,gpu_type,gpu_seconds,input_tokens,output_tokens';

export function csvOf(rows: (string | number)[][]): string {
  return `${RECEIPT_CSV_HEADER}\n${rows.map((r) => r.join(',')).join('\n')}\n`;
}

export function jsonOf<T>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    expect.fail(`not JSON:\n${r.stdout}\n${r.stderr}`);
  }
}
