/**
 * HTML for the dashboard: escaping (every value a tenant or receipt supplied is untrusted), amounts
 * in a customer's terms (grouped, with the currency), the page frame with its CSS (no build step,
 * no JavaScript, readable on a phone), and the daily chart as SVG.
 */
import { chartModel } from '../pdf/chart.js';
import type { DailyCost } from '../pdf/invoice-document.js';

export function esc(v: unknown): string {
  return String(v ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A plain decimal amount ("-1234.50") grouped for reading ("−1,234.50 USD"). */
export function money(amount: string, currency: string): string {
  const neg = amount.startsWith('-');
  const [int, frac] = (neg ? amount.slice(1) : amount).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '−' : ''}${grouped}${frac === undefined ? '' : `.${frac}`} ${currency}`;
}

/** A whole quantity grouped for reading. */
export function count(n: bigint | number | string): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const CSS = `
:root{--ink:#1d2330;--muted:#5b6475;--line:#dfe3ea;--bg:#f6f7f9;--card:#fff;--accent:#2f6fdb;--warn:#b7791f;--bad:#c53030}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--ink);background:var(--bg)}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.75rem 1rem;background:var(--card);border-bottom:1px solid var(--line)}
header.top .brand{font-weight:600}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.25rem 0 1rem}
h2{font-size:1.1rem;margin:0 0 .75rem}
section.card{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:1rem;margin:0 0 1rem;overflow-x:auto}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:1rem;margin-bottom:1rem}
.figure{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:1rem}
.figure .label{color:var(--muted);font-size:.9rem}
.figure .value{font-size:1.4rem;font-weight:600;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:500;font-size:.9rem}
td.num,th.num{text-align:right;white-space:nowrap}
tfoot td{font-weight:600;border-bottom:none}
.muted{color:var(--muted)}
.nav a{margin-right:1rem}
a{color:var(--accent)}
meter{width:100%;height:1.25rem}
.bad{color:var(--bad)}
.status{display:inline-block;padding:0 .4rem;border-radius:.25rem;background:var(--bg);border:1px solid var(--line);font-size:.85rem}
form.inline{display:inline;margin:0}
button{font:inherit;padding:.35rem .8rem;border:1px solid var(--line);border-radius:.35rem;background:var(--card);cursor:pointer}
input[type=password]{font:inherit;padding:.5rem;width:100%;max-width:28rem;border:1px solid var(--line);border-radius:.35rem}
svg.chart{width:100%;height:auto;display:block}
svg.chart .bar{fill:var(--accent)}
svg.chart text{font-size:11px;fill:var(--muted)}
@media (max-width:40rem){main{padding:.5rem}.wide{display:none}th,td{padding:.35rem .3rem}.figure .value{font-size:1.2rem}h1{font-size:1.25rem}}
`;

export function page(title: string, body: string, options: { signedIn?: string } = {}): string {
  const who = options.signedIn === undefined
    ? ''
    : `<div><span class="muted">${esc(options.signedIn)}</span> <form class="inline" method="post" action="/logout"><button type="submit">Sign out</button></form></div>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header class="top"><div class="brand">Usage and billing</div>${who}</header>
<main>
${body}
</main>
</body>
</html>
`;
}

/** A bar per day of the period, tallest = the largest day; each bar's amount in its title (no script needed). */
export function dailyChart(period: string, series: readonly DailyCost[], currency: string): string {
  const model = chartModel(period, series);
  if (model.max === null) return '<p class="muted">No charges yet in this period.</p>';
  const width = 720;
  const height = 200;
  const left = 4;
  const bottom = 22;
  const top = 16;
  const slot = (width - left) / model.bars.length;
  const bars = model.bars.map((b, i) => {
    const h = ((height - bottom - top) * b.permille) / 1000;
    const x = left + i * slot + slot * 0.15;
    const y = height - bottom - h;
    const label = i === 0 || (i + 1) % 5 === 0 ? `<text x="${(x + slot * 0.35).toFixed(1)}" y="${height - 6}" text-anchor="middle">${Number(b.date.slice(8))}</text>` : '';
    return `<rect class="bar" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${h.toFixed(1)}" data-date="${esc(b.date)}" data-amount="${esc(b.amount)}"><title>${esc(b.date)}: ${esc(money(b.amount, currency))}</title></rect>${label}`;
  });
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="Charges per day, largest day ${esc(money(model.max, currency))}">
<text x="${left}" y="11">largest day ${esc(money(model.max, currency))}</text>
<line x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="#dfe3ea"/>
${bars.join('\n')}
</svg>`;
}
