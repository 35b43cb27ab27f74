// The load generator of serve.bench.mjs, run as its own process (so it does not share the
// server's CPU time slices), at a fixed rate over a list of paths (each request takes the next).
// Prints { tool, requests, errors, timeouts, latency: { p50, p99, max } (ms) } as JSON on stdout.
//
// wrk (Debian's `wrk`, written in C) is used when it is installed: on a 2-core machine a
// JavaScript load generator spends as much CPU as the server it measures and its own event-loop
// stalls show up as the server's tail latency (autocannon measured a p99 of 7-12 ms for an
// endpoint that answers in 0.1 ms, and 9-42 ms for /healthz). wrk paces each connection with a
// fixed delay between requests, which gives the rate. Without wrk, autocannon (an npm
// dependency) does the same, and the figure says which tool measured it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, token, rate, seconds, connections, ...paths] = process.argv.slice(2);

function hasWrk() {
  return spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error === undefined;
}

function withWrk() {
  const c = Number(connections);
  // Each connection sends, waits for the answer, then waits `delay` ms: c / delay requests per ms.
  const delay = Math.max(1, Math.floor((c * 1000) / Number(rate)) - 1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'billctl-wrk-'));
  const script = path.join(dir, 'load.lua');
  fs.writeFileSync(script, `
local paths = { ${paths.map((p) => JSON.stringify(p)).join(', ')} }
local n = 0
wrk.headers["authorization"] = ${JSON.stringify(`Bearer ${token}`)}
function setup(thread) thread:set("offset", math.random(0, #paths - 1)) end
function request()
  n = n + 1
  return wrk.format("GET", paths[((n + (offset or 0)) % #paths) + 1])
end
function delay() return ${delay} end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"errors":%d,"timeouts":%d,"p50":%d,"p99":%d,"max":%d}\\n',
    summary.requests, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`);
  try {
    const r = spawnSync('wrk', ['-t1', `-c${c}`, `-d${seconds}s`, '--timeout', '5s', '-s', script, url], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`wrk exited ${r.status}: ${r.stderr}`);
    const line = r.stdout.trim().split('\n').pop();
    const j = JSON.parse(line);
    const ms = (us) => Math.round(us / 10) / 100;
    return { tool: 'wrk', requests: j.requests, errors: j.errors, timeouts: j.timeouts, latency: { p50: ms(j.p50), p99: ms(j.p99), max: ms(j.max) } };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function withAutocannon() {
  const { default: autocannon } = await import('autocannon');
  let next = 0;
  const result = await autocannon({
    url,
    connections: Number(connections),
    overallRate: Number(rate),
    duration: Number(seconds),
    headers: { authorization: `Bearer ${token}` },
    requests: [{ setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length] }) }],
  });
  return {
    tool: 'autocannon', requests: result.requests.total, errors: result.errors, timeouts: result.timeouts,
    latency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
  };
}

const out = process.env.BENCH_LOAD_TOOL !== 'autocannon' && hasWrk() ? withWrk() : await withAutocannon();
process.stdout.write(JSON.stringify(out));
