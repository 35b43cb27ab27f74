/**
 * Model and GPU names are matched by their key: lowercase, trimmed, every run of whitespace or `_`
 * replaced by one `-` (receipts.md, "Names"). Catalog keys are keyed the same way.
 */
export function nameKey(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_]+/g, '-');
}
