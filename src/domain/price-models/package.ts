/**
 * The package model: the billed quantity is bought in whole packages of `size` counting units,
 * a started package paid in full: ⌈billed / size⌉ × price (billing-rules.md, "Price models").
 */
import type { Decimal } from '../money.js';

export interface PackagePrice {
  model: 'package';
  /** Counting units in one package (the catalog's size in allowance units, GPU: × 3600); > 0. */
  size: bigint;
  /** Price of one package. */
  price: Decimal;
}

export function packagePrice(size: bigint, price: Decimal): PackagePrice {
  if (size <= 0n) throw new RangeError(`package size ${size} must be positive`);
  if (price.sign() < 0) throw new RangeError(`package price ${price} is negative`);
  return { model: 'package', size, price };
}

/** How many packages `billed` units start. */
export function packagesOf(p: PackagePrice, billed: bigint): bigint {
  return (billed + p.size - 1n) / p.size;
}

export function packageAmount(p: PackagePrice, billed: bigint, digits: number): Decimal {
  return p.price.mul(packagesOf(p, billed)).round(digits);
}
