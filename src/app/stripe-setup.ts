/**
 * `stripe setup`: finds or creates billctl's Stripe billing meters (sum of `value`, customer
 * mapped by id) and stores their ids in the store's settings: GPU seconds, input and output tokens
 * and API calls always, and a meter per further token class of the field table (cached input,
 * cache write, reasoning) once the store holds a receipt with it. Idempotent: meters are
 * found by event name first, and a create carries an idempotency key derived from the event
 * name, so a second run (or a run after a crash) creates nothing new.
 */
import { isSeenOnlyMeter, meterColumn, type MeterNames } from '../config.js';
import { QUANTITIES } from '../domain/quantities.js';
import { UsageError } from '../errors.js';
import type { Store } from '../store/store.js';
import { METER_KEYS, meterMismatches, type StripeMeter as Meter, type MeterKey, type StripeClient } from '../stripe/client.js';

/** Settings keys: `stripe.meter.<key>` holds the meter id, `…event_name` the event name it was set up for. */
export const meterIdSetting = (key: MeterKey) => `stripe.meter.${key}`;
export const meterEventNameSetting = (key: MeterKey) => `stripe.meter.${key}.event_name`;
/** `true` or `false`: the Stripe mode (live or test) the stored meter ids belong to. */
export const LIVEMODE_SETTING = 'stripe.livemode';

/** "billctl GPU seconds", "billctl input tokens", "billctl cached input tokens", ..., "billctl API calls". */
export const METER_DISPLAY_NAMES = Object.fromEntries(
  METER_KEYS.map((k) => {
    const q = QUANTITIES.find((x) => x.meter?.key === k);
    return [k, `billctl ${q ? (q.line?.words ?? q.meter!.name) : 'API calls'}`];
  }),
) as Record<MeterKey, string>;

export type MeterAction = 'created' | 'found' | 'reactivated' | 'conflict' | 'would_create' | 'would_reactivate';

export interface MeterSetupResult {
  key: MeterKey;
  eventName: string;
  /** The meter id; null on a conflict or a dry run that would create one. */
  id: string | null;
  action: MeterAction;
  /** The id stored before, when it was a different one. */
  previousId: string | null;
  /** Why an existing meter cannot be used. */
  problem: string | null;
}

export interface MeterSetupReport {
  livemode: boolean;
  meters: MeterSetupResult[];
  /** Token class meters not set up: no receipt of the store has the class (and none was set up before). */
  notSeen: MeterKey[];
}

/** The meter to use for an event name among those listed: an active one first, then the newest. */
function pick(meters: Meter[], eventName: string): Meter | undefined {
  const named = meters.filter((m) => m.event_name === eventName);
  return named.find((m) => m.status === 'active') ?? named.sort((a, b) => b.created - a.created)[0];
}

export async function setupMeters(store: Store, client: StripeClient, names: MeterNames, options: { dryRun: boolean }): Promise<MeterSetupReport> {
  const existing = await client.listMeters();
  const results: MeterSetupResult[] = [];
  // A token class's meter once the store has seen the class (or once set up: it stays).
  const optional = METER_KEYS.filter(isSeenOnlyMeter);
  const seen = await store.ledger.seenColumns(optional.map((k) => meterColumn(k)!));
  const notSeen: MeterKey[] = [];
  for (const key of optional) {
    if (!seen.has(meterColumn(key)!) && (await store.getSetting(meterIdSetting(key))) === undefined) notSeen.push(key);
  }
  for (const key of METER_KEYS) {
    if (notSeen.includes(key)) continue;
    const eventName = names[key];
    const stored = await store.getSetting(meterIdSetting(key));
    const base = { key, eventName, previousId: null as string | null, problem: null as string | null };
    const found = pick(existing, eventName);
    let r: MeterSetupResult;
    if (found) {
      const problems = meterMismatches(found);
      if (problems.length > 0) {
        r = { ...base, id: null, action: 'conflict', problem: `meter ${found.id} for ${eventName} ${problems.join('; ')}` };
      } else if (found.status !== 'active') {
        r = options.dryRun
          ? { ...base, id: found.id, action: 'would_reactivate' }
          : { ...base, id: (await client.reactivateMeter(found.id)).id, action: 'reactivated' };
      } else r = { ...base, id: found.id, action: 'found' };
    } else if (options.dryRun) {
      r = { ...base, id: null, action: 'would_create' };
    } else {
      const created = await client.createMeter({ eventName, displayName: METER_DISPLAY_NAMES[key] });
      r = { ...base, id: created.id, action: 'created' };
    }
    if (stored !== undefined && r.id !== null && stored !== r.id) r.previousId = stored;
    results.push(r);
  }
  if (!options.dryRun) {
    await store.transaction(async () => {
      for (const r of results) {
        if (r.id === null || r.action === 'conflict') continue;
        await store.setSetting(meterIdSetting(r.key), r.id);
        await store.setSetting(meterEventNameSetting(r.key), r.eventName);
      }
      await store.setSetting(LIVEMODE_SETTING, String(client.livemode));
    });
  }
  return { livemode: client.livemode, meters: results, notSeen };
}

export interface StoredMeter {
  id: string;
  eventName: string;
}

/**
 * The meters set up: every meter of the first wave, and the token class meters `stripe setup` made
 * (a class the store had not seen has none: callers check).
 */
export type StoredMeters = Partial<Record<MeterKey, StoredMeter>> & Record<Exclude<MeterKey, 'cached_input_tokens' | 'cache_write_tokens' | 'reasoning_tokens'>, StoredMeter>;

/**
 * The meter ids `stripe setup` stored, checked against the config's event names and the key's
 * mode. For the push and reconcile: a usage error that says to run setup when anything is off.
 * A token class meter is optional (setup makes it once the store has seen the class).
 */
export async function storedMeters(store: Store, names: MeterNames, livemode: boolean): Promise<StoredMeters> {
  const out: Partial<Record<MeterKey, StoredMeter>> = {};
  const problems: string[] = [];
  const mode = await store.getSetting(LIVEMODE_SETTING);
  if (mode !== undefined && mode !== String(livemode)) {
    problems.push(`the meters were set up in ${mode === 'true' ? 'live' : 'test'} mode, but STRIPE_API_KEY is a ${livemode ? 'live' : 'test'} key`);
  }
  for (const key of METER_KEYS) {
    const id = await store.getSetting(meterIdSetting(key));
    const eventName = await store.getSetting(meterEventNameSetting(key));
    if ((id === undefined || eventName === undefined) && isSeenOnlyMeter(key)) continue;
    if (id === undefined || eventName === undefined) problems.push(`no meter stored for ${key}`);
    else if (eventName !== names[key]) problems.push(`${key}: the stored meter is for ${eventName}, the config says ${names[key]}`);
    else out[key] = { id, eventName };
  }
  if (problems.length > 0) {
    throw new UsageError(`the Stripe meters are not set up for this config: ${problems.join('; ')}`, 'Run: billctl stripe setup');
  }
  return out as StoredMeters;
}
