// The self-page in a real browser: Debian's Chromium driven by playwright-core against the server
// `npm start` runs (cli/commands/serve.ts prepareServer, demo loaded) on a fresh PGlite store and a
// random localhost port, walked screen by screen as a new customer would, against the manual's
// fields, units and totals.
//
// Every screen is photographed into docs/screens/ (the README shows the main ones): the clock and the
// demo are fixed, so the pictures change only when a screen does. Japanese needs a CJK font in the
// browser's system (Debian: fonts-noto-cjk, which .ci/run installs with chromium).
//
// Never skipped: without /usr/bin/chromium the suite fails and says how to install it.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import iconv from 'iconv-lite';
import pino from 'pino';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareServer, type PreparedServer } from '../cli/commands/serve.ts';
import { DEMO_DIAL_IN_NUMBER, DEMO_FREECALL_NUMBERS, DEMO_LINES, demoLateData, demoTelegramLines } from '../cli/demo.ts';
import { apiMigrations } from '../api/migrations.ts';
import { setInitialCredentials } from '../projections/credentials.ts';
import { ExportWorker, requestExport } from '../api/exports.ts';
import { DEFAULT_SUPPORT_DESK } from '../api/portal/support.tsx';
import { buildCsv } from '../api/wiring.ts';
import { handleContractCommand } from '../domain/contract-service.ts';
import { Money } from '../domain/money.ts';
import { projectionMigrations } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import { B, recordCalls, row, type Fixture } from './api.support.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENS = new URL('../docs/screens/', import.meta.url);
/** Monday 16 November 2026, 12:00 in Tokyo: mid-month (no export blackout); the window is 2026-11 (provisional) … 2026-07. */
const NOW = new Date('2026-11-16T03:00:00Z');
const CURRENT = '2026-11';
/** The month before: the representative number since its 16th, two telegrams. */
const PREVIOUS = '2026-10';
const DEMO_PASSWORD = 'demo2026';
const NEW_PASSWORD = 'Kddi2026';
const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 360, height: 740 };

/** "1,928.50円" or "1,928円" → Money (the page's figures, read back exactly). */
const yen = (text: string): Money => Money.parse(text.trim().replace(/円$/, '').replace(/,/g, ''));

