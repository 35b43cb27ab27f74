/**
 * The demo's sample world: a handful of tenants across plans, timezones and tax rates, and about
 * 100,000 receipts in every input format (enhanced strike receipts as gzipped JSON Lines, flat
 * LLM usage events, CSV, legacy receipts with a covenant map), with a few rejects, duplicates and
 * late receipts. Deterministic: the same seed writes the same files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { periodInterval, type Period } from '../domain/period.js';
import { makeDirectory } from '../make-directory.js';
import { mulberry32 } from '../prng.js';

export interface DemoTenant {
  id: string;
  name: string;
  plan: string;
  timezone: string;
  taxRate: string;
  taxLabel: string;
  netDays: number;
  email: string;
  address: string;
  /** Share of the receipts. */
  weight: number;
}

export const DEMO_TENANTS: DemoTenant[] = [
  { id: 'acme', name: 'Acme AI GmbH', plan: 'pro', timezone: 'Europe/Berlin', taxRate: '0.19', taxLabel: 'VAT', netDays: 30, email: 'ap@acme.example', address: 'Hauptstr. 1\n10115 Berlin\nGermany', weight: 30 },
  { id: 'globex', name: 'Globex Corporation', plan: 'enterprise', timezone: 'America/New_York', taxRate: '0.08875', taxLabel: 'Sales tax', netDays: 45, email: 'billing@globex.example', address: '1 Globex Way\nNew York, NY 10001\nUSA', weight: 35 },
  { id: 'mueller', name: 'Müller Datentechnik GmbH', plan: 'pro', timezone: 'Europe/Vienna', taxRate: '0.2', taxLabel: 'USt', netDays: 14, email: 'rechnung@mueller.example', address: 'Ringstraße 5\n1010 Wien\nÖsterreich', weight: 10 },
  { id: 'tokyo-lab', name: '株式会社テスト研究所', plan: 'enterprise', timezone: 'Asia/Tokyo', taxRate: '0.1', taxLabel: '消費税', netDays: 30, email: 'keiri@tokyo-lab.example', address: '東京都千代田区1-1\n100-0001', weight: 12 },
  { id: 'obrien', name: "O'Brien Analytics Ltd", plan: 'pro', timezone: 'Europe/Dublin', taxRate: '0.23', taxLabel: 'VAT', netDays: 30, email: 'accounts@obrien.example', address: '12 Grafton St\nDublin 2\nIreland', weight: 8 },
  { id: 'chennai-ml', name: 'Chennai ML Pvt Ltd', plan: 'free', timezone: 'Asia/Kolkata', taxRate: '0.18', taxLabel: 'GST', netDays: 15, email: 'finance@chennai-ml.example', address: 'Anna Salai\nChennai 600002\nIndia', weight: 5 },
];

const MODELS = ['Qwen-70B', 'qwen_30b', 'Gemma-2B'];
const GPUS = ['A100 80GB', 'a100-40gb', 'RTX 4090', 'rtx_3090'];

