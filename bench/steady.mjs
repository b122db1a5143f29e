// Customers at work, not a flood: `rate` requests a second in all over `connections` keep-alive
// connections, each sent at its planned time whatever the answers before it did (an open loop), its
// latency counted from when it was handed over, so that a request that waited for a free connection
// counts its wait (no coordinated omission), in microseconds rather than autocannon's whole
// milliseconds, so that a p99 of 1.4 ms and one of 1.9 ms are told apart.
// argv: url connections rate seconds [authorization[,authorization…]]: several are taken in turn,
// one customer each; a 6th argument `samples` adds every latency to the JSON (to pool several
// loads), `timed` every request's [when it was sent (epoch ms), latency] (to tell the requests sent
// in one period of a switched load from those of another: bench/switched-flood.mjs). Prints the
// result as JSON (ms figures).
import http from 'node:http';

const [url, connections, rate, seconds, authorization, samples] = process.argv.slice(2);
// fifo: every connection in turn, none left idle until the server's keep-alive timeout closes it as a request is sent on it (ECONNRESET)
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(connections), scheduling: 'fifo' });
const interval = 1000 / Number(rate);
const count = Math.floor((Number(seconds) * 1000) / interval);
const latencies = [];
const timed = [];
let non2xx = 0;
let errors = 0;

const customers = authorization ? authorization.split(',') : [];

function send(i) {
  return new Promise((resolve) => {
    const from = performance.now();
    const sentAt = performance.timeOrigin + from;
    const headers = customers.length > 0 ? { authorization: customers[i % customers.length] } : {};
    const req = http.get(url, { agent, headers }, (res) => {
      if (res.statusCode < 200 || res.statusCode >= 300) non2xx++;
      res.resume();
      res.on('end', () => {
        const latency = performance.now() - from;
        latencies.push(latency);
        if (samples === 'timed') timed.push([Math.round(sentAt * 100) / 100, Math.round(latency * 100) / 100]);
        resolve();
      });
    });
    req.on('error', (e) => {
      errors++;
      if (process.env.STEADY_ERRORS) process.stderr.write(`[steady] ${e.code ?? ''} ${e.message}\n`);
      resolve();
    });
  });
}

const started = performance.now();
const sent = [];
for (let i = 0; i < count; i++) {
  const planned = started + i * interval;
  const wait = planned - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  sent.push(send(i));
}
await Promise.all(sent);
const elapsed = (performance.now() - started) / 1000;
agent.destroy();
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
const ms = (v) => Math.round(v * 100) / 100;
process.stdout.write(
  JSON.stringify({
    requestsPerSecond: latencies.length / elapsed,
    p50: ms(at(0.5)),
    p99: ms(at(0.99)),
    max: ms(latencies.at(-1) ?? Number.NaN),
    non2xx,
    errors,
    total: latencies.length,
    ...(samples === 'samples' ? { latencies: latencies.map(ms) } : {}),
    ...(samples === 'timed' ? { timed } : {}),
  }),
);