describe('the self-page in Chromium', () => {
  let db: TestDatabase;
  let server: PreparedServer;
  let http: ServerType;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let worker: ExportWorker;
  let token: string;

  const shot = async (name: string, p: Page = page) => {
    await p.screenshot({ path: new URL(`${name}.png`, SCREENS).pathname, fullPage: true, animations: 'disabled', caret: 'hide' });
  };
  const mainText = async (p: Page = page) => (await p.locator('main').innerText()).replace(/\s+/g, ' ');
  const api = async <T,>(path: string): Promise<T> => (await (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })).json()) as T;
  const rowOf = (label: string, scope: Locator | Page = page) => scope.locator('tr').filter({ has: page.locator('th', { hasText: new RegExp(`^${label.replace(/[()]/g, '\\$&')}$`) }) }).locator('td');
  const menu = () => page.getByRole('navigation', { name: 'メニュー' });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}; the browser tests need it: apt-get update && apt-get install -y chromium fonts-noto-cjk (.ci/run installs them when missing)`);
    }
    await mkdir(SCREENS, { recursive: true });
    db = await testTargets.find((t) => t.name === 'PGlite')!.open([projectionMigrations, apiMigrations]);
    // The test builds the files itself (worker.runOnce), so that it sees 作成中 first: the built-in
    // worker polls once an hour here, since a slow run reaching the CSV step after its first minute
    // found the file already built (seen under load).
    server = await prepareServer(db, { clock: () => NOW, logger: pino({ level: 'silent' }), exportPollMs: 3_600_000, demoPassword: DEMO_PASSWORD });
    await server.start();
    worker = new ExportWorker({ db: db.database.db, queries: createQueries(db.database, db.store), build: buildCsv, clock: () => NOW });
    http = serve({ fetch: server.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      http.once('listening', resolve);
      http.once('error', reject);
    });
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const session = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ selfId: 'd123456789', password: DEMO_PASSWORD }) });
    token = ((await session.json()) as { token: string }).token;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--font-render-hinting=none'],
    });
    context = await browser.newContext({ baseURL: base, locale: 'ja-JP', timezoneId: 'Asia/Tokyo', viewport: DESKTOP, deviceScaleFactor: 1, acceptDownloads: true });
    page = await context.newPage();
  }, 180_000); // the demo, its catch-up and a browser start: over a minute on a loaded 2-core machine

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    if (http) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      if ('closeAllConnections' in http) http.closeAllConnections();
      await closed;
    }
    await server?.stop();
    await db?.cleanup();
  });

  it('ログイン: names the support desk, refuses a wrong password, and logs in by keyboard alone (HttpOnly, SameSite=Lax cookie)', async () => {
    await page.goto('/');
    await expect.poll(() => page.url()).toBe(`${base}/login`);
    const text = await mainText();
    expect(text).toContain('セルフページについてのお問い合わせ先');
    expect(text).toContain(`電話番号 ${DEFAULT_SUPPORT_DESK.phone}`);
    expect(text).toContain(`受付時間 ${DEFAULT_SUPPORT_DESK.hours}`);
    await shot('01-login');
    await page.getByLabel('セルフID').fill('d123456789');
    await page.getByLabel('セルフパスワード').fill('wrong1');
    await page.getByRole('button', { name: 'ログイン' }).click();
    await expect.poll(() => page.locator('#login-error').innerText()).toContain('セルフIDまたはセルフパスワードが正しくありません。');
    await shot('02-login-wrong');

    // Keyboard only: the self ID is focused on load; Tab to the password; Enter submits.
    await page.goto('/login');
    // The self ID has the focus on load (autofocus); on a busy machine the browser may apply it a little after.
    await expect.poll(() => page.evaluate<string | undefined>('document.activeElement?.id'), { timeout: 10_000 }).toBe('selfId');
    await page.keyboard.type('d123456789');
    await page.keyboard.press('Tab');
    await page.keyboard.type(DEMO_PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/menu`);
    const session = (await context.cookies()).find((c) => c.name === 'ledger_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' });
    expect(page.url()).not.toContain(session.value);
  });

  it('メニュー (手順2 ②): the menu and the current contract, with the manual’s units; メニュー named once on the left; the support desk in the footer', async () => {
    expect(await page.locator('h1').innerText()).toBe('メニュー');
    const nav = menu();
    for (const item of ['メニュー', 'ご契約内容の確認', 'パスワードの変更', 'ご利用料金の確認']) await expect.poll(() => nav.getByRole('link', { name: item, exact: true }).count()).toBe(1);
    expect(await nav.getByRole('button', { name: 'ログアウト' }).count()).toBe(1);
    expect((await nav.innerText()).match(/メニュー/g)).toHaveLength(1);
    expect((await nav.boundingBox())!.x).toBeLessThan((await page.locator('main').boundingBox())!.x);

    const contract = await api<{ numberCount: number; channels: number; dialInNumberCount: number }>('/api/v1/contract');
    expect(await rowOf('契約コード').innerText()).toBe('d123456789');
    expect(await rowOf('契約電話番号数').innerText()).toMatch(new RegExp(`^${contract.numberCount}件`));
    expect(await rowOf('チャンネル数/回線数').innerText()).toBe(`${contract.channels}チャンネル/回線`);
    expect(await rowOf('追加ダイヤルイン番号数').innerText()).toBe(`${contract.dialInNumberCount}番号`);
    expect(contract.dialInNumberCount).toBe(DEMO_LINES.length);
    expect(await rowOf('特定番号通知サービス (拠点代表番号機能)').innerText()).toBe(`申込済（通知電話番号 ${DEMO_DIAL_IN_NUMBER}）`);
    const footer = await page.locator('footer').innerText();
    expect(footer).toContain('セルフページについてのお問い合わせ先');
    expect(footer).toContain(DEFAULT_SUPPORT_DESK.name);
    await shot('03-menu');
  });

  it('ご契約内容の確認 → 契約電話番号詳細 and フリーコール(選択)電話番号詳細, one number a screen with NEXT / BACK', async () => {
    await menu().getByRole('link', { name: 'ご契約内容の確認' }).click();
    await page.waitForURL(`${base}/contract`);
    expect(await rowOf('フリーコール(選択)番号通知サービス').innerText()).toBe('申込済');
    expect(await rowOf('一括転送サービス').innerText()).toBe('未申込');
    expect(await rowOf('ご利用開始日').innerText()).toBe('2010年11月15日');
    await shot('04-contract');

    await page.getByRole('link', { name: '契約電話番号詳細を表示' }).click();
    await page.waitForURL(`${base}/contract/numbers`);
    const seen: string[] = [];
    for (let i = 0; i < DEMO_LINES.length; i++) {
      const line = DEMO_LINES[i]!;
      expect(await rowOf('追加ダイヤルイン番号').innerText()).toBe(line.dialInNumber);
      expect(await rowOf('au携帯電話番号').innerText()).toBe(line.auMobileNumber);
      expect(await rowOf('基本電話番号').innerText()).toBe('0120222333');
      expect(await page.locator('.pager .position').innerText()).toBe(`${i + 1} / ${DEMO_LINES.length}`);
      seen.push(line.dialInNumber);
      if (i === 0) {
        expect(await page.locator('.pager a[rel="prev"]').count()).toBe(0);
        await shot('05-contract-numbers');
      }
      if (i < DEMO_LINES.length - 1) {
        await page.getByRole('link', { name: 'NEXT' }).click();
        await page.waitForURL(new RegExp(`/contract/numbers\\?page=${i + 2}$`));
      }
    }
    expect(await page.locator('.pager a[rel="next"]').count()).toBe(0);
    await shot('06-contract-numbers-last');
    await page.getByRole('link', { name: 'BACK' }).click();
    expect(await rowOf('追加ダイヤルイン番号').innerText()).toBe(DEMO_LINES[DEMO_LINES.length - 2]!.dialInNumber);

    await page.getByRole('link', { name: 'ご契約内容の確認へ戻る' }).click();
    await page.getByRole('link', { name: 'フリーコール(選択)電話番号詳細を表示' }).click();
    await page.waitForURL(`${base}/contract/freecall`);
    for (let i = 0; i < DEMO_FREECALL_NUMBERS.length; i++) {
      expect(await rowOf('フリーコール(選択)電話番号').innerText()).toBe(DEMO_FREECALL_NUMBERS[i]);
      if (i === 0) await shot('07-freecall-numbers');
      if (i < DEMO_FREECALL_NUMBERS.length - 1) await page.getByRole('link', { name: 'NEXT' }).click();
    }
  });

  it('ご利用料金の確認: the manual’s columns in order, whole yen as the API, 電報明細 with its total, one line of actions a cell, no header broken mid-word at 1280 px', async () => {
    await menu().getByRole('link', { name: 'ご利用料金の確認' }).click();
    await page.waitForURL(`${base}/charges`);
    const heads = await page.locator('table.monthly thead th').allInnerTexts();
    expect(heads.map((h) => h.replace(/\s+/g, ''))).toEqual(['ご利用年月', 'ご利用料金合計', '国内通話', '国際通話', '携帯/PHS通話', '電話番号別ご利用料金', '通話明細', '電報明細', 'ご利用期間']);
    const months = await page.locator('tr[data-month]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-month')));
    expect(months).toEqual(['2026-11', '2026-10', '2026-09', '2026-08', '2026-07']);

    const charges = await api<{ months: { month: string; yen: Record<string, string>; telegrams: string }[] }>('/api/v1/charges');
    for (const m of charges.months) {
      const cells = await page.locator(`tr[data-month="${m.month}"] td.num`).allInnerTexts();
      expect(cells.map((c) => c.replace(/,/g, ''))).toEqual([`${m.yen.total}円`, `${m.yen.domestic}円`, `${m.yen.international}円`, `${m.yen.mobile}円`]);
      expect(await page.locator(`tr[data-month="${m.month}"] td[data-label="電報明細"] .amount`).innerText()).toBe(`${Money.parse(m.telegrams).toDisplayWholeYen()}円`);
    }
    // The current month carries the previous (closed) month's late telegram (前月以前分の調整).
    expect(charges.months.filter((m) => m.telegrams !== '0.00').map((m) => m.month)).toEqual([CURRENT, PREVIOUS, '2026-08']);
    expect(await page.locator(`tr[data-month="${PREVIOUS}"] td.period`).innerText()).toBe('【10月01日～10月31日】');

    await shot('08-charges');

    // Layout at 1280 px: nothing scrolls sideways, every cell's buttons sit on one line, and a header
    // breaks only where the markup allows it (between words, at a <wbr>), never inside a text run.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(DESKTOP.width);
    const region = page.getByRole('region', { name: '月別ご利用料金' });
    expect(await region.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    // A cell's actions wrapped when one of them starts below the bottom of the first.
    const wrapped = await page.locator('table.monthly .buttons').evaluateAll((groups) =>
      groups.map((g) => {
        const [first, ...rest] = [...g.children].map((b) => b.getBoundingClientRect());
        return rest.some((b) => b.top >= first!.bottom);
      }),
    );
    expect(wrapped.length).toBe(15);
    expect(wrapped.filter(Boolean)).toEqual([]);
    const brokenInsideWords = await page.evaluate<string[]>(`[...document.querySelectorAll('table.monthly thead th')].flatMap((th) => {
      const out = [];
      const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent;
        const tops = new Set();
        for (let i = 0; i < text.length; i++) {
          if (/\\s/.test(text[i])) continue;
          const range = document.createRange();
          range.setStart(node, i);
          range.setEnd(node, i + 1);
          tops.add(Math.round(range.getBoundingClientRect().top));
        }
        if (tops.size > 1) out.push(text);
      }
      return out;
    })`);
    expect(brokenInsideWords).toEqual([]);
    expect(await mainText()).toContain('電報料金はご利用料金合計に含まれていません');
  });

  it('電話番号別ご利用料金: every number of the month in 2-decimal 円, adding up to the month', async () => {
    await page.locator(`tr[data-month="${PREVIOUS}"] td[data-label="電話番号別ご利用料金"]`).getByRole('link', { name: '画面に表示' }).click();
    await page.waitForURL(`${base}/charges/${PREVIOUS}/numbers`);
    const numbers = await page.locator('tr[data-number]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-number')!));
    // The representative number from the 16th: before it, every line under its own number.
    expect([...numbers].sort()).toEqual(DEMO_LINES.map((l) => l.dialInNumber).sort());
    let sum = Money.zero;
    for (const n of numbers) {
      const amounts = await page.locator(`tr[data-number="${n}"] td.num`).allInnerTexts();
      expect(amounts).toHaveLength(6);
      for (const a of amounts) expect(a).toMatch(/^\d{1,3}(,\d{3})*\.\d{2}円/);
      sum = sum.plus(yen(amounts[0]!.replace(/表示$/, '')));
    }
    const month = (await api<{ months: { month: string; normal: { total: string } }[] }>('/api/v1/charges')).months.find((m) => m.month === PREVIOUS)!;
    expect(sum.toString()).toBe(month.normal.total);
    await shot('09-numbers');
  });

  it('通話明細 「画面に表示」 lets the customer choose the number; ご利用金額合計 is the whole listing’s, 10 a page, equal to the calls on every page', async () => {
    await page.goto('/charges');
    await page.locator(`tr[data-month="${PREVIOUS}"] td[data-label="通話明細"]`).getByRole('link', { name: '画面に表示' }).click();
    await page.waitForURL(`${base}/charges/${PREVIOUS}/calls`);
    const choices = await page.getByLabel('ご利用電話番号').locator('option').evaluateAll((os) => os.map((o) => o.getAttribute('value')));
    expect([...choices].sort()).toEqual(DEMO_LINES.map((l) => l.dialInNumber).sort());
    await shot('10-calls-choose');
    await page.getByLabel('ご利用電話番号').selectOption(DEMO_DIAL_IN_NUMBER);
    await page.getByRole('button', { name: '画面に表示' }).click();
    await page.waitForURL(`${base}/charges/${PREVIOUS}/numbers/${DEMO_DIAL_IN_NUMBER}/calls`);

    const summary = await mainText();
    expect(summary).toContain('10件/ページまで表示します');
    const total = Number(/通話件数 全(\d+)件/.exec(summary)![1]);
    const shownSum = yen(/ご利用金額合計 ([\d,.]+円)/.exec(summary)![1]!);
    expect(total).toBeGreaterThan(30);
    expect(await page.locator('main table.stacked thead th').allInnerTexts()).toEqual(['番号', '通話開始日時', '通話先電話番号', '地域名', '通話時間', '通話料金']);
    await shot('11-calls');

    // Every page, by its "next" link: 10 rows a page, the same head, and the calls add up to it.
    const calls: string[][] = [];
    for (let p = 1; ; p++) {
      const rows = page.locator('main table.stacked tbody tr');
      const cells = await rows.evaluateAll((rs) => rs.map((r) => [...r.querySelectorAll('th, td')].map((c) => (c.textContent ?? '').replace(/\s+/g, ' ').trim())));
      expect(cells.length, `page ${p}`).toBe(Math.min(10, total - calls.length));
      expect(await page.locator('main').innerText()).toContain(`ご利用金額合計`);
      expect(yen(/ご利用金額合計\s+([\d,.]+円)/.exec(await page.locator('main').innerText())![1]!).toString(), `page ${p}`).toBe(shownSum.toString());
      calls.push(...cells);
      if (p === 2) await shot('12-calls-page2');
      const next = page.locator('main nav.pager a[rel="next"]');
      if ((await next.count()) === 0) break;
      await next.click();
      await page.waitForLoadState();
    }
    expect(calls).toHaveLength(total);
    expect(calls.map((c) => Number(c[0]))).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(Money.sum(calls.map((c) => yen(c[5]!))).toString()).toBe(shownSum.toString());
    const listing = await api<{ total: number; sum: string }>(`/api/v1/charges/${PREVIOUS}/numbers/${DEMO_DIAL_IN_NUMBER}/calls`);
    expect([listing.total, listing.sum]).toEqual([total, shownSum.toString()]);

    // The manual's formats and the demo's kinds of call.
    for (const c of calls) {
      expect(c[1]).toMatch(/^\d{2}\/\d{2}\([月火水木金土日]\)\d{2}時\d{2}分\d{2}\.\d秒$/);
      expect(c[4]).toMatch(/^(\d+時間 \d{2}分 \d{2}\.\d秒|\d+件)$/);
      expect(c[5]).toMatch(/^\d{1,3}(,\d{3})*\.\d{2}円$/);
    }
    expect(calls.filter((c) => c[4] === '1件').map((c) => c[2])).toEqual(['104']);
    expect(new Set(calls.filter((c) => c[3] === 'IP電話').map((c) => c[5]))).toEqual(new Set(['8.00円']));
    // Started at 23:58:30 on 30 September, ended in October: billed (and listed) in October.
    expect(calls.filter((c) => c[1]!.startsWith('09/30')).map((c) => c[1])).toEqual(['09/30(水)23時58分30.0秒']);

    // Free calls (au 定額) are listed at their normal charge; the bill has them at 0.
    await page.goto(`/charges/${PREVIOUS}/numbers/${DEMO_DIAL_IN_NUMBER}/calls?category=au`);
    const au = yen(/ご利用金額合計 ([\d,.]+円)/.exec(await mainText())![1]!);
    expect(au.isZero()).toBe(false);
    const numbersApi = await api<{ items: { number: string; au: string; billed: { au: string } }[] }>(`/api/v1/charges/${PREVIOUS}/numbers`);
    const main = numbersApi.items.find((n) => n.number === DEMO_DIAL_IN_NUMBER)!;
    expect([main.au, main.billed.au]).toEqual([au.toString(), '0.00']);
  });

  it('前月以前分の調整: the current month lists the previous month’s late correction, void and call, marked, under a note', async () => {
    await page.goto(`/charges/${CURRENT}/numbers/${DEMO_DIAL_IN_NUMBER}/calls`);
    const marked = page.locator('main table.stacked tbody tr.adjustment');
    const cells = await marked.evaluateAll((rs) => rs.map((r) => [...r.querySelectorAll('th, td')].map((c) => (c.textContent ?? '').replace(/\s+/g, ' ').trim())));
    expect(cells).toHaveLength(3);
    const what = cells.map((c) => /^前月以前分の調整\s*2026年10月分・(訂正|取消|遅れて届いた通話)\s*10\/\d{2}\([月火水木金土日]\)/.exec(c[1]!)?.[1]);
    expect([...what].sort()).toEqual(['取消', '訂正', '遅れて届いた通話']);
    expect(cells.find((c) => c[1]!.includes('取消'))![5]).toMatch(/^-\d+\.\d{2}円$/);
    const note = page.locator('main .adjustment-note');
    await expect(note.isVisible()).resolves.toBe(true);
    expect(await note.innerText()).toContain('すでにご請求済みの月のご利用分です');
    // The note comes before the listing; the marked rows are the month's first (October's dates).
    expect(await page.locator('main').evaluate((m) => m.querySelector('.adjustment-note')!.compareDocumentPosition(m.querySelector('table.stacked tbody')!) & 4 /* DOCUMENT_POSITION_FOLLOWING */)).toBeTruthy();
    const api_ = await api<{ items: { adjustment: { kind: string; month: string } | null }[] }>(`/api/v1/charges/${CURRENT}/numbers/${DEMO_DIAL_IN_NUMBER}/calls`);
    expect(api_.items.slice(0, 3).map((i) => i.adjustment?.month)).toEqual([PREVIOUS, PREVIOUS, PREVIOUS]);
    await shot('29-calls-adjustments');
    await page.setViewportSize(MOBILE);
    await shot('30-mobile-calls-adjustments');
    await page.setViewportSize(DESKTOP);

    // 電報明細 of the current month: the previous month's late telegram, marked, under its note.
    await page.goto(`/charges/${CURRENT}/telegrams`);
    const late = demoLateData(NOW).lateTelegrams;
    const rows = await page.locator('main table.stacked tbody tr').evaluateAll((rs) => rs.map((r) => [r.className, ...[...r.querySelectorAll('td')].map((c) => (c.textContent ?? '').replace(/\s+/g, ' ').trim())]));
    expect(rows.map((r) => [r[0], r[1]])).toEqual(late.map((t) => ['adjustment', t.receiptNumber]));
    expect(rows[0]![2]).toMatch(/^前月以前分の調整\s*2026年10月分・遅れて届いた電報\s*2026年10月28日$/);
    expect(await page.locator('main .adjustment-note').innerText()).toContain('すでにご請求済みの月のご利用分です');
    await shot('31-telegrams-adjustments');
  });

  it('電報明細: the month’s telegrams with their total, apart from the call charges', async () => {
    await page.goto('/charges');
    await page.getByRole('link', { name: `${PREVIOUS.slice(0, 4)}年${PREVIOUS.slice(5)}月分 電報明細を画面に表示` }).click();
    await page.waitForURL(`${base}/charges/${PREVIOUS}/telegrams`);
    const want = demoTelegramLines(NOW).filter((t) => t.date.startsWith(PREVIOUS));
    const rows = await page.locator('main table.stacked tbody tr').evaluateAll((rs) => rs.map((r) => [...r.querySelectorAll('td')].map((c) => (c.textContent ?? '').replace(/\s+/g, ' ').trim())));
    expect(await page.locator('main table.stacked thead th').allInnerTexts()).toEqual(['受付番号', 'ご利用日', 'あて先', '種類', '料金']);
    expect(rows.map((r) => [r[0], r[2]])).toEqual(want.map((t) => [t.receiptNumber, t.destination]));
    const total = Money.sum(want.map((t) => Money.parse(t.charge)));
    expect(rows.reduce((acc, r) => acc.plus(yen(r[4]!)), Money.zero).toString()).toBe(total.toString());
    expect(await rowOf('電報料金合計').innerText()).toBe(`${total.toDisplay()}円`);
    await shot('13-telegrams');
  });

  it('CSV: 作成 → 作成受付の確認 → 作成受付完了 → 作成中 in the table → ダウンロード with 保存期限, a Shift_JIS file', async () => {
    await page.goto('/charges');
    const cell = () => page.locator(`tr[data-month="${PREVIOUS}"] td[data-label="通話明細"]`);
    expect(await cell().getByRole('link').allInnerTexts()).toEqual(['画面に表示', '作成']);
    await cell().getByRole('link', { name: '作成', exact: true }).click();
    await page.waitForURL(`${base}/charges/${PREVIOUS}/exports/new?kind=calls`);
    expect(await page.getByLabel('文字コード').inputValue()).toBe('sjis');
    await shot('14-export-confirm');

    await page.getByRole('button', { name: '明細作成' }).click();
    await expect.poll(() => page.locator('h1').innerText()).toBe('作成受付完了');
    await shot('15-export-accepted');
    await page.waitForURL(/\/exports\/[0-9a-f-]{36}$/, { timeout: 15_000 });
    expect(await mainText()).toContain('ただいま作成中です');
    await shot('16-export-pending');

    await page.goto('/charges');
    expect(await cell().getByRole('link').allInnerTexts()).toEqual(['画面に表示', '作成中']);
    await shot('17-charges-file-pending');

    while (await worker.runOnce());
    await page.reload();
    expect(await cell().getByRole('link').allInnerTexts()).toEqual(['画面に表示', 'ダウンロード']);
    expect(await cell().locator('.expiry').innerText()).toBe('保存期限 11/18 12:00');
    // The other file of the month still offers 作成.
    expect(await page.locator(`tr[data-month="${PREVIOUS}"] td[data-label="電話番号別ご利用料金"]`).getByRole('link').allInnerTexts()).toEqual(['画面に表示', '作成']);
    await shot('18-charges-file-ready');

    const [download] = await Promise.all([page.waitForEvent('download'), cell().getByRole('link', { name: 'ダウンロード' }).click()]);
    const bytes = await readFile((await download.path())!);
    const lines = iconv.decode(bytes, 'cp932').split('\r\n');
    expect(lines[0]).toBe('ご利用電話番号,通話開始日時,通話開始時刻,着信電話番号,地域名,通話時間,内線区分,呼種別,通話料');
    expect(lines[1]).toMatch(/^\d{10},2026\/(09\/30|10\/\d{2}),/);
    expect(download.suggestedFilename()).toMatch(/\.csv$/);

    await page.goto(`/charges/${PREVIOUS}/downloads`);
    expect(await page.getByRole('link', { name: '明細ダウンロード' }).count()).toBe(1);
    await shot('19-downloads');
  });

  it('another contract’s number and file are a 404 page', async () => {
    const opened = [
      { type: 'OpenContract', contractCode: B.code, selfId: B.selfId, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: B.basic },
      { type: 'AddNumber', contractCode: B.code, dialInNumber: B.dialIn, auMobileNumber: B.mobile, startDate: '2010-11-15' },
    ] as const;
    for (const command of opened) await handleContractCommand(db.store, command);
    await setInitialCredentials(db.database.db, { contractCode: B.code, selfId: B.selfId, password: B.password });
    await recordCalls({ db } as unknown as Fixture, B.code, [row(B.dialIn, '2026/10/20', '100000.0', '国内呼', '16.00')]);
    const { job } = await requestExport(db.database.db, { contractCode: B.code, month: PREVIOUS, kind: 'numbers', encoding: 'sjis' }, NOW);

    for (const path of [`/charges/${PREVIOUS}/numbers/${B.dialIn}/calls`, `/charges/${PREVIOUS}/calls?number=${B.dialIn}`, `/exports/${job.id}`, `/exports/${job.id}/file`]) {
      const res = await page.goto(path);
      expect(res!.status(), path).toBe(404);
      expect(await page.locator('h1').innerText()).toBe('ページが見つかりません');
      expect(await mainText()).not.toContain('16.00');
    }
    await shot('20-not-found');
  });

  it('on a 360 px phone: the menu on top, nothing scrolls sideways, the figures stay labelled', async () => {
    const narrow = await context.newPage();
    await narrow.setViewportSize(MOBILE);
    // Every page is checked; three are photographed (the others look alike on a phone).
    for (const [path, name] of [
      ['/menu', '21-mobile-menu'],
      ['/charges', '22-mobile-charges'],
      [`/charges/${PREVIOUS}/numbers`, undefined],
      [`/charges/${PREVIOUS}/numbers/${DEMO_DIAL_IN_NUMBER}/calls`, '23-mobile-calls'],
      [`/charges/${PREVIOUS}/telegrams`, undefined],
      [`/charges/${PREVIOUS}/calls`, undefined],
      ['/contract/numbers', undefined],
      ['/password', undefined],
    ] as const) {
      await narrow.goto(path);
      expect(await narrow.evaluate<number>('document.documentElement.scrollWidth'), path).toBeLessThanOrEqual(MOBILE.width);
      if (name) await shot(name, narrow);
    }
    await narrow.goto('/charges');
    const nov = narrow.locator(`tr[data-month="${PREVIOUS}"]`);
    expect(await nov.locator('td[data-label="ご利用料金合計"]').isVisible()).toBe(true);
    expect(await nov.locator('td[data-label="電報明細"]').isVisible()).toBe(true);
    const navBox = (await narrow.getByRole('navigation', { name: 'メニュー' }).boundingBox())!;
    expect(navBox.y).toBeLessThan((await narrow.locator('main').boundingBox())!.y); // on top
    await narrow.close();
  });

  it('パスワードの変更: a broken rule is explained next to its field; 開始 → 確認 → 完了; then only the new password logs in', async () => {
    await page.goto('/menu');
    await menu().getByRole('link', { name: 'パスワードの変更' }).click();
    await page.waitForURL(`${base}/password`);
    expect(await mainText()).toContain('4文字以上8文字以内の半角英数字');
    await shot('24-password-start');

    await page.getByLabel('現在のセルフパスワード').fill(DEMO_PASSWORD);
    await page.getByLabel('新しいセルフパスワード', { exact: true }).fill('abcdef');
    await page.getByLabel('新しいセルフパスワード（確認用）').fill('abcdef');
    await page.getByRole('button', { name: '確認' }).click();
    await expect.poll(() => page.locator('#newPassword').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#newPassword-error').innerText()).toContain('英字と数字を、それぞれ1文字以上含めてください。');
    await shot('25-password-error');

    await page.getByLabel('現在のセルフパスワード').fill(DEMO_PASSWORD);
    await page.getByLabel('新しいセルフパスワード', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('新しいセルフパスワード（確認用）').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: '確認' }).click();
    await expect.poll(() => page.locator('h1').innerText()).toBe('セルフパスワード変更（確認）');
    expect(await page.content()).not.toContain(NEW_PASSWORD);
    await shot('26-password-confirm');
    await page.getByRole('button', { name: '変更する' }).click();
    await expect.poll(() => page.locator('h1').innerText()).toBe('セルフパスワード変更（完了）');
    await shot('27-password-done');
    await page.getByRole('main').getByRole('link', { name: 'メニューに戻る' }).click();
    await page.waitForURL(`${base}/menu`);

    await page.getByRole('button', { name: 'ログアウト' }).click();
    await page.waitForURL(`${base}/login?reason=logout`);
    expect(await mainText()).toContain('ログアウトしました。');
    expect((await context.cookies()).some((c) => c.name === 'ledger_session')).toBe(false);
    expect((await page.goto('/menu'))!.url()).toBe(`${base}/login`);

    await page.getByLabel('セルフID').fill('d123456789');
    await page.getByLabel('セルフパスワード').fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await expect.poll(() => page.locator('#login-error').count()).toBe(1);

    await page.getByLabel('セルフID').fill('d123456789');
    await page.getByLabel('セルフパスワード').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.waitForURL(`${base}/menu`);
  });

  it('a locked self ID: after repeated wrong passwords the login page says it is locked (429), even to the right password', async () => {
    await page.getByRole('button', { name: 'ログアウト' }).click();
    await page.waitForURL(`${base}/login?reason=logout`);
    let status = 0;
    for (let i = 0; i < 10 && status !== 429; i++) {
      await page.getByLabel('セルフID').fill('d123456789');
      await page.getByLabel('セルフパスワード').fill(i < 9 ? 'wrong9' : NEW_PASSWORD);
      const [response] = await Promise.all([page.waitForResponse((r) => r.url() === `${base}/login` && r.request().method() === 'POST'), page.getByRole('button', { name: 'ログイン' }).click()]);
      status = response.status();
    }
    expect(status).toBe(429);
    await page.getByLabel('セルフID').fill('d123456789');
    await page.getByLabel('セルフパスワード').fill(NEW_PASSWORD);
    const [response] = await Promise.all([page.waitForResponse((r) => r.url() === `${base}/login` && r.request().method() === 'POST'), page.getByRole('button', { name: 'ログイン' }).click()]);
    expect(response.status()).toBe(429);
    expect(await page.getByRole('alert').count()).toBeGreaterThan(0);
    await shot('28-login-locked');
  });
});
