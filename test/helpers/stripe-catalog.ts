/**
 * A catalog Stripe can bill exactly (docs/stripe.md, "Catalog sync"): one GPU price and one model,
 * prices exact in 12 decimals of a cent per counted unit, allowances only on GPU time and API
 * calls, no usage discount. The tests of catalog sync and subscriptions use it beside the sample
 * catalog, which Stripe cannot bill (its GPU rates differ, its plans pool tokens).
 */
export const STRIPE_READY_CATALOG = `version: "2026-10"
effective_from: 2026-10-01T00:00:00Z
currency: USD
default_plan: starter
gpu_rates:
  a100-80gb: { price: "3.60", name: "A100 80GB" }
token_unit: 1000
token_rates:
  qwen-70b: { input: "0.003", output: "0.006", name: "Qwen-70B" }
request_rate: "0.0001"
plans:
  starter: { name: "Starter", monthly_fee: "0",  included: { gpu_hours: 1, api_calls: 100 } }
  pro:     { name: "Pro",     monthly_fee: "99", included: { gpu_hours: 10, api_calls: 1000 } }
`;

/** The same catalog a month later, with Pro's fee raised (a new version: new prices in Stripe). */
export const STRIPE_READY_CATALOG_NEXT = STRIPE_READY_CATALOG.replace('version: "2026-10"', 'version: "2026-11"')
  .replace('effective_from: 2026-10-01T00:00:00Z', 'effective_from: 2026-11-01T00:00:00Z')
  .replace('monthly_fee: "99"', 'monthly_fee: "149"');
