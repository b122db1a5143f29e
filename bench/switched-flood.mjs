// The noisy customer of row 3d, switched on and off on a clock shared with the measured client
// (bench/steady.mjs `timed`): one process for the whole row, so that no load generator starts or
// warms up inside a measured period, and quiet and noisy periods alternate every few seconds, so
// that the machine's own drift (the p99 of light traffic here moves 2–10× between 10 s loads with
// nothing else running) falls on both alike.
// argv: base token month listingPath startEpochMs periodMs seconds listingConnections downloadLoops
// From startEpochMs the periods alternate quiet (even: 0, 2, …) and noisy (odd); in a noisy period
// the contract hammers the listing at listingPath over listingConnections connections and
// downloads its month's call-detail file in downloadLoops loops (asks for it, downloads it; a
// download still going when its period ends is dropped, as are the listing's requests in flight).
// Prints {listing, listingRefused, downloads, bytes, refused, noisySeconds}.
const [base, token, month, listingPath, startArg, periodArg, seconds, connections, loops] = process.argv.slice(2);
const start = Number(startArg);
const period = Number(periodArg);
const end = start + Number(seconds) * 1000;
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const totals = { listing: 0, listingRefused: 0, downloads: 0, bytes: 0, refused: 0, noisySeconds: 0 };

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const periodAt = (t) => Math.floor((t - start) / period);
const noisy = (t) => t >= start && periodAt(t) % 2 === 1;

/** Waits for the next noisy period; its end (epoch ms), or undefined once the row is over. */
async function nextNoisyPeriod() {
  for (;;) {
    const t = now();
    if (t >= end) return undefined;
    if (noisy(t)) return Math.min(end, start + (periodAt(t) + 1) * period);
    await sleep(start + (Math.max(periodAt(t), -1) + 1) * period - t);
  }
}

/** Runs `work` with a signal that aborts at the end of the noisy period, period after period. */
async function inNoisyPeriods(work) {
  for (let until = await nextNoisyPeriod(); until !== undefined; until = await nextNoisyPeriod()) {
    const signal = AbortSignal.timeout(Math.max(1, Math.ceil(until - now())));
    while (now() < until) {
      try {
        await work(signal);
      } catch {
        // aborted at the period's end (or the server refused the connection): on to the next
      }
    }
  }
}

async function listingLoop() {
  await inNoisyPeriods(async (signal) => {
    const res = await fetch(`${base}${listingPath}`, { headers, signal });
    await res.arrayBuffer();
    if (res.ok) totals.listing++;
    else totals.listingRefused++;
  });
}

async function downloadLoop() {
  await inNoisyPeriods(async (signal) => {
    const asked = await fetch(`${base}/api/v1/exports`, { method: 'POST', headers, body: JSON.stringify({ month, kind: 'calls', encoding: 'sjis' }), signal });
    const job = await asked.json();
    if (asked.status === 429 || job.status !== 'ready') {
      if (asked.status === 429) totals.refused++;
      await sleep(200);
      return;
    }
    const file = await fetch(`${base}/api/v1/exports/${job.id}/file`, { headers, signal });
    if (file.status !== 200) {
      totals.refused++;
      await file.arrayBuffer();
      await sleep(50);
      return;
    }
    const reader = file.body.getReader();
    for (;;) {
      const next = await reader.read();
      if (next.value) totals.bytes += next.value.length;
      if (next.done) break;
    }
    totals.downloads++;
  });
}

for (let p = 1; start + p * period < end; p += 2) totals.noisySeconds += (Math.min(end, start + (p + 1) * period) - (start + p * period)) / 1000;
await Promise.all([...Array.from({ length: Number(connections) }, listingLoop), ...Array.from({ length: Number(loops) }, downloadLoop)]);
process.stdout.write(JSON.stringify(totals));
