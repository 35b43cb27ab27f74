// Issue 17: `billctl serve` under load from a second process (wrk, else autocannon) over a store of
// 2,000,000 receipts: the quota endpoint at 1,000 requests/s for 10 s (p99 <= 5 ms, 0 errors),
// the usage endpoint (p99 <= 50 ms), the server's peak RSS (<= 200 MB). /healthz at the same rate
// is the baseline: what the HTTP round trip alone costs on this machine in this run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, timeCommand } from './lib.mjs';
import { NOW, TENANTS, generatedStore } from './quota.bench.mjs';

function startServer(db) {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--db', db, '--format', 'json'], {
    env: { ...process.env, BILLCTL_NOW: NOW }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = new Promise((resolve, reject) => {
    let found = false;
    child.stderr.on('data', (d) => {
      err += d;
      if (found) return; // (matching the whole log at every chunk would load the machine under test)
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m) {
        found = true;
        resolve(m[1]);
      }
    });
    child.on('exit', () => reject(new Error(`serve exited: ${err}`)));
  });
  // Peak RSS: the kernel's high-water mark of the server process (VmHWM), read before it stops.
  const peakRssMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;
  // The server's own time per request, from its JSON request log (what the machine's load adds is the rest).
  const logged = (pathPart, since) => err.slice(since).split('\n').filter((l) => l.includes(pathPart)).map((l) => JSON.parse(l));
  const serverMs = (pathPart, since) => logged(pathPart, since).map((l) => l.ms);
  // The answers by status, from the same log (the load generator counts only what it can see).
  const statuses = (pathPart, since) => {
    const n = {};
    for (const l of logged(pathPart, since)) n[l.status] = (n[l.status] ?? 0) + 1;
    return n;
  };
  return { url, peakRssMb, logLength: () => err.length, serverMs, statuses, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
}

async function load(url, token, rate, seconds, paths) {
  const r = await timeCommand(process.execPath, [path.join(ROOT, 'bench', 'serve-load.mjs'), url, token, String(rate), String(seconds), '10', ...paths]);
  if (r.code !== 0) throw new Error(`load generator: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export async function run({ smoke, log }) {
  const count = smoke ? 20_000 : 2_000_000;
  const seconds = smoke ? 1 : 10;
  const db = await generatedStore(count, log);
  const made = await timeCommand(process.execPath, [BIN, 'serve', 'token', 'create', '--name', 'bench', '--db', db, '--format', 'json']);
  if (made.code !== 0) throw new Error(made.stderr);
  const token = JSON.parse(made.stdout).token;
  const server = startServer(db);
  const url = await server.url;
  const tenants = Array.from({ length: TENANTS }, (_, i) => `tenant-${String(i).padStart(4, '0')}`);
  const quotaPaths = tenants.map((t, i) => `/v1/tenants/${t}/quota?${['metric=api_calls', 'metric=tokens&units=2000', 'metric=gpu_hours&units=0.5'][i % 3]}`);
  const figures = [];
  let rss = 0;
  try {
    // Warm-up: every tenant's facts into memory once (what a running server has).
    await load(url, token, 200, 1, quotaPaths);
    const base = await load(url, token, 1000, seconds, ['/healthz']);
    let mark = server.logLength();
    const quota = await load(url, token, 1000, seconds, quotaPaths);
    const quotaServer = percentile(server.serverMs('/quota', mark), 99);
    const quotaStatuses = server.statuses('/quota', mark);
    const usagePaths = tenants.map((t) => `/v1/tenants/${t}/usage?period=2026-10`);
    // Warm-up: each tenant's month rated once into the store's usage cache (a running server's steady state).
    await load(url, token, 100, smoke ? 1 : 3, usagePaths);
    mark = server.logLength();
    const usage = await load(url, token, smoke ? 20 : 50, seconds, usagePaths);
    const usageServer = percentile(server.serverMs('/usage', mark), 99);
    const usageStatuses = server.statuses('/usage', mark);
    const show = (name, r) => log(`${name} (${r.tool}): ${r.requests} requests, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms, errors ${r.errors}, timeouts ${r.timeouts}`);
    show('/healthz (baseline)', base);
    show('quota', quota);
    show('usage', usage);
    // 402 is an answer (a refusal), not an error.
    const otherThan = (statuses, ok) => Object.entries(statuses).filter(([k]) => !ok.includes(k)).reduce((n, [, v]) => n + v, 0);
    const errs = quota.errors + quota.timeouts + otherThan(quotaStatuses, ['200', '402']);
    log(`quota answers: ${Object.entries(quotaStatuses).map(([k, v]) => `${v} × ${k}`).join(', ')}`);
    figures.push({ name: '/healthz at 1,000 req/s, p99 ms (baseline: the HTTP round trip)', value: base.latency.p99 });
    figures.push({ name: 'load generator', value: quota.tool });
    figures.push({ name: 'quota endpoint at 1,000 req/s, p99 ms', value: quota.latency.p99, goal: '<= 5', ok: quota.latency.p99 <= 5 });
    figures.push({ name: 'quota endpoint p99 / healthz p99', value: (quota.latency.p99 / Math.max(base.latency.p99, 0.01)).toFixed(2) });
    figures.push({ name: 'quota endpoint, server time per request (its log), p99 ms', value: quotaServer });
    figures.push({ name: 'quota endpoint errors (errors + timeouts + non-2xx)', value: errs, goal: '0', ok: errs === 0 });
    figures.push({ name: 'quota endpoint requests in the run', value: quota.requests });
    figures.push({ name: 'usage endpoint, p99 ms', value: usage.latency.p99, goal: '<= 50', ok: usage.latency.p99 <= 50 && usage.errors + usage.timeouts + otherThan(usageStatuses, ['200']) === 0 });
    figures.push({ name: 'usage endpoint, server time per request (its log), p99 ms', value: usageServer });
    rss = server.peakRssMb();
  } finally {
    await server.stop();
  }
  figures.push({ name: 'server peak RSS, MB', value: rss.toFixed(0), goal: '<= 200', ok: rss <= 200 });
  return figures;
}
