/**
 * The JSON API of cli.md, "The HTTP API": each answer is what the matching command prints with
 * `--format json` for the same question, built by the same use case and the same JSON function.
 * A tenant token sees its own tenant alone (403 for any other, before anything is read).
 */
import { QUOTA_METRICS, decideQuota, parseQuotaAmount, quotaJson, type QuotaMetric } from '../app/quota.js';
import { estimate, estimateJson, estimateRequest } from '../app/estimate.js';
import { computeInvoice, invoiceJson, previewJson } from '../app/invoices.js';
import { grantJson } from '../app/credits.js';
import { collectMetrics, renderExposition } from '../app/metrics.js';
import { StoreRating } from '../app/rating-service.js';
import { USAGE_GROUPS, usageJson, usageReport, type UsageGroupBy } from '../app/usage.js';
import { currentPeriod, parseUserId, periodOption } from '../app/budgets.js';
import type { Period } from '../domain/period.js';
import { TOKEN_CLASSES } from '../domain/quantities.js';
import { formatUtcDate } from '../domain/time.js';
import type { Tenant } from '../domain/tenant.js';
import { errorMessage } from '../errors.js';
import { receiveStripeEvent, BadStripeEventError } from '../stripe/events.js';
import { verifyStripeSignature } from '../stripe/webhook-signature.js';
import { HttpError, badRequest, notFound, readBody, send, sendJson } from './http.js';
import type { RequestContext, Route, Services } from './server.js';


const WEBHOOK_BODY_LIMIT = 1024 * 1024;

/** The tenant of a tenant-scoped path, when the token may see it: 403 for another tenant's token, 404 for none. */
export async function scopedTenant(ctx: RequestContext, s: Services, id: string): Promise<Tenant> {
  const token = ctx.token!;
  if (token.tenantId !== null && token.tenantId !== id) {
    throw new HttpError(403, 'forbidden', 'this token is for another tenant');
  }
  const tenant = s.memory.cachedTenant(id) ?? (await s.gate.run(() => s.store.getTenant(id)));
  if (!tenant) throw notFound(`no tenant "${id}"`);
  return tenant;
}

export function requireOperator(ctx: RequestContext): void {
  if (ctx.token!.tenantId !== null) throw new HttpError(403, 'forbidden', 'this needs an operator token (billctl serve token create without --tenant)');
}

function param(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.url.searchParams.get(name);
  return v === null ? undefined : v;
}

/** Parameter problems are 400 with the parameter's name. */
function queryPeriod(ctx: RequestContext, tenant: Tenant, now: number): Period {
  return periodOption(param(ctx, 'period'), 'period') ?? currentPeriod(tenant, now);
}

const TENANT = '/v1/tenants/([^/]+)';

