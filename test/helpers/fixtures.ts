/** Builders for test data. */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ROOT } from './cli.js';

export const SAMPLE_CATALOG = path.join(ROOT, 'templates', 'catalog.example.yaml');

/**
 * The catalog of billing-rules.md as a plain document (a fresh copy each call): the shipped
 * example without its `team` plan (a plan with rates and a commitment the spec's catalog lacks).
 */
export function sampleCatalogDoc(): Record<string, unknown> {
  const doc = YAML.parse(fs.readFileSync(SAMPLE_CATALOG, 'utf8')) as Record<string, unknown> & { plans: Record<string, unknown> };
  delete doc.plans.team;
  return doc;
}
