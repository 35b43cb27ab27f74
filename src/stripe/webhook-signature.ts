/**
 * Stripe's webhook signature (the `Stripe-Signature` header): `t=<unix seconds>,v1=<hex>[,v1=…]`,
 * where each v1 is HMAC-SHA256 of `${t}.${raw body}` under the endpoint's signing secret (Stripe
 * sends several v1 values while a secret is being rolled). Checked on the raw bytes as received,
 * in constant time, and refused when the timestamp is more than the tolerance from now (a replay
 * of an old delivery).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_TOLERANCE_SECONDS = 300;

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

function expected(secret: string, timestamp: string, rawBody: Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(rawBody).digest();
}

export function verifyStripeSignature(
  rawBody: Buffer, header: string | undefined, secret: string, nowMs: number, toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): SignatureCheck {
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'no Stripe-Signature header' };
  let t: string | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') t = value;
    else if (key === 'v1') v1.push(value);
  }
  if (t === undefined || !/^\d{1,12}$/.test(t)) return { ok: false, reason: 'the Stripe-Signature header has no timestamp' };
  if (v1.length === 0) return { ok: false, reason: 'the Stripe-Signature header has no v1 signature' };
  const want = expected(secret, t, rawBody);
  let match = false;
  for (const sig of v1) {
    if (!/^[0-9a-f]{64}$/i.test(sig)) continue;
    // Every candidate is compared, in constant time, whether or not an earlier one matched.
    if (timingSafeEqual(Buffer.from(sig, 'hex'), want)) match = true;
  }
  if (!match) return { ok: false, reason: 'no v1 signature matches the body and the signing secret' };
  const timestamp = Number(t);
  if (Math.abs(nowMs / 1000 - timestamp) > toleranceSeconds) {
    return { ok: false, reason: `the signature's timestamp is more than ${toleranceSeconds} s from now` };
  }
  return { ok: true, timestamp };
}

/** The header Stripe would send for this body at `timestampSeconds` (tests, and trying an endpoint by hand). */
export function stripeSignatureHeader(rawBody: Buffer | string, secret: string, timestampSeconds: number): string {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  return `t=${timestampSeconds},v1=${expected(secret, String(timestampSeconds), body).toString('hex')}`;
}
