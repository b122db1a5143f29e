// A customer who asks for its month's call-detail file and downloads it over and over, in its own
// process: argv base token month seconds concurrency. Prints {requests, downloads, bytes, refused}
// (downloads: the files read to their end).
const [base, token, month, seconds, concurrency] = process.argv.slice(2);
const until = Date.now() + Number(seconds) * 1000;
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const totals = { requests: 0, downloads: 0, bytes: 0, refused: 0 };
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

async function loop() {
  while (Date.now() < until) {
    totals.requests++;
    const asked = await fetch(`${base}/api/v1/exports`, { method: 'POST', headers, body: JSON.stringify({ month, kind: 'calls', encoding: 'sjis' }) });
    const job = await asked.json();
    if (asked.status === 429) {
      totals.refused++;
      await pause(50);
      continue;
    }
    if (job.status !== 'ready') {
      await pause(200);
      continue;
    }
    totals.requests++;
    const file = await fetch(`${base}/api/v1/exports/${job.id}/file`, { headers });
    if (file.status !== 200) {
      totals.refused++;
      await file.arrayBuffer();
      await pause(50);
      continue;
    }
    // At the deadline a download in flight is given up, so that the load lasts what it says (a
    // 1M-call file takes 19 s at its contract's pace).
    const reader = file.body.getReader();
    let done = false;
    while (!done && Date.now() < until) {
      const next = await reader.read();
      done = next.done;
      if (next.value) totals.bytes += next.value.length;
    }
    if (done) totals.downloads++;
    else await reader.cancel();
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, loop));
process.stdout.write(JSON.stringify(totals));
