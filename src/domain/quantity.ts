/** A whole number for a JSON document: a number while exactly representable, else its digits as text. */
export function jsonWhole(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n.toString();
}
