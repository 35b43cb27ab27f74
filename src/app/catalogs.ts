/** Use cases for catalogs: import (validated, idempotent), list, show. */
import fs from 'node:fs';
import path from 'node:path';
import { catalogDigest, parseCatalog, type CatalogVersion } from '../domain/catalog.js';
import { UsageError, ValidationError } from '../errors.js';
import type { Store, StoredCatalog } from '../store/store.js';

export type CatalogImportOutcome = 'created' | 'unchanged' | 'replaced';

export interface CatalogImportResult {
  outcome: CatalogImportOutcome;
  catalog: CatalogVersion;
  warnings: string[];
}

/**
 * A YAML catalog as plain data. The YAML library's own duplicate-key check compares every key of a
 * map with every other (a catalog of 50,000 models took minutes): it is off, and one pass over the
 * parsed document refuses duplicate keys instead, and keys that are not text (an unquoted 2026.10
 * is the number 2026.1), naming each by its path and line.
 */
async function readYaml(file: string, text: string): Promise<{ doc: unknown; numberText: Map<string, string> }> {
  const YAML = await import('yaml');
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: false, prettyErrors: true, lineCounter });
  if (doc.errors.length > 0) throw new ValidationError(file, [`not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`]);
  const problems: string[] = [];
  /** Numbers as written, by path: an unquoted label is refused quoting what was written. */
  const numberText = new Map<string, string>();
  const line = (node: { range?: [number, number, number] | null }) => (node.range ? lineCounter.linePos(node.range[0]).line : '?');
  const walk = (node: unknown, at: string): void => {
    if (YAML.isMap(node)) {
      const seen = new Map<string, number | string>();
      for (const pair of node.items) {
        const key = pair.key;
        let name: string;
        if (YAML.isScalar(key)) {
          const source = (key as { source?: string }).source ?? String(key.value);
          name = typeof key.value === 'string' ? key.value : source;
          if (typeof key.value !== 'string') {
            problems.push(`${at}${source}: a key must be text: put it in quotes as you mean it ("${source}") (line ${line(key)})`);
          }
        } else {
          problems.push(`${at}(a key on line ${YAML.isNode(key) ? line(key) : '?'}): a key must be text`);
          continue;
        }
        const first = seen.get(name);
        if (first !== undefined) problems.push(`${at}${name}: the key appears twice (lines ${first} and ${line(key)})`);
        else seen.set(name, line(key));
        const value = pair.value;
        if (YAML.isScalar(value) && typeof value.value === 'number') {
          numberText.set(`${at}${name}`, (value as { source?: string }).source ?? String(value.value));
        }
        walk(value, `${at}${name}.`);
      }
    } else if (YAML.isSeq(node)) node.items.forEach((item, i) => walk(item, `${at}${i}.`));
  };
  walk(doc.contents, '');
  if (problems.length > 0) throw new ValidationError(file, problems, 'Fix the keys named above and import again.');
  try {
    return { doc: doc.toJS(), numberText };
  } catch (err) {
    throw new ValidationError(file, [`not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
}

/** Reads a YAML or JSON catalog file and validates it; every problem names the file and the field. */
export async function readCatalogFile(file: string): Promise<{ catalog: CatalogVersion; warnings: string[] }> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let doc: unknown;
  let numberText = new Map<string, string>();
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') {
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new ValidationError(file, [`not valid JSON: ${(err as Error).message.split('\n')[0]}`]);
    }
  } else ({ doc, numberText } = await readYaml(file, text));
  const result = parseCatalog(doc, (p) => numberText.get(p));
  if (!result.catalog) throw new ValidationError(file, result.problems, 'Fix the fields named above and import again.');
  return { catalog: result.catalog, warnings: result.warnings.map((w) => `${file}: ${w}`) };
}

/**
 * Adds a catalog version. The same version again, unchanged, is a no-op; a different document
 * under a label already in the store is refused, unless `replace` and no finalized invoice used it.
 */
export async function importCatalog(
  store: Store,
  file: string,
  options: { replace: boolean; at: string; isUsedByFinalizedInvoice: (version: string) => Promise<boolean> },
): Promise<CatalogImportResult> {
  const { catalog, warnings } = await readCatalogFile(file);
  const digest = catalogDigest(catalog);
  return store.transaction(async () => {
    const existing = await store.getCatalog(catalog.version);
    if (existing && existing.digest === digest) return { outcome: 'unchanged' as const, catalog, warnings };
    if (existing) {
      if (!options.replace) {
        throw new UsageError(
          `catalog version "${catalog.version}" is already in the store with different content`,
          'Give the new prices a new version label (catalogs are versioned), or pass --replace if no invoice has used it yet.',
        );
      }
      if (await options.isUsedByFinalizedInvoice(catalog.version)) {
        throw new UsageError(
          `catalog version "${catalog.version}" was used by a finalized invoice and can never be replaced`,
          'Import the new prices under a new version label with a later effective_from.',
        );
      }
    }
    const clash = (await store.listCatalogs()).find(
      (c) => c.catalog.effectiveFrom === catalog.effectiveFrom && c.catalog.currency === catalog.currency && c.catalog.version !== catalog.version,
    );
    if (clash) {
      throw new UsageError(
        `catalog version "${catalog.version}" starts at ${new Date(catalog.effectiveFrom).toISOString()}, like version "${clash.catalog.version}" (both ${catalog.currency})`,
        'Two versions of one currency cannot take effect at the same instant: change effective_from.',
      );
    }
    await store.putCatalog(catalog, digest, path.resolve(file), options.at);
    return { outcome: existing ? ('replaced' as const) : ('created' as const), catalog, warnings };
  });
}

/** The newest catalog version (greatest effective_from), or a usage error when there is none. */
export async function newestCatalog(store: Store): Promise<StoredCatalog> {
  const all = await store.listCatalogs();
  const newest = all[all.length - 1];
  if (!newest) {
    throw new UsageError('the store has no catalog yet', 'Import one: billctl catalog import templates/catalog.example.yaml');
  }
  return newest;
}
