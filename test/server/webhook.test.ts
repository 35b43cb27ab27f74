/**
 * The Stripe webhook: Stripe-Signature checked (several v1 values, 300 s tolerance, the raw
 * bytes), each event stored once by id (a replay is a 200 and a no-op), invoice and subscription
 * events recorded for stripe-mode tenants, a payment failure raised as an alert.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stripeSignatureHeader, verifyStripeSignature } from '../../src/stripe/webhook-signature.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, opsStore, parseJson } from '../ops/helpers.js';
import { startHarness, stripeEvent, type Harness } from './helpers.js';

afterAll(dropSchemas);

const SECRET = 'whsec_test_secret';
const NOW_ISO = '2026-10-20T12:00:00Z';
const NOW_S = Date.parse(NOW_ISO) / 1000;


describe('Stripe-Signature', () => {
  const body = Buffer.from(stripeEvent('evt_1', 'invoice.paid', { id: 'in_1' }, NOW_S));
  const now = NOW_S * 1000;
  it('accepts the HMAC of t.body under the secret, among several v1 values', () => {
    const good = stripeSignatureHeader(body, SECRET, NOW_S);
    expect(verifyStripeSignature(body, good, SECRET, now)).toEqual({ ok: true, timestamp: NOW_S });
    const other = stripeSignatureHeader(body, 'whsec_old', NOW_S).split(',')[1]!;
    expect(verifyStripeSignature(body, `${good.split(',')[0]},${other},${good.split(',')[1]},v0=abc`, SECRET, now).ok).toBe(true);
  });
  it('refuses a changed body, another secret, a missing or malformed header', () => {
    const good = stripeSignatureHeader(body, SECRET, NOW_S);
    const changed = Buffer.from(body.toString().replace('in_1', 'in_2'));
    expect(verifyStripeSignature(changed, good, SECRET, now)).toMatchObject({ ok: false });
    expect(verifyStripeSignature(body, good, 'whsec_other', now)).toMatchObject({ ok: false });
    expect(verifyStripeSignature(body, undefined, SECRET, now)).toEqual({ ok: false, reason: 'no Stripe-Signature header' });
    expect(verifyStripeSignature(body, `t=${NOW_S}`, SECRET, now)).toMatchObject({ ok: false });
    expect(verifyStripeSignature(body, good.replace(/v1=\w+/, 'v1=zz'), SECRET, now)).toMatchObject({ ok: false });
  });
  it('allows 300 s either way, not 301', () => {
    for (const [t, ok] of [[NOW_S - 300, true], [NOW_S + 300, true], [NOW_S - 301, false], [NOW_S + 301, false]] as const) {
      expect(verifyStripeSignature(body, stripeSignatureHeader(body, SECRET, t), SECRET, now).ok, String(t - NOW_S)).toBe(ok);
    }
  });
});

describeEachBackend('the Stripe webhook', (backend) => {
  let s: TestStore;
  let h: Harness;
  const post = (raw: string, t = NOW_S, secret = SECRET) =>
    h.post('/v1/stripe/webhook', raw, { 'content-type': 'application/json', 'stripe-signature': stripeSignatureHeader(raw, secret, t) });

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro');
    await addTenant(s, 'inv', 'pro');
    await s.run(['stripe', 'link', 'acme', 'cus_acme', '--offline']);
    h = await startHarness(s.db, { now: NOW_ISO, secret: SECRET });
    await h.store.updateTenant('inv', { stripeCustomerId: 'cus_inv' }, NOW_ISO);
    await h.store.updateTenant('acme', { billingMode: 'stripe' }, NOW_ISO);
  });
  afterAll(async () => h?.close());

  it('refuses a bad signature and an old timestamp with 400, storing nothing', async () => {
    const raw = stripeEvent('evt_bad', 'invoice.paid', { id: 'in_bad', customer: 'cus_acme' }, NOW_S);
    const bad = await post(raw, NOW_S, 'whsec_wrong');
    expect(bad.status).toBe(400);
    expect(bad.json()).toEqual({ error: { code: 'bad_signature', message: 'no v1 signature matches the body and the signing secret' } });
    const old = await post(raw, NOW_S - 301);
    expect(old.status).toBe(400);
    expect(old.json<{ error: { message: string } }>().error.message).toBe("the signature's timestamp is more than 300 s from now");
    // The signature is over the bytes as sent: the same JSON re-spaced does not pass.
    const respaced = await h.post('/v1/stripe/webhook', JSON.stringify(JSON.parse(raw), null, 1), {
      'stripe-signature': stripeSignatureHeader(raw, SECRET, NOW_S),
    });
    expect(respaced.status).toBe(400);
    expect(await h.store.stripeEvents.count()).toBe(0);
    expect((await post('not json')).status).toBe(400);
  });

  it('stores an event once: a replay is a 200 and a no-op', async () => {
    const raw = stripeEvent('evt_paid', 'invoice.paid', { id: 'in_1', customer: 'cus_acme', number: 'ACME-1', currency: 'usd', amount_due: 12345, amount_paid: 12345, status: 'paid' }, NOW_S);
    const first = await post(raw);
    expect(first.status).toBe(200);
    expect(first.json()).toEqual({ received: true, id: 'evt_paid', duplicate: false });
    const again = await post(raw, NOW_S + 60);
    expect(again.json()).toEqual({ received: true, id: 'evt_paid', duplicate: true });
    expect(await h.store.stripeEvents.count()).toBe(1);
    const stored = await h.store.stripeEvents.get('evt_paid');
    expect(stored).toMatchObject({ payload: raw, source: 'webhook', tenantId: 'acme', outcome: 'recorded: invoice in_1 paid' });
    expect(await h.store.stripeEvents.objects('acme')).toMatchObject([
      { objectId: 'in_1', objectType: 'invoice', status: 'paid', fields: { number: 'ACME-1', amount_due: '123.45', currency: 'USD' } },
    ]);
  });

  it('raises an alert on a failed payment, queued like alerts check', async () => {
    const raw = stripeEvent('evt_fail', 'invoice.payment_failed', { id: 'in_2', customer: 'cus_acme', number: 'ACME-2', currency: 'usd', amount_due: 5000, attempt_count: 1 }, NOW_S);
    expect((await post(raw)).status).toBe(200);
    const alerts = parseJson<Record<string, unknown>[]>((await s.run(['alerts', 'list', '--tenant', 'acme', '--format', 'json'])).stdout);
    expect(alerts).toMatchObject([{
      tenant_id: 'acme', period: '2026-10', kind: 'payment_failed', threshold: 'in_2#1',
      text: 'acme: payment of 50.00 USD for Stripe invoice ACME-2 failed (attempt 1).', stripe_invoice: 'in_2', amount_due: '50.00',
    }]);
    expect((await post(raw)).json()).toMatchObject({ duplicate: true });
    expect(parseJson<unknown[]>((await s.run(['alerts', 'list', '--tenant', 'acme', '--format', 'json'])).stdout)).toHaveLength(1);
  });

  it('keeps the newest state when events arrive out of order; subscriptions too', async () => {
    const sub = (id: string, type: string, status: string, created: number) => stripeEvent(id, type, { id: 'sub_1', customer: 'cus_acme', status, cancel_at_period_end: false }, created);
    expect((await post(sub('evt_s2', 'customer.subscription.deleted', 'canceled', NOW_S - 10))).status).toBe(200);
    expect((await post(sub('evt_s1', 'customer.subscription.updated', 'active', NOW_S - 20))).status).toBe(200);
    const states = await h.store.stripeEvents.objects('acme');
    expect(states.find((o) => o.objectId === 'sub_1')).toMatchObject({ objectType: 'subscription', status: 'canceled', eventId: 'evt_s2' });
    expect((await h.store.stripeEvents.get('evt_s1'))!.outcome).toBe('older than, or behind, the state recorded: subscription sub_1 active');
  });

  it('an invoice paid stays paid when invoice.finalized of the same second comes after it', async () => {
    const inv = (id: string, type: string, created: number) =>
      stripeEvent(id, type, { id: 'in_7', customer: 'cus_acme', number: 'ACME-7', currency: 'usd', amount_due: 700, amount_paid: type === 'invoice.paid' ? 700 : 0 }, created);
    expect((await post(inv('evt_p', 'invoice.paid', NOW_S))).status).toBe(200);
    expect((await post(inv('evt_f', 'invoice.finalized', NOW_S))).status).toBe(200);
    expect((await post(inv('evt_f2', 'invoice.finalized', NOW_S + 5))).status).toBe(200);
    expect((await h.store.stripeEvents.objects('acme')).find((o) => o.objectId === 'in_7')).toMatchObject({ status: 'paid', eventId: 'evt_p', fields: { amount_paid: '7.00' } });
    expect((await h.store.stripeEvents.get('evt_f'))!.outcome).toBe('older than, or behind, the state recorded: invoice in_7 open');
  });

  it('an invoice voided after it was finalized is void, and a late finalized does not reopen it', async () => {
    const inv = (id: string, type: string, created: number) =>
      stripeEvent(id, type, { id: 'in_v', customer: 'cus_acme', number: 'ACME-V', currency: 'usd', amount_due: 2500, amount_paid: 0 }, created);
    expect((await post(inv('evt_vf', 'invoice.finalized', NOW_S - 30))).status).toBe(200);
    expect((await post(inv('evt_vv', 'invoice.voided', NOW_S))).json()).toEqual({ received: true, id: 'evt_vv', duplicate: false });
    expect((await h.store.stripeEvents.get('evt_vv'))!.outcome).toBe('recorded: invoice in_v void');
    expect((await post(inv('evt_vf2', 'invoice.finalized', NOW_S + 5))).status).toBe(200);
    expect((await h.store.stripeEvents.objects('acme')).find((o) => o.objectId === 'in_v'))
      .toMatchObject({ status: 'void', eventId: 'evt_vv', fields: { number: 'ACME-V', amount_due: '25.00', currency: 'USD' } });
    expect((await h.store.stripeEvents.get('evt_vf2'))!.outcome).toBe('older than, or behind, the state recorded: invoice in_v open');
  });

  it('stores, and otherwise ignores, events of invoice-mode tenants, unknown customers and other types', async () => {
    await post(stripeEvent('evt_inv', 'invoice.paid', { id: 'in_9', customer: 'cus_inv' }, NOW_S));
    await post(stripeEvent('evt_who', 'invoice.paid', { id: 'in_8', customer: 'cus_nobody' }, NOW_S));
    await post(stripeEvent('evt_other', 'charge.succeeded', { id: 'ch_1', customer: 'cus_acme' }, NOW_S));
    expect((await h.store.stripeEvents.get('evt_inv'))!.outcome).toBe('ignored: inv is billed by invoice, not through Stripe');
    expect((await h.store.stripeEvents.get('evt_who'))!.outcome).toBe('ignored: no tenant has Stripe customer cus_nobody');
    expect((await h.store.stripeEvents.get('evt_other'))!.outcome).toBe('ignored: not an event billctl acts on');
    expect(await h.store.stripeEvents.objects('inv')).toEqual([]);
  });
});
