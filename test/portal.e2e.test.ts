// The self-page in a real browser: Debian's Chromium driven by playwright-core against the server
// `npm start` runs (cli/commands/serve.ts prepareServer, demo loaded) on a fresh PGlite store and a
// random localhost port. Screenshots of every page go to test-artifacts/portal/ (not committed);
// docs/portal.png (the README's) is the ご利用料金の確認 page, rewritten with UPDATE_README_SHOT=1.
//
// Never skipped: without /usr/bin/chromium the suite fails and says how to install it.
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import iconv from 'iconv-lite';
import pino from 'pino';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareServer, type PreparedServer } from '../cli/commands/serve.ts';
import { DEMO_DIAL_IN_NUMBER } from '../cli/demo.ts';
import { apiMigrations } from '../api/migrations.ts';
import { setInitialCredentials } from '../projections/credentials.ts';
import { ExportWorker, requestExport } from '../api/exports.ts';
import { buildCsv } from '../api/wiring.ts';
import { handleContractCommand } from '../domain/contract-service.ts';
import { projectionMigrations } from '../projections/index.ts';
import { createQueries } from '../projections/queries.ts';
import { testTargets, type TestDatabase } from './support/stores.ts';
import { B, recordCalls, row, type Fixture } from './api.support.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = new URL('../test-artifacts/portal/', import.meta.url);
const README_SHOT = new URL('../docs/portal.png', import.meta.url);
/** Mid-month (no export blackout), the demo's window 2017-08 … 2017-12. */
const NOW = new Date('2017-12-15T03:00:00Z');
const NEW_PASSWORD = 'Kddi2017';

