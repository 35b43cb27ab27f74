/** receipts.md, "Token classes", event_type and quantity: every producer's convention, every new reject with its reason. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derivedId } from '../../src/domain/receipt.js';
import { normalize, wantedFields, type NormalizeOptions } from '../../src/ingest/normalize.js';
import { RecordParser } from '../../src/ingest/record-json.js';

const options: NormalizeOptions = { assumeUtc: false, covenants: null };
const parser = new RecordParser(wantedFields());

function fromJson(text: string) {
  const parsed = parser.parse(text);
  if (!parsed.ok) return { ok: false as const, reason: parsed.reason };
  return normalize(parsed.value, options);
}

function ok(o: Record<string, unknown>) {
  const r = fromJson(JSON.stringify({ id: 'r', tenant_id: 'acme', timestamp: '2026-10-03T14:07:11Z', model: 'm', ...o }));
  if (!r.ok) throw new Error(`rejected: ${r.reason}`);
  return r.receipt;
}

function reason(o: Record<string, unknown>): string {
  const r = fromJson(JSON.stringify({ id: 'r', tenant_id: 'acme', timestamp: '2026-10-03T14:07:11Z', model: 'm', ...o }));
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(r.receipt)}`);
  return r.reason;
}

const classes = (r: ReturnType<typeof ok>) => ({
  input: r.inputTokens, cached: r.cachedInputTokens, cacheWrite: r.cacheWriteTokens, output: r.outputTokens, reasoning: r.reasoningTokens,
});

describe('token classes: the source field decides what is included', () => {
  it("OpenAI chat completions: cached tokens are part of prompt_tokens, reasoning tokens part of completion_tokens (the spec's example)", () => {
    const r = ok({ prompt_tokens: 1000, prompt_tokens_details: { cached_tokens: 800 }, completion_tokens: 300, completion_tokens_details: { reasoning_tokens: 200 } });
    expect(classes(r)).toEqual({ input: 200, cached: 800, cacheWrite: 0, output: 100, reasoning: 200 });
  });

  it('OpenAI chat completions nested under usage', () => {
    const r = ok({ usage: { prompt_tokens: 50, prompt_tokens_details: { cached_tokens: 50 }, completion_tokens: 7, completion_tokens_details: { reasoning_tokens: 0 } } });
    expect(classes(r)).toEqual({ input: 0, cached: 50, cacheWrite: 0, output: 7, reasoning: 0 });
  });

  it('OpenAI responses: input_tokens_details.cached_tokens and output_tokens_details.reasoning_tokens are included', () => {
    const r = ok({ usage: { input_tokens: 1000, input_tokens_details: { cached_tokens: 300 }, output_tokens: 500, output_tokens_details: { reasoning_tokens: 100 } } });
    expect(classes(r)).toEqual({ input: 700, cached: 300, cacheWrite: 0, output: 400, reasoning: 100 });
  });

  it("Anthropic messages: cache reads and writes are separate, nothing is subtracted (the spec's example)", () => {
    const r = ok({ input_tokens: 50, cache_read_input_tokens: 900, cache_creation_input_tokens: 100, output_tokens: 40 });
    expect(classes(r)).toEqual({ input: 50, cached: 900, cacheWrite: 100, output: 40, reasoning: 0 });
    const nested = ok({ type: 'message', usage: { input_tokens: 50, cache_read_input_tokens: 900, cache_creation_input_tokens: 100, output_tokens: 40 } });
    expect(classes(nested)).toEqual({ input: 50, cached: 900, cacheWrite: 100, output: 40, reasoning: 0 });
    expect(nested.eventType).toBe('message');
  });

  it('strike receipts: the canonical names under cost_data.inference are separate', () => {
    const r = ok({
      model: undefined,
      cost_data: { inference: { model: 'Qwen-70B', input_tokens: 10, cached_input_tokens: 20, cache_write_tokens: 30, output_tokens: 40, reasoning_tokens: 50 } },
    });
    expect(classes(r)).toEqual({ input: 10, cached: 20, cacheWrite: 30, output: 40, reasoning: 50 });
    expect(r.modelKey).toBe('qwen-70b');
  });

  it('a canonical (separate) field wins over an included one and subtracts nothing', () => {
    const r = ok({ prompt_tokens: 1000, cached_input_tokens: 5, prompt_tokens_details: { cached_tokens: 800 } });
    expect(classes(r)).toEqual({ input: 1000, cached: 5, cacheWrite: 0, output: 0, reasoning: 0 });
  });

  it('tokens_processed (legacy) still counts as input only', () => {
    const r = ok({ tokens_processed: 5200 });
    expect(classes(r)).toEqual({ input: 5200, cached: 0, cacheWrite: 0, output: 0, reasoning: 0 });
    expect(r.unsplit).toBe(true);
  });

  it('an included class of 0 with no count to be part of is no reject', () => {
    expect(classes(ok({ completion_tokens_details: { reasoning_tokens: 0 } }))).toEqual({ input: 0, cached: 0, cacheWrite: 0, output: 0, reasoning: 0 });
  });
});

describe('token classes: rejects', () => {
  it('an included class larger than the count it is included in', () => {
    expect(reason({ prompt_tokens: 500, prompt_tokens_details: { cached_tokens: 900 } })).toBe('cached_tokens 900 exceed prompt_tokens 500');
    expect(reason({ usage: { output_tokens: 10, output_tokens_details: { reasoning_tokens: 11 } } })).toBe('reasoning_tokens 11 exceed output_tokens 10');
  });

  it('an included class when the count it belongs to is absent', () => {
    expect(reason({ prompt_tokens_details: { cached_tokens: 800 } })).toBe(
      'cached_tokens 800 is included in input_tokens, but the receipt has no input_tokens',
    );
    expect(reason({ input_tokens: 3, completion_tokens_details: { reasoning_tokens: 2 } })).toBe(
      'reasoning_tokens 2 is included in output_tokens, but the receipt has no output_tokens',
    );
  });

  it('any token class > 0 with no model', () => {
    expect(reason({ model: undefined, cache_read_input_tokens: 5 })).toBe('tokens but no model (input_tokens 0, cached_input_tokens 5, output_tokens 0)');
    expect(reason({ model: undefined, reasoning_tokens: 1, output_tokens: 2 })).toBe('tokens but no model (input_tokens 0, output_tokens 2, reasoning_tokens 1)');
  });

  it('the number rules hold for every new quantity', () => {
    expect(reason({ cache_creation_input_tokens: -1 })).toBe('cache_creation_input_tokens is -1: below 0');
    expect(reason({ reasoning_tokens: 1.5 })).toBe('reasoning_tokens is 1.5: not a whole number');
    expect(reason({ quantity: '12a' })).toBe('quantity is "12a": not a whole number');
    expect(reason({ prompt_tokens: 10, prompt_tokens_details: { cached_tokens: 'x' } })).toBe('prompt_tokens_details.cached_tokens is "x": not a whole number');
  });
});

describe('event_type and quantity', () => {
  it('event_type (or type) is keyed like a name; quantity is a whole number', () => {
    const r = ok({ model: undefined, event_type: ' Agent Execution ', quantity: 5 });
    expect([r.eventType, r.quantity]).toEqual(['agent-execution', 5]);
    expect(ok({ model: undefined, type: 'Storage_Reading' }).eventType).toBe('storage-reading');
    expect(ok({ model: undefined, event_type: 'a', type: 'b' }).eventType).toBe('a');
    expect(ok({ model: undefined }).eventType).toBeNull();
  });
});

describe('the derived id', () => {
  const sha = (text: string) => `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
  const noId = (o: Record<string, unknown>) => {
    const r = fromJson(JSON.stringify({ tenant_id: 'acme', timestamp: '2026-10-03T14:07:11Z', model: 'Qwen 70B', ...o }));
    if (!r.ok) throw new Error(r.reason);
    return r.receipt;
  };

  it('of a receipt without the new fields is what it always was', () => {
    const r = noId({ input_tokens: 1800, output_tokens: 350, user_id: 'u1', gpu_type: 'A100', gpu_seconds: 4 });
    expect(r.id).toBe(sha('acme|1791036431000|1|qwen-70b|a100|4|1800|350|u1'));
    expect(derivedId(r)).toBe(r.id);
  });

  it('continues with cached, cache write, reasoning, event type key and quantity when any is there', () => {
    const r = noId({ prompt_tokens: 1000, prompt_tokens_details: { cached_tokens: 800 }, completion_tokens: 300, completion_tokens_details: { reasoning_tokens: 200 } });
    expect(r.id).toBe(sha('acme|1791036431000|1|qwen-70b||0|200|100||800|0|200||0'));
    const e = noId({ model: undefined, event_type: 'Storage', quantity: 12 });
    expect(e.id).toBe(sha('acme|1791036431000|1|||0|0|0||0|0|0|storage|12'));
    const onlyType = noId({ model: undefined, type: 'x' });
    expect(onlyType.id).toBe(sha('acme|1791036431000|1|||0|0|0||0|0|0|x|0'));
  });
});
