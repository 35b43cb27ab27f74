/** Invoice view models for the PDF tests: the worked examples of billing-rules.md, and variations. */
import type { InvoiceDocument, InvoiceDocumentLine } from '../../src/pdf/invoice-document.js';

const issuer = {
  name: 'Example AI Cloud GmbH',
  address: ['Torstraße 1', '10119 Berlin', 'Germany'],
  tax_id: 'DE123456789',
  email: 'billing@example.test',
  logo: null,
};

/** billing-rules.md, "Worked example": tenant acme, October 2026, Pro plan, VAT 19 %. */
export function workedExample(): InvoiceDocument {
  return {
    issuer: { ...issuer, address: [...issuer.address] },
    customer: { tenant_id: 'acme', name: 'Acme Robotics Inc.', address: ['1 Main Street', 'Springfield'], email: 'ap@acme.test' },
    number: 'INV-2026-000001',
    status: 'finalized',
    period: '2026-10',
    issue_date: '2026-11-01',
    due_date: '2026-12-01',
    currency: 'USD',
    lines: [
      {
        kind: 'gpu', description: 'A100 80GB GPU hours', catalog_version: '2026-01',
        used: '363600', included: '360000', billed: '3600', unit: 'second', unit_price: '4.00', unit_size: 3600, amount: '4.00',
      },
      {
        kind: 'input_tokens', description: 'Qwen-70B input tokens', catalog_version: '2026-01',
        used: '9400000', included: '9400000', billed: '0', unit: 'token', unit_price: '0.003', unit_size: 1000, amount: '0.00',
      },
      {
        kind: 'output_tokens', description: 'Qwen-70B output tokens', catalog_version: '2026-01',
        used: '1700000', included: '600000', billed: '1100000', unit: 'token', unit_price: '0.006', unit_size: 1000, amount: '6.60',
      },
    ],
    adjustments: [],
    charges: [{ kind: 'fee', description: 'Pro plan fee', amount: '99.00' }],
    subtotal: '109.60',
    tax: { label: 'VAT', rate: '0.19', amount: '20.82' },
    total: '130.42',
    payment_instructions: 'Please transfer the total to IBAN DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX),\nquoting the invoice number.',
    footer: 'Example AI Cloud GmbH · Torstraße 1 · 10119 Berlin · Registered at Amtsgericht Charlottenburg HRB 000000',
    // What the usage lines charged per day: r1 (2026-10-01) was covered by the allowance.
    daily_costs: [{ date: '2026-10-15', amount: '10.60' }],
    net_days: 30,
    period_dates: { first: '2026-10-01', last: '2026-10-31', timezone: 'Europe/Berlin' },
    usage_subtotal: '10.60',
    period_total: '109.60',
    amount_due: '130.42',
  };
}

/** billing-rules.md, "Worked example: late usage": tenant b, November 2026, with October adjustments. */
export function lateUsageExample(): InvoiceDocument {
  const adj = (kind: 'input_tokens' | 'output_tokens', what: string, billed: string, price: string, amount: string): InvoiceDocumentLine => ({
    kind, description: `Qwen-70B ${what} tokens`, catalog_version: '2026-01',
    used: billed, included: '0', billed, unit: 'token', unit_price: price, unit_size: 1000, amount,
    before: { billed: '0', amount: '0.00' }, now: { billed, amount },
  });
  return {
    ...workedExample(),
    customer: { tenant_id: 'b', name: 'B Labs', address: [], email: '' },
    number: 'INV-2026-000002',
    period: '2026-11',
    issue_date: '2026-12-01',
    due_date: '2026-12-31',
    lines: [
      {
        kind: 'input_tokens', description: 'Gemma-2B input tokens', catalog_version: '2026-01',
        used: '1000', included: '1000', billed: '0', unit: 'token', unit_price: '0.0001', unit_size: 1000, amount: '0.00',
      },
      {
        kind: 'output_tokens', description: 'Gemma-2B output tokens', catalog_version: '2026-01',
        used: '1000', included: '1000', billed: '0', unit: 'token', unit_price: '0.0002', unit_size: 1000, amount: '0.00',
      },
    ],
    adjustments: [{
      period: '2026-10',
      lines: [adj('input_tokens', 'input', '300000', '0.003', '0.90'), adj('output_tokens', 'output', '100000', '0.006', '0.60')],
      total: '1.50',
    }],
    charges: [],
    subtotal: '1.50',
    tax: { label: 'Tax', rate: '0', amount: '0.00' },
    total: '1.50',
    daily_costs: [],
    period_dates: { first: '2026-11-01', last: '2026-11-30', timezone: 'UTC' },
    usage_subtotal: '0.00',
    period_total: '0.00',
    amount_due: '1.50',
  };
}

/** An invoice with `n` lines (amounts 1.00, 2.00, ...), to make it run over several pages. */
export function manyLines(n: number): InvoiceDocument {
  const base = workedExample();
  const lines: InvoiceDocumentLine[] = Array.from({ length: n }, (_, i) => ({
    kind: 'output_tokens', description: `Model ${String(i + 1).padStart(3, '0')} output tokens`, catalog_version: '2026-01',
    used: String((i + 1) * 1000), included: '0', billed: String((i + 1) * 1000), unit: 'token', unit_price: '1', unit_size: 1000, amount: `${i + 1}.00`,
  }));
  const sum = (n * (n + 1)) / 2; // whole units: test data, not money arithmetic in the product
  const total = `${sum}.00`;
  return {
    ...base, lines, charges: [], subtotal: total, tax: { label: 'VAT', rate: '0', amount: '0.00' }, total,
    daily_costs: [{ date: '2026-10-03', amount: total }], usage_subtotal: total, period_total: total, amount_due: total,
  };
}
