/** metrics: every line is valid Prometheus text exposition format, and the values are the store's. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRIPE_LAST_CLEAN_RUN_SETTING, escapeLabelValue, renderExposition, secondsText } from '../../src/app/metrics.js';
import { openStore } from '../../src/store/open.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, importReceipts, opsStore, parseJson } from './helpers.js';

afterAll(dropSchemas);

interface Series {
  name: string;
  labels: Record<string, string>;
  value: string;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`;
const VALUE = '(-?(?:\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)|NaN|[+-]Inf)';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?\\})? ${VALUE}(?: -?\\d+)?$`);

function unescapeLabel(v: string): string {
  return v.replace(/\\(\\|"|n)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** A strict reader of the text format (0.0.4): fails on any line it does not understand. */
function parseExposition(text: string): Series[] {
  expect(text.endsWith('\n')).toBe(true);
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const out: Series[] = [];
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const h = /^# HELP (\S+) (.*)$/.exec(line);
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (h) {
      expect(h[1]).toMatch(new RegExp(`^${NAME}$`));
      expect(help.has(h[1]!), `HELP twice for ${h[1]}`).toBe(false);
      help.set(h[1]!, h[2]!);
      continue;
    }
    if (t) {
      expect(help.has(t[1]!), `TYPE before HELP for ${t[1]}`).toBe(true);
      type.set(t[1]!, t[2]!);
      continue;
    }
    expect(line.startsWith('#'), `unknown comment: ${line}`).toBe(false);
    const m = SAMPLE.exec(line);
    expect(m, `not a valid sample line: ${JSON.stringify(line)}`).not.toBeNull();
    const name = m![1]!;
    expect(type.has(name), `sample of ${name} before its TYPE`).toBe(true);
    const labels: Record<string, string> = {};
    const body = /\{(.*)\}/.exec(line.slice(name.length, line.lastIndexOf(' ')))?.[1] ?? '';
    for (const lm of body.matchAll(new RegExp(LABEL, 'g'))) labels[lm[1]!] = unescapeLabel(lm[2]!);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    expect(seen.has(key), `duplicate series ${key}`).toBe(false);
    seen.add(key);
    out.push({ name, labels, value: m![m!.length - 1]! });
  }
  for (const [name, t] of type) {
    expect(name.startsWith('billctl_'), name).toBe(true);
    if (t === 'counter') expect(name.endsWith('_total'), name).toBe(true);
  }
  return out;
}

describe('exposition format', () => {
  it('reads the run record that stripe push writes', async () => {
    const { LAST_CLEAN_RUN_SETTING } = await import('../../src/app/stripe-push.js');
    expect(STRIPE_LAST_CLEAN_RUN_SETTING).toBe(LAST_CLEAN_RUN_SETTING);
  });

  it('escapes label values and renders exact seconds', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(secondsText(1_793_491_200_000)).toBe('1793491200');
    expect(secondsText(1_793_491_200_120)).toBe('1793491200.12');
    const text = renderExposition([{ name: 'billctl_x', type: 'gauge', help: 'line\\one\ntwo', samples: [{ labels: [['t', 'q"\\\n']], value: '1.50' }] }]);
    expect(text).toBe('# HELP billctl_x line\\\\one\\ntwo\n# TYPE billctl_x gauge\nbillctl_x{t="q\\"\\\\\\n"} 1.50\n');
    expect(parseExposition(text)).toEqual([{ name: 'billctl_x', labels: { t: 'q"\\\n' }, value: '1.50' }]);
  });
});

const NOW = { BILLCTL_NOW: '2026-10-21T12:00:00Z' };
const ODD = 'we"ird\\tenant';

