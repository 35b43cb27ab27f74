import { describe, expect, it } from 'vitest';
import { chartModel, periodDays } from '../../src/pdf/chart.js';
import {
  fillText,
  formatAmountText,
  formatMoney,
  formatPercent,
  formatSecondsAsHours,
  formatQuantity,
  formatSecondsHms,
  formatUnitPrice,
  groupDigits,
  type NumberFormat,
} from '../../src/pdf/format.js';
import { addressLines, invoiceDocumentProblems, issuerFromConfig } from '../../src/pdf/invoice-document.js';
import { loadInvoiceTemplate } from '../../src/pdf/template.js';
import { workedExample } from './fixtures.js';

const f: NumberFormat = { thousands: ',', amountThousands: '', gpuQuantity: 'hms', units: { hour: 'h', second: 's', token: 'tokens', request: 'request', unit: 'unit' } };

describe('PDF number formats', () => {
  it('groups digits of whole numbers and of amounts, keeping every digit', () => {
    expect(groupDigits('0', ',')).toBe('0');
    expect(groupDigits('999', ',')).toBe('999');
    expect(groupDigits('1000', ',')).toBe('1,000');
    expect(groupDigits('-9400000', ',')).toBe('-9,400,000');
    expect(groupDigits('123456789012345678901234567890', ' ')).toBe('123 456 789 012 345 678 901 234 567 890');
    expect(groupDigits('1234567', '')).toBe('1234567');
    expect(formatAmountText('1234567.89', ',')).toBe('1,234,567.89');
    expect(formatAmountText('-1234.5', "'")).toBe("-1'234.5");
    expect(formatAmountText('1234567.89', '')).toBe('1234567.89');
    expect(formatAmountText('12345', ',')).toBe('12,345');
  });

  it('shows GPU seconds as exact h:mm:ss, or as seconds', () => {
    expect(formatSecondsHms('363600')).toBe('101:00:00');
    expect(formatSecondsHms('3600')).toBe('1:00:00');
    expect(formatSecondsHms('1')).toBe('0:00:01');
    expect(formatSecondsHms('3661')).toBe('1:01:01');
    expect(formatSecondsHms('-90')).toBe('-0:01:30');
    expect(formatSecondsHms('36000000000000000000')).toBe('10000000000000000:00:00');
    expect(formatQuantity('363600', 'second', f)).toBe('101:00:00');
    expect(formatQuantity('363600', 'second', { ...f, gpuQuantity: 'seconds' })).toBe('363,600 s');
    expect(formatQuantity('9400000', 'token', f)).toBe('9,400,000');
    expect(formatQuantity('12', 'request', f)).toBe('12');
    expect(formatQuantity('0', null, f)).toBe('');
  });

  it('shows GPU seconds as decimal hours, exact to 4 places, with 2 at least', () => {
    expect(formatSecondsAsHours('363600', ',')).toBe('101.00');
    expect(formatSecondsAsHours('2285955', ',')).toBe('634.9875'); // 634:59:15
    expect(formatSecondsAsHours('5400', ',')).toBe('1.50');
    expect(formatSecondsAsHours('1', ',')).toBe('0.0003'); // 0.000277… rounded half up
    expect(formatSecondsAsHours('0', ',')).toBe('0.00');
    expect(formatSecondsAsHours('-1815', ',')).toBe('-0.5042');
    expect(formatSecondsAsHours('3600000000', ',')).toBe('1,000,000.00');
    expect(formatQuantity('363600', 'second', { ...f, gpuQuantity: 'hours' })).toBe('101.00 h');
  });

  it('writes amounts with their currency, for 0, 2 and 3 digit currencies alike', () => {
    expect(formatMoney('1234567', 'JPY', ',', '{currency} {amount}')).toBe('JPY 1,234,567');
    expect(formatMoney('1234567.50', 'USD', ',', '{currency} {amount}')).toBe('USD 1,234,567.50');
    expect(formatMoney('1234.125', 'KWD', ',', '{currency} {amount}')).toBe('KWD 1,234.125');
    expect(formatMoney('-1234.30', 'CHF', "'", '{amount} {currency}')).toBe("-1'234.30 CHF");
  });

  it('writes unit prices per the unit size', () => {
    expect(formatUnitPrice('4.00', 'second', 3600, f)).toBe('4.00 / h');
    expect(formatUnitPrice('4.00', 'second', 7200, f)).toBe('4.00 / 2 h');
    expect(formatUnitPrice('0.01', 'second', 60, f)).toBe('0.01 / 60 s');
    expect(formatUnitPrice('0.006', 'token', 1000, f)).toBe('0.006 / 1,000 tokens');
    expect(formatUnitPrice('0.01', 'request', 1, f)).toBe('0.01 / request');
    expect(formatUnitPrice('0.01', 'request', null, f)).toBe('0.01 / request');
    expect(formatUnitPrice('99', null, 1, f)).toBe('');
    expect(formatUnitPrice(null, 'token', 1000, f)).toBe('');
  });

  it('writes tax rates as exact percentages', () => {
    expect(formatPercent('0.19')).toBe('19');
    expect(formatPercent('0.075')).toBe('7.5');
    expect(formatPercent('0')).toBe('0');
    expect(formatPercent('0.123456')).toBe('12.3456');
  });

  it('fills placeholders', () => {
    expect(fillText('Page {page} of {pages}', { page: '2', pages: '7' })).toBe('Page 2 of 7');
    expect(fillText('{label} {rate} %', { label: 'VAT', rate: '19' })).toBe('VAT 19 %');
    expect(fillText('{x}', {})).toBe('{x}');
  });
});

