/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core): a demo tenant
 * signs in with the form and sees the numbers `invoice preview --format json` gives, on a desktop
 * and on a phone-sized screen. Screenshots are saved (their paths are printed).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { tempDir } from '../helpers/backends.js';
import { cli } from '../helpers/cli.js';
import { startHarness, type Harness } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const NOW_ISO = '2026-11-21T09:00:00Z';
const NOW = { BILLCTL_NOW: NOW_ISO };

/** "−1,234.56 USD" -> "-1234.56" */
const plain = (shown: string) => shown.replace(/ [A-Z]{3}$/, '').replace(/,/g, '').replace('−', '-').trim();

(fs.existsSync(CHROMIUM) ? describe : describe.skip)('the dashboard in Chromium', () => {
  let dir: string;
  let h: Harness;
  let browser: Browser;
  let token: string;
  const shots = process.env.BILLCTL_SCREENSHOTS ?? tempDir('screenshots');

  beforeAll(async () => {
    const cwd = tempDir('browser');
    const demo = await cli(['demo', '--out', 'demo', '--quiet'], { cwd, env: NOW });
    expect(demo.code, demo.stderr).toBe(0);
    dir = path.join(cwd, 'demo');
    const t = await cli(['serve', 'token', 'create', '--tenant', 'acme', '--format', 'json'], { cwd: dir, env: NOW });
    token = (JSON.parse(t.stdout) as { token: string }).token;
    h = await startHarness(path.join(dir, 'billing.db'), { now: NOW_ISO, config: await loadConfig(undefined, dir) });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('signs in with the form and shows what invoice preview computes', async () => {
    const preview = JSON.parse((await cli(['invoice', 'preview', '--tenant', 'acme', '--period', '2026-11', '--format', 'json'], { cwd: dir, env: NOW })).stdout) as {
      subtotal: string; tax: string; total: string; projected_total: string; lines: { description: string; amount: string }[];
    };
    expect(preview.lines.length).toBeGreaterThan(3);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(h.url);
    expect(page.url()).toBe(`${h.url}/login`);
    await page.fill('input[name=token]', token);
    await Promise.all([page.waitForURL(`${h.url}/tenants/acme`), page.click('button[type=submit]')]);
    expect(await page.textContent('h1')).toContain('Acme AI GmbH');
    const field = async (name: string) => plain((await page.textContent(`[data-field=${name}]`))!);
    expect(await field('subtotal')).toBe(preview.subtotal);
    expect(await field('tax')).toBe(preview.tax);
    expect(await field('total')).toBe(preview.total);
    expect(await field('projected_total')).toBe(preview.projected_total);
    const rows = await page.$$eval('tr[data-line]', (trs) => trs.map((tr) => [tr.getAttribute('data-line'), tr.querySelector('[data-field=amount]')!.textContent]));
    expect(rows.map(([d, a]) => [d, plain(a!)])).toEqual(preview.lines.map((l) => [l.description, l.amount]));
    expect(await page.textContent('body')).not.toMatch(/UNPRICED|fingerprint|catalog_version/);
    // The invoice list links the issued PDF, which the session cookie opens.
    const pdfLink = await page.getAttribute('a[href$=".pdf"]', 'href');
    const pdf = await page.request.get(`${h.url}${pdfLink}`);
    expect(pdf.status()).toBe(200);
    expect((await pdf.body()).subarray(0, 5).toString()).toBe('%PDF-');
    await page.screenshot({ path: path.join(shots, 'dashboard-desktop.png'), fullPage: true });
    // October, the demo's month of usage: a bar per day in the chart.
    await page.click('a[href="/tenants/acme?period=2026-10"]');
    expect(await page.$$('svg.chart rect.bar')).toHaveLength(31);
    await page.screenshot({ path: path.join(shots, 'dashboard-october.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(shots, 'dashboard-phone.png'), fullPage: true });
    // Nothing overflows a phone's width: the page scrolls down, not sideways.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    process.stderr.write(`screenshots: ${shots}\n`);
    await page.close();
  }, 60_000);

  it('shows the by-model breakdown, the budget and its alert as usage, budget list and alerts list give them', async () => {
    expect((await cli(['budget', 'set', 'acme', '--monthly', '150', '--thresholds', '50'], { cwd: dir, env: NOW })).code).toBe(0);
    const checked = JSON.parse((await cli(['alerts', 'check', '--format', 'json'], { cwd: dir, env: NOW })).stdout) as { new_alerts: { tenant_id: string; text: string }[] };
    const alert = checked.new_alerts.find((a) => a.tenant_id === 'acme')!;
    expect(alert.text).toBe('acme has spent 99.00 USD of its 150.00 USD monthly budget in 2026-11 (66 %), past the 50 % threshold.');
    const budget = (JSON.parse((await cli(['budget', 'list', '--format', 'json'], { cwd: dir, env: NOW })).stdout) as { tenant_id: string; spent: string }[])
      .find((b) => b.tenant_id === 'acme')!;
    const byModel = JSON.parse((await cli(['usage', '--tenant', 'acme', '--period', '2026-10', '--by', 'model', '--format', 'json'], { cwd: dir, env: NOW })).stdout) as
      { model: string; rated_amount: string }[];
    expect(byModel.map((m) => m.model)).toEqual(['gemma-2b', 'qwen-30b', 'qwen-70b']);
    const page = await browser.newPage();
    await page.goto(`${h.url}/login`);
    await page.fill('input[name=token]', token);
    await Promise.all([page.waitForURL(`${h.url}/tenants/acme`), page.click('button[type=submit]')]);
    expect(plain((await page.textContent('[data-field=budget_spent]'))!)).toBe(budget.spent);
    expect(await page.textContent('body')).toContain(alert.text);
    await page.goto(`${h.url}/tenants/acme?period=2026-10`);
    const models = await page.$$eval('tr[data-model]', (trs) => trs.map((tr) => [tr.getAttribute('data-model'), tr.lastElementChild!.textContent]));
    expect(models.map(([m, a]) => [m, plain(a!)])).toEqual(byModel.map((m) => [m.model, m.rated_amount]));
    await page.close();
  }, 60_000);

  it('works without JavaScript', async () => {
    const ctx = await browser.newContext({ javaScriptEnabled: false });
    const page = await ctx.newPage();
    await page.goto(`${h.url}/login`);
    await page.fill('input[name=token]', token);
    await Promise.all([page.waitForURL(`${h.url}/tenants/acme`), page.click('button[type=submit]')]);
    expect(await page.textContent('[data-field=total]')).toMatch(/ USD$/);
    await ctx.close();
  }, 60_000);
});