export interface DemoFiles {
  receiptsDir: string;
  covenantMap: string;
  late: string;
  /** Receipts written, rejects included. */
  written: number;
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

function tenantFor(rnd: () => number): DemoTenant {
  const total = DEMO_TENANTS.reduce((s, t) => s + t.weight, 0);
  let x = rnd() * total;
  for (const t of DEMO_TENANTS) {
    x -= t.weight;
    if (x < 0) return t;
  }
  return DEMO_TENANTS[0]!;
}

/** An instant inside the tenant's period (ms), spread over the month with a weekday rhythm. */
function instantIn(rnd: () => number, t: DemoTenant, period: Period): number {
  const { start, end } = periodInterval(t.timezone, period);
  return start + Math.floor(rnd() * (end - start));
}

async function writeLines(file: string, lines: Iterable<string>, gzip: boolean): Promise<void> {
  const source = Readable.from((function* () {
    for (const l of lines) yield `${l}\n`;
  })());
  if (gzip) await pipeline(source, createGzip(), fs.createWriteStream(file));
  else await pipeline(source, fs.createWriteStream(file));
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function writeDemoFiles(dir: string, period: Period, seed = 2026): Promise<DemoFiles> {
  const rnd = mulberry32(seed);
  const receiptsDir = path.join(dir, 'receipts');
  const lateDir = path.join(dir, 'late');
  makeDirectory(receiptsDir);
  makeDirectory(lateDir);
  let written = 0;

  // 1. Enhanced strike receipts (nested cost data), gzipped JSON Lines: 60,000.
  const strikes = function* () {
    for (let i = 0; i < 60_000; i++) {
      const t = tenantFor(rnd);
      const model = pick(rnd, MODELS);
      const gpu = pick(rnd, GPUS);
      const input = 200 + Math.floor(rnd() * 4000);
      const output = 50 + Math.floor(rnd() * 1500);
      const seconds = 5 + Math.floor(rnd() * 900);
      const status = rnd() < 0.02 ? 'failed' : 'completed';
      written++;
      yield JSON.stringify({
        strike_id: `stk-${seed}-${i}`, tenant_id: t.id, timestamp: iso(instantIn(rnd, t, period)), status,
        cost_data: {
          gpu_allocation: { allocation_id: `al-${i % 97}`, gpu_type: gpu, duration_seconds: seconds },
          inference: { model, input_tokens: input, output_tokens: output },
          // Reported cost as decimal text: seconds × 0.001 USD, written exactly.
          total_usd: `${Math.floor(seconds / 1000)}.${String(seconds % 1000).padStart(3, '0')}`,
        },
      });
    }
  };
  await writeLines(path.join(receiptsDir, 'strikes.jsonl.gz'), strikes(), true);

  // 2. Flat LLM usage events from a gateway: 25,000, a few of them broken.
  const events = function* () {
    for (let i = 0; i < 25_000; i++) {
      const t = tenantFor(rnd);
      written++;
      if (i % 5000 === 17) {
        yield '{"request_id": "broken-line", "organization_id": ';
        continue;
      }
      if (i % 5000 === 42) {
        yield JSON.stringify({ request_id: `req-${i}`, organization_id: t.id, model: 'gpt-4o-mini', prompt_tokens: 12.5, request_timestamp: iso(instantIn(rnd, t, period)) });
        continue;
      }
      yield JSON.stringify({
        request_id: `req-${i}`, organization_id: t.id, user_id: `u${Math.floor(rnd() * 40)}`, provider: 'self-hosted',
        model: pick(rnd, MODELS), prompt_tokens: 100 + Math.floor(rnd() * 3000), completion_tokens: 20 + Math.floor(rnd() * 800),
        request_timestamp: iso(instantIn(rnd, t, period)),
      });
    }
  };
  await writeLines(path.join(receiptsDir, 'gateway-events.jsonl'), events(), false);

  // 3. CSV from another system: 10,000 rows, plus the first 100 again (duplicates).
  const csvRows: string[] = [];
  const csv = function* () {
    yield 'id,tenant_id,timestamp,status,model,gpu_type,gpu_seconds,input_tokens,output_tokens';
    for (let i = 0; i < 10_000; i++) {
      const t = tenantFor(rnd);
      const row = `csv-${i},${t.id},${iso(instantIn(rnd, t, period))},completed,${pick(rnd, MODELS)},${pick(rnd, GPUS)},${Math.floor(rnd() * 300)},${Math.floor(rnd() * 2000)},${Math.floor(rnd() * 600)}`;
      if (i < 100) csvRows.push(row);
      written++;
      yield row;
    }
    for (const r of csvRows) {
      written++;
      yield r;
    }
  };
  await writeLines(path.join(receiptsDir, 'batch-export.csv'), csv(), false);

  // 4. Legacy strike receipts (no cost data; the tenant comes from the covenant map): a JSON array of 5,000.
  const covenants = DEMO_TENANTS.map((t, i) => [`cov-${i}`, t.id] as const);
  const legacy: unknown[] = [];
  for (let i = 0; i < 5000; i++) {
    const c = covenants[Math.floor(rnd() * covenants.length)]!;
    const t = DEMO_TENANTS.find((x) => x.id === c[1])!;
    written++;
    legacy.push({
      strike_id: `legacy-${i}`, covenant_id: c[0], timestamp: iso(instantIn(rnd, t, period)), status: 'completed',
      gpu_type: pick(rnd, GPUS), gpu_hours_used: Math.floor(rnd() * 500) / 1000, model: pick(rnd, MODELS),
      tokens_processed: Math.floor(rnd() * 6000),
    });
  }
  fs.writeFileSync(path.join(receiptsDir, 'legacy-strikes.json'), JSON.stringify(legacy));
  const covenantMap = path.join(dir, 'covenants.csv');
  fs.writeFileSync(covenantMap, ['covenant_id,tenant_id', ...covenants.map(([c, t]) => `${c},${t}`)].join('\n') + '\n');

  // 5. Late receipts for the period, arriving after its invoices were issued.
  const late = path.join(lateDir, 'late-receipts.jsonl');
  const lateLines = function* () {
    for (let i = 0; i < 400; i++) {
      const t = DEMO_TENANTS[i % 2]!; // acme and globex
      yield JSON.stringify({
        request_id: `late-${i}`, organization_id: t.id, model: 'Qwen-70B', prompt_tokens: 250_000, completion_tokens: 100_000,
        request_timestamp: iso(instantIn(rnd, t, period)),
      });
    }
  };
  await writeLines(late, lateLines(), false);
  return { receiptsDir, covenantMap, late, written };
}

/**
 * Two tenants that show the second wave's pricing, with receipts of their own (a separate seed, so
 * the tenants above get exactly the receipts they always did): Volta on the `team` plan (its own
 * A100 80GB price, graduated Qwen-70B output tokens, a minimum commitment) and Zéphyr billed in
 * euros, rated with the EUR catalog chain.
 */
export const DEMO_PRICING_TENANTS: (DemoTenant & { currency?: string })[] = [
  { id: 'volta', name: 'Volta Robotics Inc.', plan: 'team', timezone: 'America/Los_Angeles', taxRate: '0.0725', taxLabel: 'Sales tax', netDays: 30, email: 'ap@volta.example', address: '200 Mission St\nSan Francisco, CA 94105\nUSA', weight: 0 },
  { id: 'zephyr', name: 'Zéphyr Labs SAS', plan: 'pro', currency: 'EUR', timezone: 'Europe/Paris', taxRate: '0.2', taxLabel: 'TVA', netDays: 30, email: 'compta@zephyr.example', address: '8 rue de Rivoli\n75004 Paris\nFrance', weight: 0 },
];

/** The pricing tenants' receipts for the period, as OpenAI-style usage events: one JSON Lines file in `receiptsDir`. */
export async function writePricingDemoFile(receiptsDir: string, period: Period, seed = 2027): Promise<number> {
  const rnd = mulberry32(seed);
  const [volta, zephyr] = DEMO_PRICING_TENANTS as [DemoTenant, DemoTenant];
  let written = 0;
  const lines = function* () {
    for (let i = 0; i < 1500; i++) {
      written++;
      yield JSON.stringify({
        id: `chatcmpl-volta-${i}`, tenant_id: volta.id, user_id: `robot-${Math.floor(rnd() * 12)}`, created_at: iso(instantIn(rnd, volta, period)),
        model: 'Qwen-70B', usage: { prompt_tokens: 5000 + Math.floor(rnd() * 10_000), completion_tokens: 30_000 + Math.floor(rnd() * 40_000) },
      });
    }
    for (let i = 0; i < 400; i++) {
      written++;
      yield JSON.stringify({
        id: `job-volta-${i}`, tenant_id: volta.id, timestamp: iso(instantIn(rnd, volta, period)), gpu_type: 'A100 80GB', gpu_seconds: 900 + Math.floor(rnd() * 1800),
      });
    }
    for (let i = 0; i < 800; i++) {
      written++;
      yield JSON.stringify({
        id: `req-zephyr-${i}`, tenant_id: zephyr.id, created_at: iso(instantIn(rnd, zephyr, period)), model: pick(rnd, ['Qwen-30B', 'Gemma-2B']),
        usage: { prompt_tokens: 2000 + Math.floor(rnd() * 30_000), completion_tokens: 500 + Math.floor(rnd() * 8000) },
        ...(i % 4 === 0 ? { gpu_type: 'A100 40GB', gpu_seconds: 600 + Math.floor(rnd() * 3000) } : {}),
      });
    }
  };
  await writeLines(path.join(receiptsDir, 'pricing-tenants.jsonl'), lines(), false);
  return written;
}
