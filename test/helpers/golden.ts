/** Golden files: expected output kept beside the tests. UPDATE_GOLDEN=1 rewrites them. */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './cli.js';

export function expectGolden(name: string, actual: string): void {
  const file = path.join(ROOT, 'test', 'cli', 'golden', name);
  if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(file)) {
    if (process.env.CI === 'true' && !fs.existsSync(file)) throw new Error(`golden file ${name} is missing`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, actual);
  }
  expect(actual).toBe(fs.readFileSync(file, 'utf8'));
}
