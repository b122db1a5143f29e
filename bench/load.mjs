// One autocannon run in its own process (so that the load generator does not share the server's
// event loop). argv: url connections seconds [authorization]; prints the result as JSON.
import autocannon from 'autocannon';

const [url, connections, seconds, authorization] = process.argv.slice(2);
const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  headers: authorization ? { authorization } : {},
});
process.stdout.write(
  JSON.stringify({
    requestsPerSecond: result.requests.average,
    p99: result.latency.p99,
    p50: result.latency.p50,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
  }),
);
