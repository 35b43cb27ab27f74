/** receipts.md, rule by rule: every alias, every number and time rule, every rejection with its reason. */
import { describe, expect, it } from 'vitest';
import { derivedId } from '../../src/domain/receipt.js';
import { normalize, wantedFields, type NormalizeOptions } from '../../src/ingest/normalize.js';
import { RecordParser } from '../../src/ingest/record-json.js';

const options: NormalizeOptions = { assumeUtc: false, covenants: new Map([['9a1e', 'acme']]) };
const parser = new RecordParser(wantedFields());

/** Normalises a JSON text the way the importer does (the exact record parser, then the rules). */
function fromJson(text: string, o: Partial<NormalizeOptions> = {}) {
  const parsed = parser.parse(text);
  if (!parsed.ok) return { ok: false as const, reason: parsed.reason };
  return normalize(parsed.value, { ...options, ...o });
}

function ok(text: string, o: Partial<NormalizeOptions> = {}) {
  const r = fromJson(text, o);
  if (!r.ok) throw new Error(`rejected: ${r.reason}`);
  return r.receipt;
}

function reason(text: string, o: Partial<NormalizeOptions> = {}): string {
  const r = fromJson(text, o);
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(r.receipt)}`);
  return r.reason;
}

const base = { id: 'r-1', tenant_id: 'acme', timestamp: '2026-10-03T14:07:11Z' };
const j = (o: Record<string, unknown>) => JSON.stringify({ ...base, ...o });

describe('the formats of receipts.md', () => {
  it('reads the enhanced strike receipt (nested cost data)', () => {
    const r = ok(
      '{"strike_id":"5f0c","covenant_id":"9a1e","tenant_id":"acme","timestamp":"2026-10-03T14:07:11.250Z","status":"completed",' +
        '"cost_data":{"gpu_allocation":{"allocation_id":"al-1","gpu_type":"A100 80GB","duration_seconds":412,"rate_per_hour":4.0,"total_cost":0.4578},' +
        '"inference":{"model":"Qwen-70B","input_tokens":1800,"output_tokens":350,"cost_per_1k_tokens":0.003,"total_cost":0.0075},' +
        '"total_usd":0.4653,"billing_metadata":{}}}',
    );
    expect(r).toEqual({
      tenantId: 'acme', id: '5f0c', ts: Date.UTC(2026, 9, 3, 14, 7, 11, 250), billable: true, status: 'completed', userId: null,
      projectId: '9a1e', provider: null, model: 'Qwen-70B', modelKey: 'qwen-70b', gpuType: 'A100 80GB', gpuKey: 'a100-80gb',
      gpuSeconds: 412, inputTokens: 1800, outputTokens: 350, reportedCost: '0.4653', unsplit: false,
      cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, quantity: 0, eventType: null,
    });
  });

  it('reads the legacy strike receipt: tenant from the covenant map, GPU hours, unsplit tokens', () => {
    const r = ok(
      '{"strike_id":"77b2","covenant_id":"9a1e","timestamp":"2025-03-02T09:00:00+01:00","status":"completed",' +
        '"allocation_id":"al-9","gpu_type":"RTX 4090","gpu_hours_used":0.25,"model":"gemma-2b","tokens_processed":5200}',
    );
    expect(r).toMatchObject({
      tenantId: 'acme', id: '77b2', ts: Date.UTC(2025, 2, 2, 8), gpuKey: 'rtx-4090', gpuSeconds: 900, modelKey: 'gemma-2b',
      inputTokens: 5200, outputTokens: 0, unsplit: true, projectId: '9a1e',
    });
  });

  it('reads the flat LLM usage event', () => {
    const r = ok(
      '{"request_id":"req_81","organization_id":"org_123","user_id":"u_9","provider":"openai","model":"gpt-4o-mini",' +
        '"prompt_tokens":150,"completion_tokens":300,"request_timestamp":"2026-10-03T14:07:11Z"}',
    );
    expect(r).toMatchObject({
      tenantId: 'org_123', id: 'req_81', userId: 'u_9', provider: 'openai', modelKey: 'gpt-4o-mini', inputTokens: 150,
      outputTokens: 300, gpuSeconds: 0, ts: Date.UTC(2026, 9, 3, 14, 7, 11), billable: true,
    });
  });

  it('reads CSV cells (strings) by the same rules', () => {
    const r = normalize(
      {
        id: 'r-1', tenant_id: 'acme', timestamp: '2026-10-03T14:07:11Z', status: 'completed', model: 'qwen-70b', gpu_type: 'a100-80gb',
        gpu_seconds: '412', input_tokens: '1800', output_tokens: '350',
      },
      options,
    );
    expect(r.ok && r.receipt).toMatchObject({ gpuSeconds: 412, inputTokens: 1800, outputTokens: 350, gpuKey: 'a100-80gb' });
  });
});

describe('field aliases: the first present source field wins', () => {
  const ids: [string, string][] = [
    ['strike_id', 's'], ['request_id', 'q'], ['event_id', 'e'], ['transaction_id', 't'], ['id', 'i'],
  ];
  it.each(ids.map((_, k) => [ids[k]![0], ids.slice(k)] as const))('id from %s first', (field, rest) => {
    const rec: Record<string, unknown> = { tenant_id: 'acme', timestamp: '2026-10-03T14:07:11Z' };
    for (const [f, v] of rest) rec[f] = v;
    expect(ok(JSON.stringify(rec)).id).toBe(rest[0]![1]);
    void field;
  });

  it('skips null and empty-string fields', () => {
    expect(ok(j({ strike_id: null, request_id: '', event_id: 'e-1' })).id).toBe('e-1');
    expect(ok(JSON.stringify({ tenant_id: '', organization_id: null, org_id: 'o', id: 'x', time: '2026-10-03T14:07:11Z' })).tenantId).toBe('o');
  });

  it.each([
    ['timestamp'], ['request_timestamp'], ['created_at'], ['time'],
  ])('timestamp from %s', (f) => {
    expect(ok(JSON.stringify({ id: 'x', tenant_id: 'a', [f]: '2026-10-03T14:07:11Z' })).ts).toBe(Date.UTC(2026, 9, 3, 14, 7, 11));
  });

  it('project from project_id, kb_id, covenant_id', () => {
    expect(ok(j({ project_id: 'p', kb_id: 'k', covenant_id: 'c' })).projectId).toBe('p');
    expect(ok(j({ kb_id: 'k', covenant_id: 'c' })).projectId).toBe('k');
    expect(ok(j({ covenant_id: 'c' })).projectId).toBe('c');
  });

  it('model and GPU: nested cost data before the flat field; whitespace-only counts as absent', () => {
    const r = ok(j({ model: 'flat', cost_data: { inference: { model: 'Nested' } }, gpu_type: 'g', gpu_seconds: 1 }));
    expect(r.model).toBe('Nested');
    expect(ok(j({ model: 'flat', cost_data: { inference: { model: '   ' } } })).model).toBe('flat');
    expect(ok(j({ model: '  ', input_tokens: 0 })).model).toBeNull();
  });

  it.each([
    ['cost_data.gpu_allocation.duration_seconds', { cost_data: { gpu_allocation: { duration_seconds: 7, gpu_type: 'g' } }, gpu_seconds: 8, duration_seconds: 9 }, 7],
    ['gpu_seconds', { gpu_type: 'g', gpu_seconds: 8, duration_seconds: 9 }, 8],
    ['duration_seconds', { gpu_type: 'g', duration_seconds: 9 }, 9],
    ['gpu_hours_used', { gpu_type: 'g', gpu_hours_used: 1.5 }, 5400],
  ])('gpu_seconds from %s', (_f, rec, want) => {
    expect(ok(j(rec)).gpuSeconds).toBe(want);
  });

  it.each([
    ['cost_data.inference.input_tokens', { cost_data: { inference: { input_tokens: 1 } }, input_tokens: 2 }, 1],
    ['input_tokens', { input_tokens: 2, prompt_tokens: 3 }, 2],
    ['prompt_tokens', { prompt_tokens: 3, tokens_in: 4 }, 3],
    ['tokens_in', { tokens_in: 4, usage: { prompt_tokens: 5 } }, 4],
    ['usage.prompt_tokens', { usage: { prompt_tokens: 5, input_tokens: 6 } }, 5],
    ['usage.input_tokens', { usage: { input_tokens: 6 }, tokens_processed: 7 }, 6],
  ])('input_tokens from %s', (_f, rec, want) => {
    const r = ok(j({ model: 'm', ...rec }));
    expect(r.inputTokens).toBe(want);
    expect(r.unsplit).toBe(false);
  });

  it.each([
    ['cost_data.inference.output_tokens', { cost_data: { inference: { output_tokens: 1 } }, output_tokens: 2 }, 1],
    ['output_tokens', { output_tokens: 2, completion_tokens: 3 }, 2],
    ['completion_tokens', { completion_tokens: 3, tokens_out: 4 }, 3],
    ['tokens_out', { tokens_out: 4, usage: { completion_tokens: 5 } }, 4],
    ['usage.completion_tokens', { usage: { completion_tokens: 5, output_tokens: 6 } }, 5],
    ['usage.output_tokens', { usage: { output_tokens: 6 } }, 6],
  ])('output_tokens from %s', (_f, rec, want) => {
    expect(ok(j({ model: 'm', ...rec })).outputTokens).toBe(want);
  });

  it('tokens_processed only when no input field is present, and marks the receipt unsplit', () => {
    expect(ok(j({ model: 'm', tokens_processed: 7 }))).toMatchObject({ inputTokens: 7, outputTokens: 0, unsplit: true });
  });

  it('reported cost from cost_data.total_usd, estimated_cost_usd, cost; read by its decimal text', () => {
    expect(ok(j({ cost_data: { total_usd: 0.1 }, estimated_cost_usd: 2, cost: 3 })).reportedCost).toBe('0.1');
    expect(ok(j({ estimated_cost_usd: 2.5, cost: 3 })).reportedCost).toBe('2.5');
    expect(ok(j({ cost: '0.30' })).reportedCost).toBe('0.30');
    expect(ok(j({ cost: 1e-7 })).reportedCost).toBe('0.0000001');
    expect(ok(j({})).reportedCost).toBeNull();
    expect(reason(j({ cost: 'abc' }))).toBe('cost is "abc": not a decimal number');
  });

  it('absent quantities are 0', () => {
    expect(ok(j({}))).toMatchObject({ gpuSeconds: 0, inputTokens: 0, outputTokens: 0 });
  });

  it('dotted names also work as literal (CSV) column names', () => {
    const r = normalize({ ...base, 'cost_data.inference.model': 'Qwen-70B', 'usage.prompt_tokens': '5' }, options);
    expect(r.ok && r.receipt).toMatchObject({ modelKey: 'qwen-70b', inputTokens: 5 });
  });
});

describe('tenants', () => {
  it('falls back to the covenant map', () => {
    expect(ok(JSON.stringify({ id: 'x', covenant_id: '9a1e', time: '2026-10-03T14:07:11Z' })).tenantId).toBe('acme');
  });
  it('rejects a receipt whose covenant is not in the map, or with no map', () => {
    const rec = JSON.stringify({ id: 'x', covenant_id: 'nope', time: '2026-10-03T14:07:11Z' });
    expect(reason(rec)).toBe('no tenant: covenant_id "nope" is not in the covenant map');
    expect(reason(rec, { covenants: null })).toBe('no tenant: only covenant_id "nope", and no --covenant-map to look it up in');
    expect(reason(JSON.stringify({ id: 'x', time: '2026-10-03T14:07:11Z' }))).toBe(
      'no tenant: no tenant_id, organization_id or org_id, and no covenant_id',
    );
  });
  it('checks the tenant id: 1..128 characters, no control characters, not only whitespace', () => {
    expect(reason(j({ tenant_id: 'x'.repeat(129) }))).toBe('tenant_id: tenant id is longer than 128 characters');
    expect(reason(j({ tenant_id: 'a\u0007b' }))).toBe('tenant_id: tenant id contains a control character');
    expect(reason(j({ tenant_id: '   ' }))).toBe('tenant_id: tenant id is only whitespace');
    expect(reason(j({ tenant_id: undefined, organization_id: '\t\u00a0' }))).toBe('organization_id: tenant id contains a control character');
    expect(reason(j({ tenant_id: undefined, organization_id: ' \u00a0\u2003' }))).toBe('organization_id: tenant id is only whitespace');
    expect(ok(j({ tenant_id: ' a ' })).tenantId).toBe(' a ');
    expect(ok(j({ tenant_id: 'é'.repeat(128) })).tenantId).toHaveLength(128);
  });
});

describe('ids', () => {
  it('is 1..200 characters, not only whitespace', () => {
    expect(ok(j({ id: 'x'.repeat(200) })).id).toHaveLength(200);
    expect(reason(j({ id: 'x'.repeat(201) }))).toBe('id is longer than 200 characters');
    expect(reason(j({ id: '  ' }))).toBe('id is only whitespace');
    expect(reason(j({ id: undefined, request_id: '\u3000' }))).toBe('request_id is only whitespace');
    expect(ok(j({ id: ' x ' })).id).toBe(' x ');
  });
  it('takes a whole JSON number by its digits, even beyond 2^53', () => {
    expect(ok(j({ id: 12345 })).id).toBe('12345');
    expect(ok('{"id":12345678901234567890,"tenant_id":"a","time":"2026-10-03T14:07:11Z"}').id).toBe('12345678901234567890');
    expect(reason(j({ id: 1.5 }))).toBe('id is 1.5: it must be text');
    expect(reason(j({ id: true }))).toBe('id is true: it must be text');
  });
  it('derives an id when none is given: sha256: of the documented fields', () => {
    const r = ok(JSON.stringify({ tenant_id: 'acme', time: '2026-10-03T14:07:11Z', model: 'Qwen 70B', input_tokens: 5, user_id: 'u' }));
    expect(r.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const { id, ...rest } = r;
    expect(id).toBe(derivedId(rest));
    // The documented text, hashed independently:
    const text = `acme|${Date.UTC(2026, 9, 3, 14, 7, 11)}|1|qwen-70b||0|5|0|u`;
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    expect(id).toBe(`sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`);
  });
});

describe('timestamps', () => {
  const at = (t: unknown, o: Partial<NormalizeOptions> = {}) => ok(j({ timestamp: t }), o).ts;
  it('RFC 3339 with Z or an offset, T or one space, fractions truncated to ms', () => {
    expect(at('2026-10-03T14:07:11Z')).toBe(Date.UTC(2026, 9, 3, 14, 7, 11));
    expect(at('2026-10-03 14:07:11Z')).toBe(Date.UTC(2026, 9, 3, 14, 7, 11));
    expect(at('2026-10-03T16:07:11+02:00')).toBe(Date.UTC(2026, 9, 3, 14, 7, 11));
    expect(at('2026-10-03T09:37:11-04:30')).toBe(Date.UTC(2026, 9, 3, 14, 7, 11));
    expect(at('2026-10-03T14:07:11.9999Z')).toBe(Date.UTC(2026, 9, 3, 14, 7, 11, 999));
    expect(at('2026-10-03T14:07:11.25Z')).toBe(Date.UTC(2026, 9, 3, 14, 7, 11, 250));
    expect(at('2026-10-03t14:07:11z')).toBe(Date.UTC(2026, 9, 3, 14, 7, 11));
    expect(at('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
  });
  it('a JSON number is epoch seconds below 1e11, else milliseconds; fractions by their decimal text', () => {
    expect(at(1791036431)).toBe(1791036431000);
    expect(at(1791036431250)).toBe(1791036431250);
    expect(at(99_999_999_999)).toBe(99_999_999_999_000);
    expect(at(100_000_000_000)).toBe(100_000_000_000);
    expect(at(1791036431.2509)).toBe(1791036431250);
    expect(at(1791036431250.9)).toBe(1791036431250);
    expect(at(0.001)).toBe(1);
  });
  it('in CSV, where every cell is text, a string of digits is epoch time; in JSON only a number is', () => {
    expect(at('1791036431', { csv: true })).toBe(1791036431000);
    expect(at('1791036431250', { csv: true })).toBe(1791036431250);
    expect(at('1791036431.5', { csv: true })).toBe(1791036431500);
    expect(reason(j({ timestamp: '20261003' }))).toBe('timestamp "20261003" is not RFC 3339 (like 2026-10-03T14:07:11Z)');
  });
  it('takes instants before 1970 too: negative epoch times and RFC 3339 from year 0001', () => {
    expect(at(-5)).toBe(-5000);
    expect(at('1969-12-31T23:59:59Z')).toBe(-1000);
    expect(at('0001-01-01T00:00:00Z')).toBe(-62_135_596_800_000);
  });
  it('cuts a fraction of a millisecond toward the earlier instant, however the instant is written', () => {
    expect(at('1969-12-31T23:59:59.9981Z')).toBe(-2);
    expect(at(-0.0019)).toBe(-2);
    expect(at('-0.0019', { csv: true })).toBe(-2);
    expect(at(-1.5e-7)).toBe(-1);
    expect(at(-0.002)).toBe(-2);
    expect(at(-100_000_000_000.5)).toBe(-100_000_000_001);
    expect(at(0.0019)).toBe(1);
    expect(at('1970-01-01T00:00:00.0019Z')).toBe(1);
  });
  it('rejects a time without an offset, unless --assume-utc', () => {
    expect(reason(j({ timestamp: '2026-10-03T14:07:11' }))).toBe('timestamp has no UTC offset');
    expect(at('2026-10-03T14:07:11', { assumeUtc: true })).toBe(Date.UTC(2026, 9, 3, 14, 7, 11));
    expect(at('2026-10-03 14:07:11.5', { assumeUtc: true })).toBe(Date.UTC(2026, 9, 3, 14, 7, 11, 500));
  });
  it('rejects days that do not exist (new Date would roll 2026-02-30 over to March 2)', () => {
    expect(reason(j({ timestamp: '2026-02-30T10:00:00Z' }))).toBe('timestamp "2026-02-30T10:00:00Z" names a day that does not exist');
    expect(reason(j({ timestamp: '2025-02-29T10:00:00Z' }))).toBe('timestamp "2025-02-29T10:00:00Z" names a day that does not exist');
    expect(reason(j({ timestamp: '2026-13-01T10:00:00Z' }))).toBe('timestamp "2026-13-01T10:00:00Z" has month 13');
    expect(reason(j({ timestamp: '2026-10-03T24:00:00Z' }))).toBe('timestamp "2026-10-03T24:00:00Z" has a time of day out of range');
  });
  it('rejects what is not a time', () => {
    expect(reason(j({ timestamp: 'yesterday' }))).toBe('timestamp "yesterday" is not RFC 3339 (like 2026-10-03T14:07:11Z)');
    expect(reason(j({ timestamp: '2026-10-03T14:07:11.Z' }))).toBe('timestamp "2026-10-03T14:07:11.Z" is not RFC 3339 (like 2026-10-03T14:07:11Z)');
    expect(reason(j({ timestamp: true }))).toBe('timestamp is true: not a time');
    expect(reason(j({ timestamp: 1e15 }))).toBe('timestamp 1000000000000000 is out of range (0001-01-01 to 9999-12-31)');
    expect(reason(j({ timestamp: -1e14 }))).toBe('timestamp -100000000000000 is out of range (0001-01-01 to 9999-12-31)');
    expect(reason(JSON.stringify({ id: 'x', tenant_id: 'a' }))).toBe('no timestamp (timestamp, request_timestamp, created_at or time)');
    expect(reason(JSON.stringify({ id: 'x', tenant_id: 'a', created_at: 'soon' }))).toBe(
      'created_at: timestamp "soon" is not RFC 3339 (like 2026-10-03T14:07:11Z)',
    );
  });
});

describe('quantities', () => {
  it('accepts whole numbers from 0 to 2^53 − 1, and plain-integer strings', () => {
    expect(ok(j({ model: 'm', input_tokens: 9007199254740991 })).inputTokens).toBe(9007199254740991);
    expect(ok(j({ model: 'm', input_tokens: '9007199254740991' })).inputTokens).toBe(9007199254740991);
    expect(ok(j({ model: 'm', input_tokens: 0 })).inputTokens).toBe(0);
    expect(ok(j({ model: 'm', input_tokens: '007' })).inputTokens).toBe(7);
    expect(ok('{"id":"x","tenant_id":"a","time":"2026-10-03T14:07:11Z","model":"m","input_tokens":4.12e2}').inputTokens).toBe(412);
  });
  it('rejects 9007199254740993, which JSON.parse would silently round to 2^53', () => {
    expect(JSON.parse('9007199254740993')).toBe(9007199254740992); // the trap
    const line = '{"id":"x","tenant_id":"a","time":"2026-10-03T14:07:11Z","model":"m","input_tokens":9007199254740993}';
    expect(reason(line)).toBe('input_tokens is 9007199254740993: above 2^53 − 1 (9007199254740991)');
    expect(reason(j({ model: 'm', input_tokens: '9007199254740992' }))).toBe('input_tokens is 9007199254740992: above 2^53 − 1 (9007199254740991)');
  });
  it('rejects fractions, even one JSON.parse would round to a whole number', () => {
    expect(reason(j({ gpu_type: 'g', gpu_seconds: 412.5 }))).toBe('gpu_seconds is 412.5: not a whole number');
    const line = '{"id":"x","tenant_id":"a","time":"2026-10-03T14:07:11Z","gpu_type":"g","gpu_seconds":412.00000000000000001}';
    expect(JSON.parse(line).gpu_seconds).toBe(412); // the trap
    expect(reason(line)).toBe('gpu_seconds is 412.00000000000000001: not a whole number');
  });
  it('rejects negatives, non-numeric strings (Number("12a") is NaN) and empty-looking values', () => {
    expect(reason(j({ model: 'm', output_tokens: -1 }))).toBe('output_tokens is -1: below 0');
    expect(reason(j({ model: 'm', output_tokens: '-1' }))).toBe('output_tokens is "-1": below 0');
    expect(reason(j({ model: 'm', output_tokens: '12a' }))).toBe('output_tokens is "12a": not a whole number');
    expect(reason(j({ model: 'm', output_tokens: ' 12' }))).toBe('output_tokens is " 12": not a whole number');
    expect(reason(j({ model: 'm', output_tokens: '1e3' }))).toBe('output_tokens is "1e3": not a whole number');
    expect(reason(j({ model: 'm', output_tokens: 'NaN' }))).toBe('output_tokens is "NaN": not a whole number');
    expect(reason(j({ model: 'm', output_tokens: 'Infinity' }))).toBe('output_tokens is "Infinity": not a whole number');
    expect(reason(j({ model: 'm', output_tokens: true }))).toBe('output_tokens is true: not a whole number');
    expect(reason(j({ model: 'm', output_tokens: [1] }))).toBe('output_tokens is [1]: not a whole number');
  });
  it('an empty string is absent, never 0 by accident (Number("") is 0)', () => {
    expect(Number('')).toBe(0); // the trap
    expect(ok(j({ model: 'm', input_tokens: '', prompt_tokens: 5 })).inputTokens).toBe(5);
  });
  it('gpu_hours_used: by its decimal text, × 3600, rounded half up', () => {
    const secs = (h: unknown) => ok(j({ gpu_type: 'g', gpu_hours_used: h })).gpuSeconds;
    expect(secs(0.1)).toBe(360);
    expect(secs(0.25)).toBe(900);
    expect(secs('0.000138888')).toBe(0); // 0.4999968 s
    expect(secs('0.0001388889')).toBe(1); // 0.50000004 s
    expect(secs(0.00125)).toBe(5); // exactly 4.5 s: half up
    expect(secs('1.00125')).toBe(3605); // 3604.5 s
  });
  it('rejects a negative or non-decimal gpu_hours_used', () => {
    expect(reason(j({ gpu_type: 'g', gpu_hours_used: -1 }))).toBe('gpu_hours_used is -1: below 0');
    expect(reason(j({ gpu_type: 'g', gpu_hours_used: 'lots' }))).toBe('gpu_hours_used is "lots": not a decimal number');
  });
  it('tokens need a model; GPU seconds need a GPU type', () => {
    expect(reason(j({ input_tokens: 5 }))).toBe('tokens but no model (input_tokens 5, output_tokens 0)');
    expect(reason(j({ output_tokens: 5, model: ' ' }))).toBe('tokens but no model (input_tokens 0, output_tokens 5)');
    expect(reason(j({ gpu_seconds: 5 }))).toBe('gpu_seconds 5 but no gpu_type');
    expect(ok(j({ input_tokens: 0, gpu_seconds: 0 }))).toMatchObject({ modelKey: null, gpuKey: null });
  });
});

describe('billable', () => {
  it.each(['failed', 'error', 'errored', 'cancelled', 'canceled', 'rejected', 'timeout', 'FAILED', 'Timeout', 'ReJeCtEd'])(
    'status %j is stored but never billed',
    (status) => {
      expect(ok(j({ status })).billable).toBe(false);
    },
  );
  // Case-insensitive, and nothing more: " failed " is a status of its own (receipts.md).
  it.each(['completed', 'ok', 'succeeded', 'partial', ' failed '])('status %j is billable', (status) => {
    expect(ok(j({ status })).billable).toBe(true);
  });
  it('no status is billable', () => {
    expect(ok(j({})).billable).toBe(true);
  });
});

describe('model and GPU names', () => {
  it('are at most 200 characters, so their keys fit every store\'s index alike', () => {
    expect(ok(j({ model: 'm'.repeat(200), input_tokens: 1 })).modelKey).toHaveLength(200);
    expect(reason(j({ model: '模'.repeat(201), input_tokens: 1 }))).toBe('model is longer than 200 characters');
    expect(reason(j({ gpu_type: 'g'.repeat(201), gpu_seconds: 1 }))).toBe('gpu_type is longer than 200 characters');
  });
});

describe('names and text', () => {
  it('keys model and GPU names: lowercase, trimmed, runs of whitespace or _ as one -', () => {
    for (const g of ['A100 80GB', 'a100_80gb', ' A100-80GB ', 'a100 \t_80GB']) {
      expect(ok(j({ gpu_type: g, gpu_seconds: 1 })).gpuKey).toBe('a100-80gb');
    }
  });
  it('keeps display names as written', () => {
    expect(ok(j({ gpu_type: ' A100 80GB ', gpu_seconds: 1 })).gpuType).toBe(' A100 80GB ');
  });
  it('takes a whole number as text for text fields; rejects other types', () => {
    expect(ok(j({ user_id: 42 })).userId).toBe('42');
    expect(reason(j({ user_id: { a: 1 } }))).toBe('user_id is {"a":1}: it must be text');
    expect(reason(j({ status: false }))).toBe('status is false: it must be text');
  });
  it('rejects text that a database cannot keep as it is', () => {
    expect(reason(j({ user_id: 'a\u0000b' }))).toBe('user_id contains a NUL character');
    expect(reason('{"id":"x","tenant_id":"a","time":"2026-10-03T14:07:11Z","user_id":"\\ud800"}')).toBe(
      'user_id is not valid Unicode (a lone surrogate)',
    );
  });
});

describe('records that are not receipts', () => {
  it('rejects what is not a JSON object', () => {
    expect(reason('[1,2]')).toBe('not a JSON object (an array)');
    expect(reason('"text"')).toBe('not a JSON object (a string)');
    expect(reason('null')).toBe('not a JSON object (null)');
    expect(reason('{"id": 1,}')).toMatch(/^not valid JSON: /);
    expect(reason('{"id": 01}')).toMatch(/^not valid JSON: /);
    expect(reason('{"id": "a"} x')).toMatch(/^not valid JSON: /);
  });
});
