/**
 * The dashboard (`GET /`): server-rendered pages over the same use cases as the API.
 *
 * Signing in: a person pastes their token into the form at /login (POSTed, so it never sits in a
 * URL, the history or a log); the server answers with an HttpOnly, SameSite=Strict cookie holding
 * it (Secure behind HTTPS) and every page then works without JavaScript. A tenant token opens its
 * tenant's page; an operator token opens the list of tenants and any tenant's page.
 *
 * A tenant page is a list of sections, each drawn from data read in one pass through the store
 * gate; a new section (credits, when grants exist) is one more entry in `TENANT_SECTIONS`.
 */
import type { ServerResponse } from 'node:http';
import { budgetStatus, currentPeriod, gpuHoursText, periodOption, tenantCurrency, type BudgetStatus } from '../app/budgets.js';
import type { InvoiceLine } from '../domain/invoice.js';
import { TOKEN_CLASSES } from '../domain/quantities.js';
import { computeInvoice, projectedTotal, type ComputedInvoice } from '../app/invoices.js';
import { StoreRating } from '../app/rating-service.js';
import { usageReport, type UsageRow } from '../app/usage.js';
import { Decimal, formatAmount } from '../domain/money.js';
import { addMonths, periodInterval, periodOf, type Period } from '../domain/period.js';
import type { Tenant } from '../domain/tenant.js';
import { formatUtcDate } from '../domain/time.js';
import { errorMessage } from '../errors.js';
import type { DailyCost } from '../pdf/invoice-document.js';
import type { AlertRecord } from '../store/alert-repo.js';
import type { InvoiceRecord } from '../store/invoice-repo.js';
import type { GrantRecord } from '../store/credit-repo.js';
import { grantJson } from '../app/credits.js';
import type { StripeObjectState } from '../store/stripe-event-repo.js';
import { scopedTenant } from './api.js';
import { HttpError, overHttps, readBody, send } from './http.js';
import { count, dailyChart, esc, money, page } from './html.js';
import { SESSION_COOKIE, authenticate } from './auth.js';
import type { RequestContext, Route, Services } from './server.js';

const html = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) =>
  send(res, status, 'text/html; charset=utf-8', body, {
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
    ...headers,
  });

const redirect = (res: ServerResponse, to: string, headers: Record<string, string> = {}) => {
  res.writeHead(303, { location: to, 'cache-control': 'no-store', 'content-length': '0', ...headers });
  res.end();
};