describeEachBackend('metrics', (backend) => {
  let s: TestStore;

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro');
    await addTenant(s, 'berlin', 'pro', ['--timezone', 'Europe/Berlin']);
    await importReceipts(s, [
      { id: 'a1', tenant: 'acme', ts: '2026-10-02T10:00:00Z', model: 'qwen-70b', gpu: 'a100-80gb', gpuSeconds: 400_000, input: 9_000_000, output: 2_000_000 },
      { id: 'a2', tenant: 'acme', ts: '2026-10-03T10:00:00Z', model: 'gemma-2b', gpu: 'rtx-4090', gpuSeconds: 7200, input: 5000, output: 7000 },
      { id: 'a3', tenant: 'acme', ts: '2026-10-04T10:00:00Z', status: 'failed', model: 'gemma-2b', input: 1 },
      { id: 'a0', tenant: 'acme', ts: '2026-09-04T10:00:00Z', model: 'gemma-2b', input: 77 },
      { id: 'b1', tenant: 'berlin', ts: '2026-09-30T22:30:00Z', model: 'qwen-30b', input: 100, output: 200 },
      { id: 'o1', tenant: ODD, ts: '2026-10-05T10:00:00Z', model: 'gemma-2b', input: 10, output: 20 },
    ]);
    await s.run(['budget', 'set', 'acme', '--monthly', '1000']);
    await s.run(['invoice', 'generate', '--period', '2026-09', '--all'], 0, NOW);
    await s.run(['alerts', 'check'], 0, NOW);
    const store = await openStore(s.db);
    try {
      await store.setSetting('stripe.push.last_clean_run', JSON.stringify({ finished_at: '2026-10-21T11:00:00.250Z', clean: true }));
    } finally {
      await store.close();
    }
  });

  it('every line parses, and the values equal the store', async () => {
    const r = await s.run(['metrics'], 0, NOW);
    const series = parseExposition(r.stdout);
    const value = (name: string, labels: Record<string, string>) =>
      series.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;

    const run = async (args: string[]) => parseJson<Record<string, unknown>[]>((await s.run([...args, '--format', 'json'], 0, NOW)).stdout);
    for (const tenant of ['acme', 'berlin', ODD]) {
      const [total] = await run(['usage', '--period', '2026-10', '--tenant', tenant]);
      expect(value('billctl_usage_requests', { tenant, period: '2026-10' }), tenant).toBe(String(total!.requests));
      expect(value('billctl_rated_amount', { tenant, period: '2026-10', currency: 'USD' }), tenant).toBe(total!.rated_amount);
      for (const g of await run(['usage', '--period', '2026-10', '--tenant', tenant, '--by', 'gpu'])) {
        if (g.gpu === null || g.gpu_seconds === 0) continue;
        expect(value('billctl_usage_gpu_seconds', { tenant, gpu: String(g.gpu) })).toBe(String(g.gpu_seconds));
      }
      for (const m of await run(['usage', '--period', '2026-10', '--tenant', tenant, '--by', 'model'])) {
        if (m.model === null) continue;
        expect(value('billctl_usage_tokens', { tenant, model: String(m.model), direction: 'input' })).toBe(String(m.input_tokens));
        expect(value('billctl_usage_tokens', { tenant, model: String(m.model), direction: 'output' })).toBe(String(m.output_tokens));
      }
    }
    // Berlin's b1 is October in Berlin (2026-09-30T22:30Z); a3 is not billable, a0 is September.
    expect(value('billctl_usage_tokens', { tenant: 'berlin', model: 'qwen-30b', direction: 'output' })).toBe('200');
    expect(value('billctl_usage_requests', { tenant: 'acme' })).toBe('2');
    expect(value('billctl_usage_tokens', { tenant: ODD, model: 'gemma-2b', direction: 'input' })).toBe('10');
    expect(r.stdout).toContain('tenant="we\\"ird\\\\tenant"');

    const invoices = await run(['invoice', 'list']);
    for (const status of ['draft', 'finalized', 'paid', 'void']) {
      expect(value('billctl_invoices', { status })).toBe(String(invoices.filter((i) => i.status === status).length));
    }
    expect(value('billctl_invoices', { status: 'draft' })).not.toBe('0');
    expect(value('billctl_budget_amount', { tenant: 'acme', currency: 'USD' })).toBe('1000.00');
    const alerts = await run(['alerts', 'list']);
    expect(alerts.length).toBeGreaterThan(0);
    for (const kind of new Set(alerts.map((a) => String(a.kind)))) {
      expect(value('billctl_alerts_fired_total', { kind })).toBe(String(alerts.filter((a) => a.kind === kind).length));
    }
    expect(value('billctl_alert_webhook_pending', {})).toBe('0');
    expect(value('billctl_stripe_push_last_success_timestamp_seconds', {})).toBe('1792580400.25');
    for (const status of ['pending', 'failed', 'sent', 'expired', 'uncertain']) expect(value('billctl_stripe_buckets', { status })).toBe('0');
    expect(value('billctl_rating_failed', { tenant: 'acme' })).toBe('0');
  });

  it('--out writes the file atomically (no temporary file left)', async () => {
    const r = await s.run(['metrics', '--out', 'billctl.prom'], 0, NOW);
    expect(r.stdout).toBe('');
    const text = fs.readFileSync(path.join(s.dir, 'billctl.prom'), 'utf8');
    expect(parseExposition(text).length).toBeGreaterThan(10);
    expect(fs.readdirSync(s.dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    const again = await s.run(['metrics'], 0, NOW);
    const strip = (t: string) => t.replace(/^billctl_metrics_generated_timestamp_seconds .*$/m, '');
    expect(strip(text)).toBe(strip(again.stdout));
  });

  it('--format json and csv print the same samples as data (and --out still writes the text format)', async () => {
    const text = (await s.run(['metrics'], 0, NOW)).stdout;
    const series = parseExposition(text).filter((x) => x.name !== 'billctl_metrics_generated_timestamp_seconds');
    const doc = parseJson<{ families: { name: string; type: string; help: string; samples: { labels: Record<string, string>; value: string }[] }[]; out: string | null }>(
      (await s.run(['metrics', '--format', 'json'], 0, NOW)).stdout,
    );
    expect(doc.out).toBeNull();
    const fromJson = doc.families.flatMap((f) => f.samples.map((x) => ({ name: f.name, labels: x.labels, value: x.value })))
      .filter((x) => x.name !== 'billctl_metrics_generated_timestamp_seconds');
    expect(fromJson).toEqual(series);
    expect(doc.families.find((f) => f.name === 'billctl_invoices')).toMatchObject({ type: 'gauge', help: expect.any(String) });

    const csv = parse((await s.run(['metrics', '--format', 'csv'], 0, NOW)).stdout) as string[][];
    expect(csv[0]).toEqual(['metric', 'type', 'labels', 'value']);
    expect(csv.length - 1).toBe(series.length + 1);
    expect(csv).toContainEqual(['billctl_budget_amount', 'gauge', 'tenant="acme",currency="USD"', '1000.00']);

    const withOut = await s.run(['metrics', '--out', 'm.prom', '--format', 'json'], 0, NOW);
    expect(parseJson<{ out: string }>(withOut.stdout).out).toBe('m.prom');
    expect(parseExposition(fs.readFileSync(path.join(s.dir, 'm.prom'), 'utf8')).length).toBe(series.length + 1);
  });
});