describe('usage chart model', () => {
  it('has a bar per day of the period, heights exact in thousandths of the largest day', () => {
    const m = chartModel('2026-10', [
      { date: '2026-10-01', amount: '1.00' },
      { date: '2026-10-02', amount: '3.00' },
      { date: '2026-10-03', amount: '0.001' },
    ]);
    expect(m.bars).toHaveLength(31);
    expect(m.max).toBe('3.00');
    expect(m.bars.slice(0, 4).map((b) => b.permille)).toEqual([333, 1000, 0, 0]);
    expect(m.bars[30]).toEqual({ date: '2026-10-31', amount: '0', permille: 0 });
  });

  it('handles one day, no day, all-zero days, negative days and days outside the period', () => {
    expect(chartModel('2026-02', [{ date: '2026-02-14', amount: '0.01' }]).bars.filter((b) => b.permille > 0)).toEqual([
      { date: '2026-02-14', amount: '0.01', permille: 1000 },
    ]);
    expect(chartModel('2026-02', []).max).toBeNull();
    expect(chartModel('2026-02', [{ date: '2026-02-01', amount: '0.00' }]).max).toBeNull();
    const neg = chartModel('2026-02', [{ date: '2026-02-01', amount: '-5.00' }, { date: '2026-02-02', amount: '2.00' }]);
    expect(neg.bars.slice(0, 2).map((b) => b.permille)).toEqual([0, 1000]);
    expect(chartModel('2026-02', [{ date: '2026-03-01', amount: '1' }]).bars).toHaveLength(29);
    expect(periodDays('2024-02')).toHaveLength(29);
    expect(periodDays('2026-02')).toHaveLength(28);
  });

  it('sums repeated days exactly, beyond what a float holds', () => {
    const m = chartModel('2026-10', [
      { date: '2026-10-05', amount: '9007199254740993.01' },
      { date: '2026-10-05', amount: '0.01' },
      { date: '2026-10-06', amount: '4503599627370496.51' },
    ]);
    expect(m.max).toBe('9007199254740993.02');
    expect(m.bars[4]?.permille).toBe(1000);
    expect(m.bars[5]?.permille).toBe(500);
  });
});

describe('font fallback runs', () => {
  const chain = loadInvoiceTemplate().fonts.regular;

  it('keeps Latin, Greek and Cyrillic in Noto Sans and moves CJK to Noto Sans JP', () => {
    expect(chain.runs("Müller GmbH, O'Brien, Ελληνικά, Кириллица")).toEqual([{ face: 0, text: "Müller GmbH, O'Brien, Ελληνικά, Кириллица" }]);
    expect(chain.runs('株式会社テスト')).toEqual([{ face: 1, text: '株式会社テスト' }]);
    expect(chain.runs('Acme 株式会社 (Tokyo)')).toEqual([
      { face: 0, text: 'Acme ' },
      { face: 1, text: '株式会社 (' },
      { face: 0, text: 'Tokyo)' },
    ]);
    expect(chain.runs('')).toEqual([]);
  });

  it('draws a character no font has with the first font (a visible box), not by dropping it', () => {
    expect(chain.runs('a\u{10FFFD}b')).toEqual([{ face: 0, text: 'a\u{10FFFD}b' }]);
  });
});

describe('view model helpers', () => {
  it('splits addresses into lines and builds the issuer from the config', () => {
    expect(addressLines(' Torstraße 1 \n\n10119 Berlin\r\n')).toEqual(['Torstraße 1', '10119 Berlin']);
    expect(
      issuerFromConfig({ name: 'X GmbH', address: 'A 1\nB', taxId: 'DE1', email: 'e@x', logo: null, paymentInstructions: '', footer: '' }),
    ).toEqual({ name: 'X GmbH', address: ['A 1', 'B'], tax_id: 'DE1', email: 'e@x', logo: null });
  });

  it('accepts the worked example and names every malformed field', () => {
    expect(invoiceDocumentProblems(workedExample())).toEqual([]);
    const bad = { ...workedExample(), status: 'draft' as const, period: '2026-10-01', total: '130.4.2', currency: 'usd' };
    expect(invoiceDocumentProblems(bad)).toEqual([
      'period: "2026-10-01" is not a period YYYY-MM',
      'currency: "usd" is not an ISO 4217 code',
      'number: "INV-2026-000001" is not null on a draft',
      'total: "130.4.2" is not a decimal amount like "12.30"',
    ]);
  });
});
