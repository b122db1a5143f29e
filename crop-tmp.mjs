import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
const [file, x, y, w, h, out] = process.argv.slice(2);
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const p = await b.newPage({ viewport: { width: Number(w), height: Number(h) } });
const data = readFileSync(file).toString('base64');
await p.setContent(`<body style="margin:0;overflow:hidden"><img src="data:image/png;base64,${data}" style="position:absolute;left:-${x}px;top:-${y}px"></body>`);
await p.screenshot({ path: out });
await b.close();
