/**
 * JSON text where bigints are written as exact number literals (quantities can pass 2^53) and
 * Decimals as their decimal text (they carry toJSON).
 */
const MARK = '\u0000bigint:';

export function toJson(value: unknown, indent = 2): string {
  const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${MARK}${v}` : v), indent);
  return text.replace(/"\\u0000bigint:(-?\d+)"/g, '$1');
}
