/**
 * The covenant map (`--covenant-map FILE`): CSV rows `covenant_id,tenant_id`, with or without
 * that header. Legacy strike receipts name a covenant, not a tenant; this says whose it is.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { tenantIdProblem } from '../domain/tenant.js';
import { UsageError, ValidationError } from '../errors.js';
import { CsvReader, type RawRecord } from './readers.js';

export interface CovenantMap {
  map: Map<string, string>;
  /** SHA-256 of the mapping (sorted), recorded with each batch it was used for. */
  digest: string;
}

export function parseCovenantMap(bytes: Buffer, file: string): CovenantMap {
  const records: RawRecord[] = [];
  const reader = new CsvReader((r) => records.push(r));
  reader.push(bytes);
  reader.end();
  const problems: string[] = [];
  const header = reader.header ?? [];
  const rows: { line: number; cells: string[] }[] = [];
  if (header.length > 0 && !(header[0] === 'covenant_id' && header[1] === 'tenant_id' && header.length === 2)) {
    rows.push({ line: 1, cells: header });
  }
  for (const r of records) {
    if (r.bad) problems.push(`line ${r.line}: ${r.bad}`);
    else rows.push({ line: r.line, cells: r.cells! });
  }
  const map = new Map<string, string>();
  for (const { line, cells } of rows) {
    if (cells.length !== 2) {
      problems.push(`line ${line}: expected 2 fields (covenant_id,tenant_id), found ${cells.length}`);
      continue;
    }
    const [covenant, tenant] = cells as [string, string];
    if (covenant === '') problems.push(`line ${line}: the covenant_id is empty`);
    const p = tenantIdProblem(tenant);
    if (p) problems.push(`line ${line}: ${p}`);
    const before = map.get(covenant);
    if (before !== undefined && before !== tenant) {
      problems.push(`line ${line}: covenant ${JSON.stringify(covenant)} is mapped to both ${JSON.stringify(before)} and ${JSON.stringify(tenant)}`);
    }
    map.set(covenant, tenant);
  }
  if (problems.length > 0) throw new ValidationError(file, problems, 'Fix the covenant map and run the command again.');
  const sorted = [...map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { map, digest: createHash('sha256').update(JSON.stringify(sorted)).digest('hex') };
}

export function loadCovenantMap(file: string): CovenantMap {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`--covenant-map ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return parseCovenantMap(bytes, file);
}