export function apiRoutes(): Route[] {
  return [
    {
      method: 'GET', pattern: /^\/healthz$/, auth: false,
      async handle({ res }, s) {
        try {
          await s.gate.run(() => s.store.schemaVersion());
        } catch (err) {
          throw new HttpError(500, 'store_unavailable', `the store does not answer: ${errorMessage(err)}`);
        }
        sendJson(res, 200, { ok: true });
      },
    },
    {
      method: 'GET', pattern: new RegExp(`^${TENANT}/quota$`), auth: true,
      async handle(ctx, s) {
        const tenant = await scopedTenant(ctx, s, ctx.params[0]!);
        const metric = (param(ctx, 'metric') ?? 'api_calls') as QuotaMetric;
        if (!QUOTA_METRICS.includes(metric)) throw badRequest(`metric: "${metric}" is not one of ${QUOTA_METRICS.join(', ')}`);
        const amount = parseQuotaAmount(metric, param(ctx, 'units'));
        const userText = param(ctx, 'user');
        const user = userText === undefined ? undefined : parseUserId(userText);
        const answer = decideQuota(await s.memory.quotaFacts(tenant), metric, amount, user);
        sendJson(ctx.res, answer.allowed ? 200 : 402, quotaJson(answer));
      },
    },
    {
      method: 'GET', pattern: new RegExp(`^${TENANT}/estimate$`), auth: true,
      async handle(ctx, s) {
        const tenant = await scopedTenant(ctx, s, ctx.params[0]!);
        const fields: Record<string, string | undefined> = {};
        for (const f of ['model', 'gpu', 'gpu_seconds', ...TOKEN_CLASSES.map((c) => c.name)]) fields[f] = param(ctx, f);
        const req = estimateRequest(fields, 'param');
        const e = await s.gate.run(() => estimate(s.store, tenant, req, s.now()));
        sendJson(ctx.res, 200, estimateJson(e));
      },
    },
    {
      method: 'GET', pattern: new RegExp(`^${TENANT}/usage$`), auth: true,
      async handle(ctx, s) {
        const tenant = await scopedTenant(ctx, s, ctx.params[0]!);
        const now = s.now();
        const period = queryPeriod(ctx, tenant, now);
        const by = param(ctx, 'by') as UsageGroupBy | undefined;
        if (by !== undefined && !USAGE_GROUPS.includes(by)) throw badRequest(`by: "${by}" is not one of ${USAGE_GROUPS.join(', ')}`);
        const report = await s.gate.run(async () => {
          const rating = await StoreRating.load(s.store, false);
          return usageReport(s.store, rating, { period, tenants: [tenant], by, compareReported: false, now });
        });
        const failed = report.failures[0];
        if (failed) throw new HttpError(500, 'rating_failed', failed.error);
        sendJson(ctx.res, 200, usageJson(report.rows, by));
      },
    },
    {
      method: 'GET', pattern: new RegExp(`^${TENANT}/invoice-preview$`), auth: true,
      async handle(ctx, s) {
        const tenant = await scopedTenant(ctx, s, ctx.params[0]!);
        const now = s.now();
        const period = queryPeriod(ctx, tenant, now);
        const json = await s.gate.run(async () => {
          const computed = await computeInvoice(s.store, await StoreRating.load(s.store, false), tenant, period, formatUtcDate(now));
          return computed ? previewJson(computed, now) : null;
        });
        sendJson(ctx.res, 200, json);
      },
    },
    {
      method: 'GET', pattern: new RegExp(`^${TENANT}/invoices$`), auth: true,
      async handle(ctx, s) {
        const tenant = await scopedTenant(ctx, s, ctx.params[0]!);
        const list = await s.gate.run(() => s.store.invoices.list({ tenantId: tenant.id }));
        sendJson(ctx.res, 200, list.map((i) => invoiceJson(i)));
      },
    },
    {
      method: 'GET', pattern: new RegExp(`^${TENANT}/credits$`), auth: true,
      async handle(ctx, s) {
        const tenant = await scopedTenant(ctx, s, ctx.params[0]!);
        const grants = await s.gate.run(() => s.store.credits.listGrants({ tenantId: tenant.id }));
        sendJson(ctx.res, 200, grants.map((g) => grantJson(g, formatUtcDate(s.now()))));
      },
    },
    {
      method: 'GET', pattern: new RegExp(`^${TENANT}/invoices/([^/]+)\\.pdf$`), auth: true,
      async handle(ctx, s) {
        const tenant = await scopedTenant(ctx, s, ctx.params[0]!);
        const pdf = await invoicePdf(s, tenant, ctx.params[1]!);
        send(ctx.res, 200, 'application/pdf', pdf.bytes, { 'content-disposition': `inline; filename="${pdf.fileName}"` });
      },
    },
    {
      method: 'GET', pattern: /^\/metrics$/, auth: true,
      async handle(ctx, s) {
        requireOperator(ctx);
        const text = await s.gate.run(async () => {
          const report = await collectMetrics(s.store, await StoreRating.load(s.store, false), s.now());
          return renderExposition(report.families);
        });
        send(ctx.res, 200, 'text/plain; version=0.0.4; charset=utf-8', text);
      },
    },
    {
      method: 'POST', pattern: /^\/v1\/stripe\/webhook$/, auth: false,
      async handle(ctx, s) {
        if (!s.webhookSecret) {
          throw new HttpError(500, 'webhook_not_configured', 'STRIPE_WEBHOOK_SECRET is not set where billctl serve runs');
        }
        // The raw bytes, as received: the signature is over them, not over a re-encoding.
        const raw = await readBody(ctx.req, WEBHOOK_BODY_LIMIT);
        const check = verifyStripeSignature(raw, headerText(ctx.req.headers['stripe-signature']), s.webhookSecret, s.now());
        if (!check.ok) throw new HttpError(400, 'bad_signature', check.reason);
        let outcome;
        try {
          // Answered only after the event is committed: a 200 means it is stored.
          outcome = await s.gate.run(() => receiveStripeEvent(s.store, raw.toString('utf8'), { source: 'webhook', now: s.now(), alertTarget: s.alertTarget }));
        } catch (err) {
          if (err instanceof BadStripeEventError) throw badRequest(errorMessage(err));
          throw err;
        }
        sendJson(ctx.res, 200, { received: true, id: outcome.id, duplicate: !outcome.stored });
      },
    },
  ];
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/** An issued invoice's PDF, drawn from its frozen document: the bytes `invoice pdf` writes. */
export async function invoicePdf(s: Services, tenant: Tenant, number: string): Promise<{ bytes: Buffer; fileName: string }> {
  const inv = await s.gate.run(() => s.store.invoices.get(number));
  // A draft has no PDF; another tenant's invoice is as absent as one that never was.
  if (!inv || inv.tenantId !== tenant.id || inv.number !== number || !inv.document) throw notFound(`no issued invoice ${number} of ${tenant.id}`);
  // Loaded when first needed (pdfkit and the fonts are not small); the template loader caches it.
  const { loadInvoiceTemplate, renderInvoicePdf } = await import('../pdf/render-invoice.js');
  const bytes = await renderInvoicePdf(JSON.parse(inv.document), loadInvoiceTemplate(s.config.invoice.template ?? undefined));
  return { bytes, fileName: `${number.replace(/[^A-Za-z0-9._-]/g, '_')}.pdf` };
}
