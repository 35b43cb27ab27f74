// The load generator of serve.bench.mjs, run as its own process (so it does not share the
// server's CPU time slices): autocannon at a fixed rate over a list of paths (each request takes
// the next). Prints autocannon's result as JSON on stdout.
import autocannon from 'autocannon';

const [url, token, rate, seconds, connections, ...paths] = process.argv.slice(2);
let next = 0;
const result = await autocannon({
  url,
  connections: Number(connections),
  overallRate: Number(rate),
  duration: Number(seconds),
  headers: { authorization: `Bearer ${token}` },
  requests: [{ setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length] }) }],
});
process.stdout.write(JSON.stringify({
  requests: result.requests.total, errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx,
  statusCodes: result.statusCodeStats, latency: result.latency,
}));
