// Issue 2: start-up time of `billctl --version` as a ratio to `node -e 0` (goal <= 2.5x).
import { BIN, medianTime, ratio } from './lib.mjs';

export async function run({ smoke, log }) {
  const n = smoke ? 3 : 21;
  // Interleave the two so drift in machine load hits both alike.
  const base = [];
  const ours = [];
  for (let i = 0; i < n; i++) {
    base.push(await medianTime(1, process.execPath, ['-e', '0']));
    ours.push(await medianTime(1, process.execPath, [BIN, '--version']));
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const b = med(base);
  const o = med(ours);
  log(`node -e 0: ${b.toFixed(1)} ms, billctl --version: ${o.toFixed(1)} ms (medians of ${n})`);
  const r = ratio(o, b);
  return [{ name: 'billctl --version / node -e 0 (wall time)', value: `${r}x`, goal: '<= 2.5x', ok: r <= 2.5 }];
}