describe('the self-page in Chromium', () => {
  let db: TestDatabase;
  let server: PreparedServer;
  let http: ServerType;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let password: string;
  let worker: ExportWorker;

  const shot = async (name: string, p: Page = page) => {
    await p.screenshot({ path: new URL(`${name}.png`, ARTIFACTS).pathname, fullPage: true });
  };
  const mainText = async (p: Page = page) => (await p.locator('main').innerText()).replace(/\s+/g, ' ');

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}; the browser tests need it: apt-get update && apt-get install -y chromium (.ci/run installs it when missing)`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    db = await testTargets.find((t) => t.name === 'PGlite')!.open([projectionMigrations, apiMigrations]);
    // The built-in worker polls once a minute: the test builds the files itself, so that it sees 作成中 first.
    server = await prepareServer(db, { clock: () => NOW, logger: pino({ level: 'silent' }), exportPollMs: 60_000 });
    await server.start();
    password = server.demo!.password;
    worker = new ExportWorker({ db: db.database.db, queries: createQueries(db.database, db.store), build: buildCsv, clock: () => NOW });
    http = serve({ fetch: server.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      http.once('listening', resolve);
      http.once('error', reject);
    });
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    context = await browser.newContext({ baseURL: base, locale: 'ja-JP', timezoneId: 'Asia/Tokyo', viewport: { width: 1100, height: 800 }, acceptDownloads: true });
    page = await context.newPage();
  });

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

  it('ログイン: a wrong password is refused, the demo login works by keyboard alone, the cookie is HttpOnly and SameSite=Lax', async () => {
    await page.goto('/');
    await expect.poll(() => page.url()).toBe(`${base}/login`);
    await shot('01-login');
    await page.getByLabel('セルフID').fill('d123456789');
    await page.getByLabel('セルフパスワード').fill('wrong1');
    await page.getByRole('button', { name: 'ログイン' }).click();
    await expect.poll(() => page.locator('#login-error').innerText()).toContain('セルフIDまたはセルフパスワードが正しくありません。');
    await shot('02-login-wrong');

    // Keyboard only: the self ID is focused on load; Tab to the password; Enter submits.
    await page.goto('/login');
    await page.keyboard.type('d123456789');
    await page.keyboard.press('Tab');
    await page.keyboard.type(password);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/menu`);
    expect(await page.locator('h1').innerText()).toBe('メニュー');
    const session = (await context.cookies()).find((c) => c.name === 'ledger_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' });
    expect(page.url()).not.toContain(session.value);
    await shot('03-menu');
  });

  it('the menu on the left leads to every page; ご契約内容の確認 shows the demo contract', async () => {
    const menu = page.getByRole('navigation', { name: 'メニュー' });
    for (const item of ['ご契約内容の確認', 'パスワードの変更', 'ご利用料金の確認']) await expect.poll(() => menu.getByRole('link', { name: item }).count()).toBe(1);
    expect(await menu.getByRole('button', { name: 'ログアウト' }).count()).toBe(1);
    const box = await menu.boundingBox();
    const mainBox = await page.locator('main').boundingBox();
    expect(box!.x).toBeLessThan(mainBox!.x); // on the left

    await menu.getByRole('link', { name: 'ご契約内容の確認' }).click();
    await page.waitForURL(`${base}/contract`);
    const text = await mainText();
    expect(text).toContain('契約コード d123456789');
    expect(text).toContain('契約電話番号数 2');
    expect(text).toContain('フリーコール(選択)番号通知サービス 申込済');
    expect(text).toContain('一括転送サービス 未申込');
    expect(text).toContain('ご利用開始日 2010年11月15日');
    expect(text).toContain(`追加ダイヤルイン番号 ${DEMO_DIAL_IN_NUMBER}`);
    expect(text).toContain('1 / 1');
    expect(text).toContain('フリーコール(選択)電話番号 0120222333');
    await shot('04-contract');
  });

  it('ご利用料金の確認: five months newest first in whole yen, with the period, the buttons and the notes; the same figures as the API', async () => {
    await page.getByRole('navigation', { name: 'メニュー' }).getByRole('link', { name: 'ご利用料金の確認' }).click();
    await page.waitForURL(`${base}/charges`);
    const months = await page.locator('tr[data-month]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-month')));
    expect(months).toEqual(['2017-12', '2017-11', '2017-10', '2017-09', '2017-08']);

    const api = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ selfId: 'd123456789', password }) });
    const token = ((await api.json()) as { token: string }).token;
    const charges = (await (await fetch(`${base}/api/v1/charges`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      months: { month: string; yen: { total: string; domestic: string; international: string; mobile: string } }[];
    };
    for (const m of charges.months) {
      const cells = await page.locator(`tr[data-month="${m.month}"] td.num`).allInnerTexts();
      expect(cells.map((c) => c.replace(/,/g, ''))).toEqual([`${m.yen.total}円`, `${m.yen.domestic}円`, `${m.yen.international}円`, `${m.yen.mobile}円`]);
      for (const c of cells) expect(c).toMatch(/^\d{1,3}(,\d{3})*円$/);
    }
    const nov = page.locator('tr[data-month="2017-11"]');
    expect(await nov.innerText()).toContain('【11月01日～11月30日】');
    for (const label of ['画面に表示', '作成', 'ダウンロード']) expect(await nov.getByRole('link', { name: label, exact: true }).count()).toBe(2);
    const text = await mainText();
    expect(text).toContain('消費税は含まれていません');
    expect(text).toContain('電報料金は含まれていません');
    expect(text).toContain('月をまたがって通話された場合は、翌月のご請求となります。');
    await shot('05-charges');

    // The README's picture: the first screen of this page, small. docs/portal.png is committed, so it
    // is rewritten only on request (UPDATE_README_SHOT=1, on a machine with Japanese fonts).
    const readme = process.env.UPDATE_README_SHOT === '1' ? README_SHOT : new URL('readme-charges.png', ARTIFACTS);
    await page.screenshot({ path: readme.pathname, fullPage: false });
    expect((await stat(readme)).size).toBeLessThan(200 * 1024);
  });

  it('電話番号別ご利用料金 and ご利用明細: 2-decimal 円 per number, 10 calls a page in the manual’s formats, paging and the way back', async () => {
    await page.locator('tr[data-month="2017-11"]').getByRole('link', { name: '画面に表示' }).first().click();
    await page.waitForURL(`${base}/charges/2017-11/numbers`);
    const row = page.locator(`tr[data-number="${DEMO_DIAL_IN_NUMBER}"]`);
    const amounts = await row.locator('td.num').allInnerTexts();
    expect(amounts).toHaveLength(6);
    for (const a of amounts) expect(a).toMatch(/^\d{1,3}(,\d{3})*\.\d{2}円/);
    await shot('06-numbers');

    await row.getByRole('link', { name: `${DEMO_DIAL_IN_NUMBER} 全通話の明細を表示` }).click();
    await page.waitForURL(/\/calls$/);
    const total = Number(/全(\d+)件/.exec(await mainText())![1]);
    expect(total).toBeGreaterThan(10);
    const rows = page.locator('main tbody tr');
    expect(await rows.count()).toBe(10);
    expect(await page.locator('main thead th').allInnerTexts()).toEqual(['番号', '通話開始日時', '通話先電話番号', '地域名', '通話時間', '通話料金']);
    const first = await rows.first().locator('th, td').allInnerTexts();
    expect(first[0]).toBe('1');
    expect(first[1]).toMatch(/^11\/\d{2}\([月火水木金土日]\)\d{2}時\d{2}分\d{2}\.\d秒$/);
    expect(first[4]).toMatch(/^(\d+時間 \d{2}分 \d{2}\.\d秒|\d+件)$/);
    expect(first[5]).toMatch(/^\d{1,3}(,\d{3})*\.\d{2}円$/);
    await shot('07-calls');

    await page.getByRole('link', { name: '次の10件' }).click();
    await page.waitForURL(/page=2/);
    expect(await rows.first().locator('th').innerText()).toBe('11');
    await shot('08-calls-page2');
    await page.getByRole('link', { name: '電話番号別利用料金照会画面へ戻る' }).click();
    await page.waitForURL(`${base}/charges/2017-11/numbers`);

    await page.getByRole('link', { name: `${DEMO_DIAL_IN_NUMBER} 国内通話の明細を表示` }).click();
    await page.waitForURL(/category=domestic/);
    expect(await mainText()).toContain('（国内通話）');
  });

  it('CSV: 作成 → 作成受付の確認 → 作成受付完了 → by itself to ただいま作成中です → 画面を更新する → 明細ダウンロード of a Shift_JIS file', async () => {
    await page.goto('/charges');
    const nov = page.locator('tr[data-month="2017-11"] td[data-label="通話明細"]');
    await nov.getByRole('link', { name: '作成' }).click();
    await page.waitForURL(`${base}/charges/2017-11/exports/new?kind=calls`);
    expect(await page.locator('h1').innerText()).toBe('作成受付の確認');
    expect(await page.getByLabel('文字コード').inputValue()).toBe('sjis');
    await shot('09-export-confirm');

    await page.getByRole('button', { name: '明細作成' }).click();
    await expect.poll(() => page.locator('h1').innerText()).toBe('作成受付完了');
    await shot('10-export-accepted');
    await page.waitForURL(/\/exports\/[0-9a-f-]{36}$/, { timeout: 15_000 });
    const statusUrl = page.url();
    expect(await mainText()).toContain('ただいま作成中です');
    await shot('11-export-pending');
    await page.getByRole('link', { name: '画面を更新する(リロード)' }).click();
    await page.waitForURL(statusUrl);
    expect(await mainText()).toContain('ただいま作成中です');

    while (await worker.runOnce());
    await page.getByRole('link', { name: '画面を更新する(リロード)' }).click();
    await expect.poll(() => page.getByRole('link', { name: '明細ダウンロード' }).count()).toBe(1);
    expect(await mainText()).toContain('48時間');
    await shot('12-export-ready');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: '明細ダウンロード' }).click()]);
    const bytes = await readFile((await download.path())!);
    const header = iconv.encode('ご利用電話番号', 'cp932');
    expect([...bytes.subarray(0, header.length)]).toEqual([...header]);
    expect(bytes.subarray(0, 2).toString('hex')).toBe('82b2'); // ご in CP932
    const lines = iconv.decode(bytes, 'cp932').split('\r\n');
    expect(lines[0]).toBe('ご利用電話番号,通話開始日時,通話開始時刻,着信電話番号,地域名,通話時間,内線区分,呼種別,通話料');
    expect(lines[1]).toMatch(new RegExp(`^${DEMO_DIAL_IN_NUMBER},2017/11/\\d{2},`));
    expect(download.suggestedFilename()).toMatch(/\.csv$/);

    await page.goto('/charges/2017-11/downloads');
    expect(await mainText()).toContain('通話明細');
    expect(await page.getByRole('link', { name: '明細ダウンロード' }).count()).toBe(1);
    await shot('13-downloads');
  });

  it('another contract’s number and file are a 404 page', async () => {
    const opened = [
      { type: 'OpenContract', contractCode: B.code, selfId: B.selfId, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: B.basic },
      { type: 'AddNumber', contractCode: B.code, dialInNumber: B.dialIn, auMobileNumber: B.mobile, startDate: '2010-11-15' },
    ] as const;
    for (const command of opened) await handleContractCommand(db.store, command);
    await setInitialCredentials(db.database.db, { contractCode: B.code, selfId: B.selfId, password: B.password });
    await recordCalls({ db } as unknown as Fixture, B.code, [row(B.dialIn, '2017/11/20', '100000.0', '国内呼', '16.00')]);
    const { job } = await requestExport(db.database.db, { contractCode: B.code, month: '2017-11', kind: 'numbers', encoding: 'sjis' }, NOW);

    for (const path of [`/charges/2017-11/numbers/${B.dialIn}/calls`, `/exports/${job.id}`, `/exports/${job.id}/file`]) {
      const res = await page.goto(path);
      expect(res!.status(), path).toBe(404);
      expect(await page.locator('h1').innerText()).toBe('ページが見つかりません');
      expect(await mainText()).not.toContain('16.00');
    }
    await shot('14-not-found');
  });

  it('is readable at 360 px wide: nothing scrolls sideways, the figures stay labelled', async () => {
    const narrow = await context.newPage();
    await narrow.setViewportSize({ width: 360, height: 740 });
    for (const [path, name] of [
      ['/charges', '15-charges-360'],
      ['/charges/2017-11/numbers', '16-numbers-360'],
      [`/charges/2017-11/numbers/${DEMO_DIAL_IN_NUMBER}/calls`, '17-calls-360'],
      ['/contract', '18-contract-360'],
      ['/password', '19-password-360'],
    ] as const) {
      await narrow.goto(path);
      const overflow = await narrow.evaluate<number>('document.documentElement.scrollWidth');
      expect(overflow, path).toBeLessThanOrEqual(360);
      await shot(name, narrow);
    }
    await narrow.goto('/charges');
    expect(await narrow.locator('tr[data-month="2017-11"] td[data-label="ご利用料金合計"]').isVisible()).toBe(true);
    await narrow.close();
  });

  it('パスワードの変更: a broken rule is explained next to its field; 開始 → 確認 → 完了; then only the new password logs in', async () => {
    await page.goto('/menu');
    await page.getByRole('navigation', { name: 'メニュー' }).getByRole('link', { name: 'パスワードの変更' }).click();
    await page.waitForURL(`${base}/password`);
    expect(await mainText()).toContain('4文字以上8文字以内の半角英数字');
    await shot('20-password-start');

    await page.getByLabel('現在のセルフパスワード').fill(password);
    await page.getByLabel('新しいセルフパスワード', { exact: true }).fill('abcdef');
    await page.getByLabel('新しいセルフパスワード（確認用）').fill('abcdef');
    await page.getByRole('button', { name: '確認' }).click();
    await expect.poll(() => page.locator('#newPassword').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#newPassword-error').innerText()).toContain('英字と数字を、それぞれ1文字以上含めてください。');
    await shot('21-password-error');

    await page.getByLabel('現在のセルフパスワード').fill(password);
    await page.getByLabel('新しいセルフパスワード', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('新しいセルフパスワード（確認用）').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: '確認' }).click();
    await expect.poll(() => page.locator('h1').innerText()).toBe('セルフパスワード変更（確認）');
    expect(await page.content()).not.toContain(NEW_PASSWORD);
    await shot('22-password-confirm');
    await page.getByRole('button', { name: '変更する' }).click();
    await expect.poll(() => page.locator('h1').innerText()).toBe('セルフパスワード変更（完了）');
    await shot('23-password-done');
    await page.getByRole('main').getByRole('link', { name: 'メニューに戻る' }).click();
    await page.waitForURL(`${base}/menu`);

    await page.getByRole('button', { name: 'ログアウト' }).click();
    await page.waitForURL(`${base}/login?reason=logout`);
    expect(await mainText()).toContain('ログアウトしました。');
    expect((await context.cookies()).some((c) => c.name === 'ledger_session')).toBe(false);
    expect((await page.goto('/menu'))!.url()).toBe(`${base}/login`);

    await page.getByLabel('セルフID').fill('d123456789');
    await page.getByLabel('セルフパスワード').fill(password);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await expect.poll(() => page.locator('#login-error').count()).toBe(1);

    await page.getByLabel('セルフID').fill('d123456789');
    await page.getByLabel('セルフパスワード').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.waitForURL(`${base}/menu`);
    await shot('24-menu-after-new-password');
  });
});