function sessionCookie(ctx: RequestContext, value: string, maxAge?: number): string {
  const parts = [`${SESSION_COOKIE}=${encodeURIComponent(value)}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (maxAge !== undefined) parts.push(`Max-Age=${maxAge}`);
  if (overHttps(ctx.req)) parts.push('Secure');
  return parts.join('; ');
}

function loginPage(message?: string): string {
  return page('Sign in', `<h1>Sign in</h1>
<section class="card">
${message ? `<p class="bad">${esc(message)}</p>` : ''}
<form method="post" action="/login">
<p><label for="token">Your access token</label></p>
<p><input id="token" name="token" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
<p class="muted">Your billing contact gives you the token. It stays in this browser until you sign out.</p>
</section>`);
}

/** An error answered as a page (dashboard routes). */
export function dashboardErrorPage(res: ServerResponse, e: HttpError): void {
  if (e.status === 401) {
    redirect(res, '/login');
    return;
  }
  const text = e.status === 403 ? 'This page belongs to another account.' : e.status === 404 ? 'There is no such page.' : 'Something went wrong; please try again later.';
  html(res, e.status, page('Error', `<h1>${esc(text)}</h1><p><a href="/">Back to the start</a></p>`));
}

// ---------------------------------------------------------------------------------------------
// The tenant page

interface TenantPageData {
  tenant: Tenant;
  period: Period;
  current: Period;
  currency: string;
  /** The invoice preview (period to date); null: nothing to bill yet. */
  preview: ComputedInvoice | null;
  projected: string | null;
  /** Why the period could not be priced (shown to operators; customers get a plain sentence). */
  problem: string | null;
  byModel: UsageRow[];
  daily: DailyCost[];
  budget: BudgetStatus | null;
  alerts: AlertRecord[];
  invoices: InvoiceRecord[];
  /** The tenant's credit grants with their balances, and the day their status is of. */
  credits: GrantRecord[];
  today: string;
  stripe: StripeObjectState[];
  operator: boolean;
}

async function tenantPageData(s: Services, tenant: Tenant, period: Period, operator: boolean): Promise<TenantPageData> {
  const now = s.now();
  const store = s.store;
  const rating = await StoreRating.load(store, false);
  const data: TenantPageData = {
    tenant, period, current: currentPeriod(tenant, now), currency: await tenantCurrency(store, tenant).catch(() => s.config.currency),
    preview: null, projected: null, problem: null, byModel: [], daily: [], budget: null, alerts: [], invoices: [], credits: [], today: formatUtcDate(now), stripe: [], operator,
  };
  try {
    data.preview = (await computeInvoice(store, rating, tenant, period, formatUtcDate(now))) ?? null;
    if (data.preview) {
      data.currency = data.preview.currency;
      data.projected = projectedTotal(data.preview, now);
    }
    const report = await usageReport(store, rating, { period, tenants: [tenant], by: 'model', compareReported: false, now });
    data.byModel = report.rows;
    data.daily = await rating.dailyCharges(tenant, period);
  } catch (err) {
    data.problem = errorMessage(err);
  }
  const budget = await store.budgets.get(tenant.id);
  if (budget) {
    const { rated: _r, ...status } = await budgetStatus(rating, tenant, budget, period, now);
    data.budget = status;
  }
  data.alerts = (await store.alerts.list({ tenantId: tenant.id })).reverse().slice(0, 10);
  data.invoices = (await store.invoices.list({ tenantId: tenant.id })).filter((i) => i.status !== 'draft').reverse();
  data.credits = await store.credits.listGrants({ tenantId: tenant.id });
  data.stripe = tenant.billingMode === 'stripe' ? await store.stripeEvents.objects(tenant.id) : [];
  return data;
}

const KIND_LABELS: Record<string, string> = {
  fee: 'Plan fee', gpu: 'GPU time',
  ...Object.fromEntries(TOKEN_CLASSES.map((c) => [c.name, `${c.line.words[0]!.toUpperCase()}${c.line.words.slice(1)}`])),
  requests: 'API requests',
  discount: 'Discount', adjustment: 'Corrections to earlier periods', credit: 'Credits',
};

/** A line's quantities in a customer's words: GPU time in hours, how much of the usage was billed. */
function usageText(l: InvoiceLine): string {
  if (l.kind === 'fee' || l.kind === 'discount' || l.kind === 'commitment' || l.kind === 'credit') return '';
  const q = (n: bigint) => (l.unit === 'second' ? `${count(gpuHoursText(n))} h` : count(n));
  const unit = l.unit === 'second' ? '' : ` ${l.unit}${l.used === 1n ? '' : 's'}`;
  if (l.kind === 'adjustment') return `${l.billed < 0n ? '−' : '+'}${q(l.billed < 0n ? -l.billed : l.billed)}${unit} billed`;
  return l.billed === l.used ? `${q(l.used)}${unit}` : `${q(l.billed)} of ${q(l.used)}${unit} billed, the rest in the plan`;
}

function figure(label: string, value: string, field: string): string {
  return `<div class="figure"><div class="label">${esc(label)}</div><div class="value" data-field="${field}">${esc(value)}</div></div>`;
}

/** A Stripe invoice's period: its UTC month when it covers one (subscriptions renew on UTC months), else its dates. */
function stripePeriod(start: number | null | undefined, end: number | null | undefined): string {
  if (typeof start !== 'number' || typeof end !== 'number') return '';
  const month = periodOf('UTC', start * 1000);
  if (periodInterval('UTC', month).start === start * 1000 && periodInterval('UTC', month).end === end * 1000) return month;
  return `${new Date(start * 1000).toISOString().slice(0, 10)} – ${new Date(end * 1000).toISOString().slice(0, 10)}`;
}

const SECTIONS: ((d: TenantPageData) => string)[] = [
  function summary(d) {
    const p = d.preview;
    const c = d.currency;
    const zero = formatAmount(Decimal.ZERO, c);
    const t = p?.totals;
    return `<div class="cards">
${figure(d.period === d.current ? 'Period to date, before tax' : 'Period total, before tax', money(t ? formatAmount(t.subtotal, c) : zero, c), 'subtotal')}
${figure(p ? `${p.tenant.taxLabel} (${p.tenant.taxRate.mul(100n).normalize().toString()} %)` : 'Tax', money(t ? formatAmount(t.tax, c) : zero, c), 'tax')}
${figure('Total so far', money(t ? formatAmount(t.total, c) : zero, c), 'total')}
${d.projected === null ? '' : figure('Projected for the month, before tax', money(d.projected, c), 'projected_total')}
</div>`;
  },
  function lines(d) {
    if (d.problem !== null) {
      return `<section class="card"><h2>Charges</h2><p class="bad">${esc(d.operator ? d.problem : 'The charges of this period are being prepared; please look again later.')}</p></section>`;
    }
    const p = d.preview;
    if (!p) return '<section class="card"><h2>Charges</h2><p class="muted">Nothing to bill yet in this period.</p></section>';
    const c = p.currency;
    const rows = p.lines.map((l) => `<tr data-line="${esc(l.description)}"><td>${esc(l.description)}</td><td class="muted">${esc(usageText(l))}</td><td class="num" data-field="amount">${esc(money(formatAmount(l.amount, c), c))}</td></tr>`);
    const issued = d.invoices.find((i) => i.period === d.period && i.status !== 'void');
    const note = issued
      ? `<p class="muted">Invoiced as ${esc(issued.number)} (${esc(money(formatAmount(issued.totals.total, issued.currency), issued.currency))}). These are the charges as they stand now: usage that arrived after the invoice is billed on the next one as a correction.</p>`
      : '';
    return `<section class="card"><h2>Charges</h2>
<table><thead><tr><th>Item</th><th>Usage</th><th class="num">Amount</th></tr></thead>
<tbody>${rows.join('\n')}</tbody>
<tfoot><tr><td colspan="2">Subtotal</td><td class="num">${esc(money(formatAmount(p.totals.subtotal, c), c))}</td></tr></tfoot></table>${note}</section>`;
  },
  function breakdowns(d) {
    const p = d.preview;
    if (!p) return '';
    const c = p.currency;
    const byKind = new Map<string, Decimal>();
    for (const l of p.lines) byKind.set(l.kind, (byKind.get(l.kind) ?? Decimal.ZERO).add(l.amount));
    const kindRows = [...byKind].map(([k, v]) => `<tr data-kind="${esc(k)}"><td>${esc(KIND_LABELS[k] ?? k)}</td><td class="num">${esc(money(formatAmount(v, c), c))}</td></tr>`);
    // Token classes: input and output always, cached, cache write and reasoning when some model has them.
    const models = d.byModel.filter((r) => r.group !== null && r.group !== undefined);
    const classes = TOKEN_CLASSES.filter((c) => !c.extended || models.some((r) => r[c.prop] > 0n));
    const modelRows = models.map((r) =>
      `<tr data-model="${esc(r.group)}"><td>${esc(r.group)}</td>${classes.map((c) => `<td class="num wide">${count(r[c.prop])}</td>`).join('')}<td class="num">${esc(money(formatAmount(r.ratedAmount, r.currency), r.currency))}</td></tr>`);
    const classHeads = classes.map((c) => `<th class="num wide">${esc(KIND_LABELS[c.name]!)}</th>`).join('');
    return `<div class="cards">
<section class="card"><h2>By kind</h2><table><thead><tr><th>Kind</th><th class="num">Amount</th></tr></thead><tbody>${kindRows.join('')}</tbody></table></section>
<section class="card"><h2>By model</h2>${modelRows.length === 0 ? '<p class="muted">No model usage in this period.</p>' : `<table><thead><tr><th>Model</th>${classHeads}<th class="num">Amount</th></tr></thead><tbody>${modelRows.join('')}</tbody></table>`}</section>
</div>`;
  },
  function daily(d) {
    return `<section class="card"><h2>Charges per day</h2>${dailyChart(d.period, d.daily, d.currency)}</section>`;
  },
  function budget(d) {
    const b = d.budget;
    if (!b) return '';
    const c = b.budget.currency;
    const limit = money(formatAmount(b.budget.monthly, c), c);
    if (b.spent === null) return `<section class="card"><h2>Monthly budget</h2><p>${esc(limit)}</p></section>`;
    const pct = Number(b.percent ?? 0n);
    return `<section class="card"><h2>Monthly budget</h2>
<meter min="0" max="100" low="80" high="100" optimum="0" value="${Math.min(pct, 100)}">${pct} %</meter>
<p><span data-field="budget_spent">${esc(money(formatAmount(b.spent, c), c))}</span> of ${esc(limit)} spent (${pct} %)${b.projected ? `; on course for ${esc(money(formatAmount(b.projected, c), c))}` : ''}.</p></section>`;
  },
  function alerts(d) {
    if (d.alerts.length === 0) return '';
    return `<section class="card"><h2>Alerts</h2><table><tbody>${d.alerts.map((a) => `<tr><td class="muted">${esc(a.firedAt.slice(0, 10))}</td><td>${esc(a.text)}</td></tr>`).join('')}</tbody></table></section>`;
  },
  function credits(d) {
    if (d.credits.length === 0) return '';
    const rows = d.credits.map((g) => {
      const j = grantJson(g, d.today);
      const what = g.kind === 'promotional' ? 'Promotional, before tax' : 'Prepaid, after tax';
      return `<tr data-grant="${esc(g.id)}"><td>${esc(g.name ?? (g.kind === 'promotional' ? 'Promotional credit' : 'Prepaid credit'))}<div class="muted">${esc(what)}</div></td><td class="num">${esc(money(String(j.amount), g.currency))}</td><td class="num" data-field="balance">${esc(money(String(j.balance), g.currency))}</td><td class="wide">${esc(g.expires ?? '')}</td><td><span class="status">${esc(String(j.status))}</span></td></tr>`;
    });
    return `<section class="card"><h2>Credits</h2><table><thead><tr><th>Credit</th><th class="num">Granted</th><th class="num">Left</th><th class="wide">Expires</th><th>Status</th></tr></thead><tbody>${rows.join('')}</tbody></table>
<p class="muted">Promotional credit lowers an invoice before tax; prepaid credit lowers what is due after tax. An invoice draws what is left when it is issued.</p></section>`;
  },
  function invoices(d) {
    const rows = d.invoices.map((i) => `<tr><td>${esc(i.number)}</td><td>${esc(i.period)}</td><td><span class="status">${esc(i.status)}</span></td><td class="num">${esc(money(formatAmount(i.totals.total, i.currency), i.currency))}</td><td class="num" data-field="amount_due">${esc(money(formatAmount(i.amountDue, i.currency), i.currency))}</td><td class="wide">${esc(i.dueDate ?? '')}</td><td><a href="/v1/tenants/${encodeURIComponent(d.tenant.id)}/invoices/${encodeURIComponent(i.number ?? '')}.pdf">PDF</a></td></tr>`);
    const stripe = d.stripe.filter((o) => o.objectType === 'invoice').map((o) => {
      const f = o.fields as { number?: string | null; amount_due?: string | null; currency?: string | null; hosted_invoice_url?: string | null; period_start?: number | null; period_end?: number | null };
      const amount = f.amount_due && f.currency ? money(f.amount_due, f.currency) : '';
      const link = f.hosted_invoice_url && /^https:\/\//.test(f.hosted_invoice_url) ? `<a href="${esc(f.hosted_invoice_url)}" rel="noreferrer">View</a>` : '';
      return `<tr><td>${esc(f.number ?? '')}</td><td>${esc(stripePeriod(f.period_start, f.period_end))}</td><td><span class="status">${esc(o.status.replace('_', ' '))}</span></td><td class="num">${esc(amount)}</td><td class="num"></td><td class="wide"></td><td>${link}</td>`;
    });
    if (rows.length + stripe.length === 0) return '<section class="card"><h2>Invoices</h2><p class="muted">No invoices yet.</p></section>';
    return `<section class="card"><h2>Invoices</h2><table><thead><tr><th>Number</th><th>Period</th><th>Status</th><th class="num">Total</th><th class="num">Amount due</th><th class="wide">Due</th><th></th></tr></thead><tbody>${[...rows, ...stripe].join('')}</tbody></table></section>`;
  },
];

function tenantPage(d: TenantPageData): string {
  const id = encodeURIComponent(d.tenant.id);
  const prev = addMonths(d.period, -1);
  const next = addMonths(d.period, 1);
  const nav = `<p class="nav">${d.operator ? '<a href="/">All tenants</a>' : ''}<a href="/tenants/${id}?period=${prev}">← ${esc(prev)}</a>${d.period < d.current ? `<a href="/tenants/${id}?period=${next}">${esc(next)} →</a>` : ''}${d.period !== d.current ? `<a href="/tenants/${id}">This month</a>` : ''}</p>`;
  return page(`${d.tenant.name} · ${d.period}`, `<h1>${esc(d.tenant.name)} <span class="muted">· ${esc(d.period)}</span></h1>
${nav}
${SECTIONS.map((f) => f(d)).join('\n')}`, { signedIn: d.operator ? 'operator' : d.tenant.name });
}

// ---------------------------------------------------------------------------------------------
// The operator page

async function operatorPage(s: Services): Promise<string> {
  const now = s.now();
  const { tenants, rows, failures } = await s.gate.run(async () => {
    const tenants = await s.store.listTenants();
    const rating = await StoreRating.load(s.store, false);
    const byPeriod = new Map<Period, Tenant[]>();
    for (const t of tenants) {
      const p = currentPeriod(t, now);
      byPeriod.set(p, [...(byPeriod.get(p) ?? []), t]);
    }
    const rows = new Map<string, UsageRow>();
    const failures = new Map<string, string>();
    for (const [period, list] of byPeriod) {
      const report = await usageReport(s.store, rating, { period, tenants: list, compareReported: false, now });
      for (const r of report.rows) rows.set(r.tenantId, r);
      for (const f of report.failures) failures.set(f.tenantId, f.error);
    }
    return { tenants, rows, failures };
  });
  const body = tenants.map((t) => {
    const r = rows.get(t.id);
    const fail = failures.get(t.id);
    const amount = (v: Decimal | undefined) => (r && v !== undefined ? esc(money(formatAmount(v, r.currency), r.currency)) : '');
    return `<tr data-tenant="${esc(t.id)}"><td><a href="/tenants/${encodeURIComponent(t.id)}">${esc(t.name)}</a><div class="muted">${esc(t.id)}</div></td><td>${esc(currentPeriod(t, now))}</td><td class="num">${r ? count(r.requests) : ''}</td><td class="num" data-field="month_to_date">${amount(r?.monthToDate ?? r?.ratedAmount)}</td><td class="num">${amount(r?.projectedMonthEnd)}</td><td>${fail ? `<span class="bad">${esc(fail)}</span>` : esc(t.billingMode)}</td></tr>`;
  });
  return page('Tenants', `<h1>Tenants <span class="muted">· month to date</span></h1>
<section class="card"><table><thead><tr><th>Tenant</th><th>Period</th><th class="num">Requests</th><th class="num">Month to date</th><th class="num">Projected</th><th>Billing</th></tr></thead>
<tbody>${body.join('\n')}</tbody></table>
<p class="muted">Amounts before tax. Projected: the plan fee plus the usage so far scaled to the whole month.</p></section>`, { signedIn: 'operator' });
}

// ---------------------------------------------------------------------------------------------

export function dashboardRoutes(): Route[] {
  return [
    {
      method: 'GET', pattern: /^\/$/, auth: true, page: true,
      async handle(ctx, s) {
        const t = ctx.token!;
        if (t.tenantId !== null) {
          redirect(ctx.res, `/tenants/${encodeURIComponent(t.tenantId)}`);
          return;
        }
        html(ctx.res, 200, await operatorPage(s));
      },
    },
    {
      method: 'GET', pattern: /^\/tenants\/([^/]+)$/, auth: true, page: true,
      async handle(ctx, s) {
        const tenant = await scopedTenant(ctx, s, ctx.params[0]!);
        const now = s.now();
        const period = periodOption(ctx.url.searchParams.get('period') ?? undefined, 'period') ?? currentPeriod(tenant, now);
        const data = await s.gate.run(() => tenantPageData(s, tenant, period, ctx.token!.tenantId === null));
        html(ctx.res, 200, tenantPage(data));
      },
    },
    {
      method: 'GET', pattern: /^\/login$/, auth: false, page: true,
      async handle(ctx) {
        html(ctx.res, 200, loginPage());
      },
    },
    {
      method: 'POST', pattern: /^\/login$/, auth: false, page: true,
      async handle(ctx, s) {
        const body = new URLSearchParams((await readBody(ctx.req, 8192)).toString('utf8'));
        const token = (body.get('token') ?? '').trim();
        const record = authenticate(s.memory, token);
        if (!record) {
          html(ctx.res, 401, loginPage('That token is not valid (or was revoked).'));
          return;
        }
        redirect(ctx.res, '/', { 'set-cookie': sessionCookie(ctx, token) });
      },
    },
    {
      method: 'POST', pattern: /^\/logout$/, auth: false, page: true,
      async handle(ctx) {
        redirect(ctx.res, '/login', { 'set-cookie': sessionCookie(ctx, '', 0) });
      },
    },
  ];
}
