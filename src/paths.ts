/** Where the package's own files are, wherever it is installed. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (the folder holding package.json, templates/ and dist/). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function templatePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, 'templates', ...parts);
}
