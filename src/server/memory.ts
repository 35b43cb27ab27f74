/**
 * What the server answers from memory, kept current with the store: the live API tokens (by
 * hash) and each asked-about tenant's quota facts. Every `pollMs` it reads the store's change
 * marker (a few counts and maxima); when receipts changed it compares each cached tenant's
 * rollup sums for its period and recomputes the facts of those whose sums moved; when terms
 * (tenants, plans, budgets, catalogs) changed it recomputes every cached tenant; when tokens
 * changed it reloads them. Receipts another process imports are seen within one poll.
 */
import { quotaFacts, type QuotaFacts } from '../app/quota.js';
import { currentPeriod } from '../app/budgets.js';
import { periodDays, type Period } from '../domain/period.js';
import { QUANTITIES } from '../domain/quantities.js';
import type { Tenant } from '../domain/tenant.js';
import type { ApiToken } from '../store/token-repo.js';
import type { ChangeMarker, Store } from '../store/store.js';
import type { PeriodTotals } from '../store/usage-cache-repo.js';
import type { StoreGate } from './gate.js';

interface CachedFacts {
  facts: QuotaFacts;
  /** The rollup sums the facts were computed from (to tell when they moved). */
  sums: string;
}

const sumsText = (t: PeriodTotals | undefined) =>
  t === undefined ? '' : [t.rows, t.receipts, t.requests, ...QUANTITIES.map((q) => t[q.prop])].join(',');

export class LiveMemory {
  private marker: ChangeMarker | undefined;
  private tokens = new Map<string, ApiToken>();
  private readonly facts = new Map<string, CachedFacts>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  /** Refreshes done (tests and logs). */
  refreshes = 0;

  constructor(
    private readonly store: Store,
    private readonly gate: StoreGate,
    private readonly now: () => number,
    private readonly onError: (err: unknown) => void,
  ) {}

  async start(pollMs: number): Promise<void> {
    await this.gate.run(() => this.poll());
    this.timer = setInterval(() => {
      if (this.polling) return;
      this.polling = this.gate.run(() => this.poll()).catch(this.onError).finally(() => (this.polling = undefined));
    }, pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.polling;
  }

  /** The live token with this hash. */
  token(hash: string): ApiToken | undefined {
    return this.tokens.get(hash);
  }

  private readonly loading = new Map<string, Promise<QuotaFacts>>();

  /** The tenant's quota facts for its period under way: from memory, else read now (through the gate, once for many askers). */
  async quotaFacts(tenant: Tenant): Promise<QuotaFacts> {
    const hit = this.facts.get(tenant.id);
    const period = currentPeriod(tenant, this.now());
    if (hit && hit.facts.period === period && hit.facts.tenant.updatedAt === tenant.updatedAt) return hit.facts;
    let p = this.loading.get(tenant.id);
    if (!p) {
      p = this.gate.run(async () => {
        const sums = await this.sums(new Map([[period, [tenant]]]));
        const facts = await quotaFacts(this.store, tenant, this.now());
        this.facts.set(tenant.id, { facts, sums: sums.get(tenant.id) ?? '' });
        return facts;
      }).finally(() => this.loading.delete(tenant.id));
      this.loading.set(tenant.id, p);
    }
    return p;
  }

  /** A cached tenant (the quota path needs no store read for tenants it has seen). */
  cachedTenant(id: string): Tenant | undefined {
    return this.facts.get(id)?.facts.tenant;
  }

  /**
   * Inside the gate: computes again the facts of these remembered tenants. One that cannot be
   * computed now (its period cannot be rated) is forgotten: its next check computes it and says why.
   */
  private async reload(ids: readonly string[]): Promise<void> {
    const byPeriod = new Map<Period, Tenant[]>();
    const tenants: Tenant[] = [];
    for (const id of ids) {
      const t = await this.store.getTenant(id);
      if (!t) {
        this.facts.delete(id);
        continue;
      }
      tenants.push(t);
      const p = currentPeriod(t, this.now());
      byPeriod.set(p, [...(byPeriod.get(p) ?? []), t]);
    }
    const sums = await this.sums(byPeriod);
    for (const t of tenants) {
      try {
        this.facts.set(t.id, { facts: await quotaFacts(this.store, t, this.now()), sums: sums.get(t.id) ?? '' });
      } catch (err) {
        this.facts.delete(t.id);
        this.onError(err);
      }
    }
  }

  private async sums(byPeriod: Map<Period, Tenant[]>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [p, list] of byPeriod) {
      const { first, last } = periodDays(p);
      const totals = await this.store.usageCache.periodTotals(first, last, false, list.length <= 50 ? list.map((t) => t.id) : undefined);
      for (const t of list) out.set(t.id, sumsText(totals.get(t.id)));
    }
    return out;
  }

  /** Inside the gate: reads the marker and refreshes what changed. */
  private async poll(): Promise<void> {
    const m = await this.store.changeMarker();
    const before = this.marker;
    this.marker = m;
    if (!before || before.tokens !== m.tokens) {
      this.tokens = new Map((await this.store.tokens.list()).filter((t) => t.revokedAt === null).map((t) => [t.hash, t]));
    }
    if (!before || this.facts.size === 0) return;
    if (before.terms !== m.terms) {
      this.refreshes++;
      await this.reload([...this.facts.keys()]);
      return;
    }
    if (before.receipts !== m.receipts) {
      this.refreshes++;
      const byPeriod = new Map<Period, Tenant[]>();
      for (const { facts } of this.facts.values()) byPeriod.set(facts.period, [...(byPeriod.get(facts.period) ?? []), facts.tenant]);
      const sums = await this.sums(byPeriod);
      const moved = [...this.facts.entries()].filter(([id, c]) => sums.get(id) !== c.sums).map(([id]) => id);
      if (moved.length > 0) await this.reload(moved);
    }
  }
}
