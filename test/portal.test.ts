// The self-page (api/portal/) through app.request(): every page, the forms' CSRF refusal, tenant
// isolation, the cookie's flags — on every store target. The real-browser walk is portal.e2e.test.ts.
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Money } from '../domain/money.ts';
import { streams } from '../domain/events.ts';
import { handleContractCommand } from '../domain/contract-service.ts';
import { setInitialCredentials } from '../projections/credentials.ts';
import { ExportWorker } from '../api/exports.ts';
import { buildCsv } from '../api/wiring.ts';
import { callStartJa, dateJa, dateTimeJa, durationJa, monthJa, periodJa, shortDateTimeJa, wholeYenJa, yenJa } from '../api/format.ts';
import { DEFAULT_SUPPORT_DESK } from '../api/portal/support.tsx';
import { pageWindow } from '../api/portal/pages.tsx';
import { testTargets } from './support/stores.ts';
import { A, B, MID_DECEMBER_2017, openFixture, recordCalls, row, seedTwoContracts, type Fixture } from './api.support.ts';

describe('the portal’s Japanese formats (api/format.ts)', () => {
  it('shows per-number and per-call amounts with 2 decimals and 円, the month summary in whole yen cut off', () => {
    expect(yenJa(Money.parse('1928.50'))).toBe('1,928.50円');
    expect(yenJa(Money.parse('8'))).toBe('8.00円');
    expect(wholeYenJa(Money.parse('1928.99'))).toBe('1,928円');
    expect(wholeYenJa(Money.parse('1234567.5'))).toBe('1,234,567円');
    expect(wholeYenJa(Money.zero)).toBe('0円');
  });
  it('shows the period, the month and dates as the manual does', () => {
    expect(periodJa('2017-11')).toBe('【11月01日～11月30日】');
    expect(periodJa('2016-02')).toBe('【02月01日～02月29日】');
    expect(monthJa('2017-11')).toBe('2017年11月');
    expect(dateJa('2010-11-15')).toBe('2010年11月15日');
    expect(dateTimeJa(new Date('2017-12-15T03:00:00Z'))).toBe('2017年12月15日 12時00分');
  });
  it('shows a file’s 保存期限 in a table cell as 12/17 12:00, Japan time', () => {
    expect(shortDateTimeJa(new Date('2017-12-17T03:00:00Z'))).toBe('12/17 12:00');
    expect(shortDateTimeJa(new Date('2017-12-31T15:30:00Z'))).toBe('01/01 00:30');
  });
  it('shows a call’s start as 05/01(金)20時12分21.5秒 and its duration as 0時間 01分 06.0秒', () => {
    expect(callStartJa({ startDate: '2020-05-01', startTime: '201221.5' })).toBe('05/01(金)20時12分21.5秒');
    expect(callStartJa({ startDate: '2017-11-05', startTime: '090000.0' })).toBe('11/05(日)09時00分00.0秒');
    expect(durationJa({ duration: '000106.0', count: null })).toBe('0時間 01分 06.0秒');
    expect(durationJa({ duration: '123456.7', count: null })).toBe('12時間 34分 56.7秒');
    expect(durationJa({ duration: null, count: 1 })).toBe('1件');
  });
});

describe('the call details’ page links (pageWindow)', () => {
  it('links every page of a short listing, and a window with the first and the last page of a long one', () => {
    expect(pageWindow(1, 1)).toEqual([1]);
    expect(pageWindow(2, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(pageWindow(2, 7)).toEqual([1, 2, 3, 4, 'gap', 7]);
    expect(pageWindow(1, 8)).toEqual([1, 2, 3, 'gap', 8]);
    expect(pageWindow(50, 100)).toEqual([1, 'gap', 48, 49, 50, 51, 52, 'gap', 100]);
    expect(pageWindow(4, 100)).toEqual([1, 2, 3, 4, 5, 6, 'gap', 100]);
    expect(pageWindow(20_000, 20_000)).toEqual([1, 'gap', 19_998, 19_999, 20_000]);
  });
  it('never draws more than nine entries, whatever the size or the page asked for', () => {
    for (const pages of [1, 2, 9, 10, 11, 1000, 20_000]) {
      for (const current of [1, 2, 3, 5, Math.floor(pages / 2), pages - 1, pages, pages + 5]) {
        const w = pageWindow(current, pages);
        expect(w.length).toBeLessThanOrEqual(9);
        const numbers = w.filter((p): p is number => p !== 'gap');
        expect(numbers[0]).toBe(1);
        expect(numbers[numbers.length - 1]).toBe(pages);
        expect([...numbers].sort((a, b) => a - b)).toEqual(numbers);
        expect(new Set(numbers).size).toBe(numbers.length);
      }
    }
  });
});

/** A browser stand-in: keeps cookies, follows nothing, reads the forms' CSRF token. */
class Client {
  readonly cookies = new Map<string, string>();
  lastSetCookies: string[] = [];
  constructor(
    private readonly f: Fixture,
    private readonly headers: Record<string, string> = {},
  ) {}

  async request(method: string, path: string, form?: Record<string, string>, extra: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.headers, ...extra };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await this.f.app.request(path, { method, headers, ...(form ? { body: new URLSearchParams(form).toString() } : {}) });
    this.lastSetCookies = res.headers.getSetCookie();
    for (const c of this.lastSetCookies) {
      const [pair = '', ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1);
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
  get(path: string, extra?: Record<string, string>) {
    return this.request('GET', path, undefined, extra);
  }
  post(path: string, form: Record<string, string>, extra?: Record<string, string>) {
    return this.request('POST', path, form, extra);
  }
  async page(path: string): Promise<string> {
    const res = await this.get(path);
    expect(res.status, `${path} → ${res.status} ${res.headers.get('location') ?? ''}`).toBe(200);
    return res.text();
  }
  async logIn(selfId: string, password: string): Promise<Response> {
    const csrf = csrfOf(await this.page('/login'));
    return this.post('/login', { _csrf: csrf, selfId, password });
  }
}

function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF field in the page');
  return m[1]!;
}

/** The visible text of the page's main (tags out), for reading assertions. */
function mainText(html: string): string {
  const main = /<main[^>]*>([\s\S]*)<\/main>/.exec(html)?.[1] ?? html;
  return main.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/\s+/g, ' ');
}

/** Every visible input, select and textarea has a <label for>; every table has header cells. */
function expectAccessibleForms(html: string): void {
  for (const m of html.matchAll(/<(input|select|textarea)\b([^>]*)>/g)) {
    const attrs = m[2]!;
    if (/type="hidden"/.test(attrs)) continue;
    const id = /\bid="([^"]+)"/.exec(attrs)?.[1];
    expect(id, `an ${m[1]} without id: ${m[0]}`).toBeDefined();
    expect(html).toContain(`<label for="${id}"`);
  }
  for (const t of html.matchAll(/<table\b[\s\S]*?<\/table>/g)) expect(t[0]).toMatch(/<th\b/);
  expect(html).toMatch(/^<!DOCTYPE html><html lang="ja">/);
}

const MENU_ITEMS = ['ご契約内容の確認', 'パスワードの変更', 'ご利用料金の確認', 'ログアウト'];

describe.each(testTargets)('the self-page on $name', (target) => {
  let f: Fixture;
  let a: Client;

  beforeAll(async () => {
    f = await openFixture(target);
    await seedTwoContracts(f);
    // A second dial-in number, so that 契約電話番号詳細 has a NEXT page.
    await handleContractCommand(f.db.store, { type: 'AddNumber', contractCode: A.code, dialInNumber: '0312340000', auMobileNumber: '08033334444', startDate: '2015-04-01' });
    await f.catchUp();
    a = new Client(f);
    expect((await a.logIn(A.selfId, A.password)).status).toBe(303);
  });
  afterAll(async () => {
    await f?.close();
  });

  /** Runs at another time; a login then sweeps the idle sessions of the contract, so `a` logs in again after. */
  async function at(when: Date, run: () => Promise<void>): Promise<void> {
    try {
      f.now = when;
      await run();
    } finally {
      f.now = MID_DECEMBER_2017;
      a = new Client(f);
      expect((await a.logIn(A.selfId, A.password)).status).toBe(303);
    }
  }

  describe('ログイン', () => {
    it('has labelled セルフID and セルフパスワード fields, a CSRF token, and sets the token’s cookie HttpOnly and SameSite=Lax', async () => {
      const c = new Client(f);
      const res = await c.get('/login');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const html = await res.text();
      expectAccessibleForms(html);
      expect(html).toContain('<label for="selfId">セルフID</label>');
      expect(html).toContain('<label for="password">セルフパスワード</label>');
      expect(html).toMatch(/<form class="stack" method="post" action="\/login">/);
      expect(c.lastSetCookies[0]).toMatch(/^ledger_login_csrf=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
      expect(html).not.toContain('ログアウト');
    });

    it('logs in: 303 to the menu, the session in an HttpOnly SameSite=Lax cookie, never in the URL', async () => {
      const c = new Client(f);
      const res = await c.logIn(A.selfId, A.password);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/menu');
      const cookie = c.lastSetCookies.find((s) => s.startsWith('ledger_session='))!;
      expect(cookie).toMatch(/^ledger_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
      expect(cookie).not.toMatch(/Secure/);
      const html = await c.page('/menu');
      const token = c.cookies.get('ledger_session')!;
      expect(html).not.toContain(token);
      for (const item of MENU_ITEMS) expect(html).toContain(item);
    });

    it('marks the cookie Secure behind HTTPS (X-Forwarded-Proto: https)', async () => {
      const c = new Client(f, { 'x-forwarded-proto': 'https' });
      await c.logIn(A.selfId, A.password);
      const cookie = c.lastSetCookies.find((s) => s.startsWith('ledger_session='))!;
      expect(cookie).toMatch(/; Secure(;|$)/);
      expect(cookie).toMatch(/; HttpOnly;/);
      expect(cookie).toMatch(/; SameSite=Lax(;|$)/);
      const https = new Client(f);
      const res = await https.request('GET', 'https://portal.example/login');
      expect(res.status).toBe(200);
      expect(https.lastSetCookies[0]).toMatch(/; Secure/);
    });

    it('says the pair is wrong (401) without telling which, and keeps the typed self ID', async () => {
      const c = new Client(f);
      for (const [selfId, password] of [[A.selfId, 'wrong1'], ['d000000000', 'abc123']] as const) {
        const res = await c.logIn(selfId, password);
        expect(res.status).toBe(401);
        const html = await res.text();
        expect(mainText(html)).toContain('セルフIDまたはセルフパスワードが正しくありません。');
        expect(html).toContain(`value="${selfId}"`);
        expect(html).not.toContain(password);
        expect(c.cookies.has('ledger_session')).toBe(false);
      }
      await new Client(f).logIn(A.selfId, A.password); // ends A's run of failures
    });

    it('refuses a login without the form’s CSRF token, or with another browser’s (403)', async () => {
      const c = new Client(f);
      await c.get('/login');
      const missing = await c.post('/login', { selfId: A.selfId, password: A.password });
      expect(missing.status).toBe(403);
      expect(mainText(await missing.text())).toContain('操作を受け付けられませんでした');
      const other = new Client(f);
      const otherToken = csrfOf(await other.page('/login'));
      const forged = await c.post('/login', { _csrf: otherToken, selfId: A.selfId, password: A.password });
      expect(forged.status).toBe(403);
      expect(c.cookies.has('ledger_session')).toBe(false);
    });

    it('sends pages behind the login back to ログイン, and an ended session with a notice', async () => {
      const c = new Client(f);
      for (const path of ['/menu', '/contract', '/password', '/charges', '/charges/2017-11/numbers', '/exports/5f9c0a3e-8f2b-4c1d-9e7a-1b2c3d4e5f60']) {
        const res = await c.get(path);
        expect(res.status).toBe(303);
        expect(res.headers.get('location')).toBe('/login');
      }
      c.cookies.set('ledger_session', 'x'.repeat(43));
      const res = await c.get('/menu');
      expect(res.headers.get('location')).toBe('/login?reason=expired');
      expect(mainText(await c.page('/login?reason=expired'))).toContain('ログアウトしました。もう一度ログインしてください。');
    });

    it('goes from / to the menu when logged in, to ログイン when not', async () => {
      expect((await a.get('/')).headers.get('location')).toBe('/menu');
      expect((await new Client(f).get('/')).headers.get('location')).toBe('/login');
      expect((await a.get('/login')).headers.get('location')).toBe('/menu');
    });
  });

  describe('the menu', () => {
    it('is on the left of every page, with the current page marked', async () => {
      for (const [path, current] of [
        ['/menu', 'メニュー'],
        ['/contract', 'ご契約内容の確認'],
        ['/password', 'パスワードの変更'],
        ['/charges', 'ご利用料金の確認'],
        ['/charges/2017-11/numbers', 'ご利用料金の確認'],
      ] as const) {
        const html = await a.page(path);
        const nav = /<nav class="menu" aria-label="メニュー">([\s\S]*?)<\/nav>/.exec(html)?.[1] ?? '';
        for (const item of MENU_ITEMS) expect(nav).toContain(item);
        expect(nav).toMatch(new RegExp(`aria-current="page">${current}<`));
        expect(nav).toMatch(/<form method="post" action="\/logout"><input type="hidden" name="_csrf" value="[\w-]+"\/><button type="submit">ログアウト<\/button>/);
        expectAccessibleForms(html);
      }
    });
  });

  describe('after login (手順2 ②)', () => {
    it('shows the menu and the current contract together, with the manual’s units', async () => {
      const html = await a.page('/menu');
      expectAccessibleForms(html);
      const text = mainText(html);
      for (const item of ['ご契約内容の確認', 'パスワードの変更', 'ご利用料金の確認']) expect(text).toContain(item);
      expect(text).toContain('現在のご契約内容');
      expect(text).toContain('契約コード d123456789');
      expect(text).toContain('契約電話番号数 3件');
      expect(text).toContain('チャンネル数/回線数 1チャンネル/回線');
      expect(text).toContain('追加ダイヤルイン番号数 2番号');
    });

    it('names the menu once in the side menu', async () => {
      const html = await a.page('/menu');
      const nav = /<nav class="menu" aria-label="メニュー">([\s\S]*?)<\/nav>/.exec(html)![1]!;
      expect(mainText(nav).match(/メニュー/g)).toHaveLength(1);
    });
  });

  describe('ご契約内容の確認', () => {
    it('shows the SPEC §1 table: IDs, counts with their units, 申込済 / 未申込 per option, dates, DNS', async () => {
      const text = mainText(await a.page('/contract'));
      expect(text).toContain('セルフID d123456789');
      expect(text).toContain('契約コード d123456789');
      expect(text).toMatch(/契約電話番号数 3件/);
      expect(text).toContain('チャンネル数/回線数 1チャンネル/回線');
      expect(text).toContain('追加ダイヤルイン番号数 2番号');
      expect(text).toContain('フリーコール(選択)番号通知サービス 申込済');
      for (const label of ['ダイヤルイン 未申込', 'auケータイ着信割引(月額料型) 未申込', '番号通知リクエスト 未申込', '着信拒否サービス 未申込', '特定番号通知サービス (拠点代表番号機能) 未申込', '一括転送サービス 未申込']) {
        expect(text).toContain(label);
      }
      expect(text).toContain('ご利用開始日 2010年11月15日');
      expect(text).toContain('接続タイプ ダイヤルイン接続');
      expect(text).toContain('プライマリDNS 192.0.2.1');
      expect(text).toContain('セカンダリDNS 192.0.2.2');
    });

    it('links 契約電話番号詳細 and フリーコール(選択)電話番号詳細 to screens of their own', async () => {
      const html = await a.page('/contract');
      expect(html).toMatch(/<th scope="row">契約電話番号詳細<\/th><td><a class="button small secondary" href="\/contract\/numbers" aria-label="契約電話番号詳細を表示">表示<\/a>/);
      expect(html).toMatch(/<th scope="row">フリーコール\(選択\)電話番号詳細<\/th><td><a class="button small secondary" href="\/contract\/freecall" aria-label="フリーコール\(選択\)電話番号詳細を表示">表示<\/a>/);
      expect(mainText(html)).not.toContain('0312345678'); // the numbers are on their own screen
    });

    it('pages 契約電話番号詳細 one number at a time with NEXT and BACK', async () => {
      const first = await a.page('/contract/numbers');
      expectAccessibleForms(first);
      expect(mainText(first)).toContain('基本電話番号 0120222333 追加ダイヤルイン番号 0312345678 au携帯電話番号 09012345678 ご利用開始日 2010年11月15日');
      expect(first).toContain('href="/contract/numbers?page=2" rel="next">NEXT</a>');
      expect(first).toContain('<span class="button secondary small" aria-disabled="true">BACK</span>');
      expect(mainText(first)).toContain('1 / 2');
      const second = await a.page('/contract/numbers?page=2');
      expect(mainText(second)).toContain('追加ダイヤルイン番号 0312340000 au携帯電話番号 08033334444 ご利用開始日 2015年04月01日');
      expect(second).toContain('href="/contract/numbers" rel="prev">BACK</a>');
      expect(second).toContain('<span class="button secondary small" aria-disabled="true">NEXT</span>');
      expect(mainText(second)).toContain('2 / 2');
      expect(second).toContain('href="/contract">ご契約内容の確認へ戻る</a>');
    });

    it('sends the old address of the numbers (/contract?page=N) to their screen', async () => {
      const res = await a.get('/contract?page=2');
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/contract/numbers?page=2');
    });

    it('pages フリーコール(選択)電話番号詳細 the same way', async () => {
      const html = await a.page('/contract/freecall');
      expect(mainText(html)).toContain('フリーコール(選択)電話番号 0120222333');
      expect(mainText(html)).toContain('1 / 1');
      expect(html).not.toContain('rel="next"');
      expect(mainText(await a.page('/contract/freecall?page=2'))).toContain('このページに電話番号はありません。');
    });

    it('answers a malformed page number with a 400 page', async () => {
      for (const path of ['/contract?page=abc', '/contract/numbers?page=0', '/contract/freecall?page=x']) {
        const res = await a.get(path);
        expect(res.status, path).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      }
    });
  });

  describe('ご利用料金の確認', () => {
    it('shows the current month (provisional) and the four before it, newest first, in the manual’s columns', async () => {
      const html = await a.page('/charges');
      expectAccessibleForms(html);
      const months = [...html.matchAll(/<tr data-month="(\d{4}-\d{2})">/g)].map((m) => m[1]);
      expect(months).toEqual(['2017-12', '2017-11', '2017-10', '2017-09', '2017-08']);
      const head = /<thead>([\s\S]*?)<\/thead>/.exec(html)![1]!;
      expect([...head.matchAll(/<th scope="col">([\s\S]*?)<\/th>/g)].map((m) => m[1]!.replace(/<wbr\/>/g, ''))).toEqual([
        'ご利用年月', 'ご利用料金合計', '国内通話', '国際通話', '携帯/PHS通話', '電話番号別ご利用料金', '通話明細', '電報明細', 'ご利用期間',
      ]);
      const nov = mainText(/<tr data-month="2017-11">([\s\S]*?)<\/tr>/.exec(html)![1]!.replace(/<wbr\/>/g, ''));
      expect(nov).toBe(' 2017年11月分 1,928円 56円 0円 1,872円 画面に表示 作成 画面に表示 作成 1,230円 画面に表示 【11月01日～11月30日】 ');
      expect(mainText(/<tr data-month="2017-12">([\s\S]*?)<\/tr>/.exec(html)![1]!)).toContain('速報');
    });

    it('has 画面に表示 and 作成 for both files of every month, the 電報明細 column, and the notes under the table', async () => {
      const html = await a.page('/charges');
      const nov = /<tr data-month="2017-11">([\s\S]*?)<\/tr>/.exec(html)![1]!;
      expect(nov).toContain('href="/charges/2017-11/numbers">画面に表示</a>');
      expect(nov).toContain('href="/charges/2017-11/calls">画面に表示</a>');
      expect(nov).toContain('href="/charges/2017-11/telegrams" aria-label="2017年11月分 電報明細を画面に表示">画面に表示</a>');
      expect(nov).toContain('href="/charges/2017-11/exports/new?kind=numbers">作成</a>');
      expect(nov).toContain('href="/charges/2017-11/exports/new?kind=calls">作成</a>');
      // No file yet: nothing to download (the manual switches 作成 to ダウンロード once a file exists).
      expect(nov).not.toContain('ダウンロード');
      const text = mainText(html);
      expect(text).toContain('消費税は含まれていません');
      expect(text).toContain('電報料金はご利用料金合計に含まれていません');
      expect(text).toContain('月をまたがって通話された場合は、翌月のご請求となります。');
      expect(text).toContain('48時間');
      expect(text).toContain('毎月1日および末日は、CSVファイルの作成・ダウンロードはできません。');
    });

    it('shows each month’s telegram total, the same as its 電報明細', async () => {
      const html = await a.page('/charges');
      const cell = (month: string) => mainText(new RegExp(`<tr data-month="${month}">[\\s\\S]*?<td data-label="電報明細">([\\s\\S]*?)</td>`).exec(html)![1]!).trim();
      expect(cell('2017-11')).toBe('1,230円 画面に表示');
      expect(cell('2017-10')).toBe('0円 画面に表示');
    });
  });

  describe('電報明細', () => {
    it('lists the month’s telegrams with their total, apart from the call totals', async () => {
      const html = await a.page('/charges/2017-11/telegrams');
      expectAccessibleForms(html);
      const text = mainText(html);
      expect(text).toContain('2017年11月分 【11月01日～11月30日】');
      expect(text).toContain('電報料金合計 1,230.00円 件数 1件');
      expect(text).toContain('受付番号 ご利用日 あて先 種類 料金 R-4e5f60 2017年11月03日 東京都千代田区 慶弔 1,230.00円');
      expect(text).not.toContain('990.00'); // B's telegram
      expect(mainText(await a.page('/charges/2017-10/telegrams'))).toContain('この月の電報のご利用はありません。');
      expect((await a.get('/charges/2017-07/telegrams')).status).toBe(404);
    });

    it('shows a telegram stored before receipt numbers with none (—), still counted in the total', async () => {
      // The event as it was written before 受付番号 existed: no receiptNumber at all.
      const id = '5f9c0a3e-8f2b-4c1d-9e7a-1b2c3d4e5f62';
      const data = { telegramId: id, contractCode: A.code, date: '2017-08-21', month: '2017-08', destination: '東京都港区', kind: '祝電', charge: '880.00' };
      await f.db.store.append(streams.telegrams(A.code), [{ id, type: 'TelegramRecorded', data }]);
      await f.catchUp();
      const text = mainText(await a.page('/charges/2017-08/telegrams'));
      expect(text).toContain('電報料金合計 880.00円 件数 1件');
      expect(text).toContain('— 2017年08月21日 東京都港区 祝電 880.00円');
    });
  });

  describe('電話番号別ご利用料金', () => {
    it('shows each number with 2-decimal amounts in 円 and a 表示 link per category', async () => {
      const html = await a.page('/charges/2017-11/numbers');
      expectAccessibleForms(html);
      const row = /<tr data-number="0312345678">([\s\S]*?)<\/tr>/.exec(html)![1]!;
      expect(mainText(row)).toBe(' 0312345678 1,928.50円 表示 56.00円 表示 0.00円 表示 1,000.00円 表示 872.50円 表示 1,872.50円 ');
      for (const cat of ['domestic', 'international', 'au', 'otherMobile']) expect(row).toContain(`href="/charges/2017-11/numbers/0312345678/calls?category=${cat}"`);
      // Telegrams have a screen of their own, linked from here; their charges are never in these figures.
      expect(html).toContain('href="/charges/2017-11/telegrams">2017年11月分の電報明細</a>');
      expect(mainText(html)).not.toContain('1,230.00円');
      expect(html).not.toContain('0698765432'); // B's number
    });

    it('answers a month outside the window, or not a month, with a 404 page', async () => {
      for (const path of ['/charges/2017-07/numbers', '/charges/2018-01/numbers', '/charges/2017-13/numbers', '/charges/x/numbers']) {
        const res = await a.get(path);
        expect(res.status, path).toBe(404);
        const html = await res.text();
        expect(html).toContain('ページが見つかりません');
        expect(html).toContain('ログアウト'); // still inside the portal's frame
      }
    });
  });

  describe('ご利用明細', () => {
    /** The rows of the listing's table (not of the summary above it). */
    const callRows = (html: string) => /<table class="stacked">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(html)![1]!.match(/<tr>/g)!;

    it('shows 10 calls a page in start order, with the manual’s date-time, duration and amount formats', async () => {
      const html = await a.page('/charges/2017-11/numbers/0312345678/calls');
      expectAccessibleForms(html);
      expect(callRows(html)).toHaveLength(10);
      const text = mainText(html);
      expect(text).toContain('全12件');
      expect(text).toContain('番号 通話開始日時 通話先電話番号 地域名 通話時間 通話料金');
      expect(text).toContain('1 11/01(水)10時12分00.5秒 03-1111-2222 東京 0時間 01分 06.0秒 8.00円');
      expect(text).toContain('電話番号別利用料金照会画面へ戻る');
      expect(html).toContain('href="/charges/2017-11/numbers/0312345678/calls?page=2" rel="next">次の10件</a>');
      const second = mainText(await a.page('/charges/2017-11/numbers/0312345678/calls?page=2'));
      expect(second).toContain('11 11/13(月)09時00分00.0秒 090-1234-5678 携帯 0時間 01分 06.0秒 500.00円');
      expect(second).toContain('12 11/14(火)');
      expect(second).toContain('前の10件');
    });

    it('heads every page with the whole listing’s ご利用金額合計 and 「10件/ページまで表示します」', async () => {
      const { items } = await f.queries.monthCharges(A.code, '2017-11').then((m) => ({ items: m.numbers }));
      const whole = yenJa(items.find((n) => n.number === A.dialIn)!.normal.total);
      for (const page of ['', '?page=2']) {
        const text = mainText(await a.page(`/charges/2017-11/numbers/0312345678/calls${page}`));
        expect(text, page).toContain(`ご利用金額合計 ${whole} 通話件数 全12件`);
        expect(text, page).toContain('10件/ページまで表示します');
      }
      expect(whole).toBe('1,928.50円');
      const domestic = mainText(await a.page('/charges/2017-11/numbers/0312345678/calls?category=domestic'));
      expect(domestic).toContain('ご利用金額合計 56.00円 通話件数 全7件'); // the manual's example
    });

    it('filters by category', async () => {
      const text = mainText(await a.page('/charges/2017-11/numbers/0312345678/calls?category=otherMobile'));
      expect(text).toContain('（その他移動体）');
      expect(text).toContain('全3件');
      expect(text).toContain('272.50円');
      expect(text).not.toContain('8.00円');
      expect((await a.get('/charges/2017-11/numbers/0312345678/calls?category=telegram')).status).toBe(404);
    });
  });

  describe('通話明細 「画面に表示」', () => {
    it('lets the customer choose the number and the category when the month has several', async () => {
      await recordCalls(f, A.code, [row('0312340000', '2017/09/12', '100000.0', '国内呼', '8.00'), row(A.dialIn, '2017/09/13', '100000.0', '国内呼', '16.00')]);
      await f.catchUp();
      const html = await a.page('/charges/2017-09/calls');
      expectAccessibleForms(html);
      expect(html).toContain('<form class="stack" method="get" action="/charges/2017-09/calls">');
      const options = [...html.matchAll(/<option value="(\d+)"[^>]*>([^<]*)<\/option>/g)].map((m) => [m[1], m[2]]);
      expect(options).toEqual([
        ['0312340000', '0312340000（1件）'],
        ['0312345678', '0312345678（1件）'],
      ]);
      const chosen = await a.get('/charges/2017-09/calls?number=0312340000&category=domestic');
      expect(chosen.status).toBe(303);
      expect(chosen.headers.get('location')).toBe('/charges/2017-09/numbers/0312340000/calls?category=domestic');
      const all = await a.get('/charges/2017-09/calls?number=0312345678&category=');
      expect(all.headers.get('location')).toBe('/charges/2017-09/numbers/0312345678/calls');
    });

    it('goes straight to the listing when the month has one number, and refuses a number that is not the month’s', async () => {
      const one = await a.get('/charges/2017-11/calls');
      expect(one.status).toBe(303);
      expect(one.headers.get('location')).toBe('/charges/2017-11/numbers/0312345678/calls');
      for (const q of ['number=0698765432', 'number=0312345678&category=x']) {
        expect((await a.get(`/charges/2017-11/calls?${q}`)).status, q).toBe(404);
      }
    });
  });

  describe('tenant isolation', () => {
    it('answers another contract’s number with a 404 page, as the API does', async () => {
      for (const path of [`/charges/2017-11/numbers/${B.dialIn}/calls`, `/charges/2017-12/numbers/${B.dialIn}/calls?category=international`, '/charges/2017-11/numbers/0000/calls']) {
        const res = await a.get(path);
        expect(res.status, path).toBe(404);
        const html = await res.text();
        expect(html).not.toContain('120.00円');
        expect(html).not.toContain('16.00円');
      }
    });

    it('answers another contract’s export (status and file) with a 404 page', async () => {
      const b = new Client(f);
      await b.logIn(B.selfId, B.password);
      const created = await b.post('/charges/2017-11/exports', { _csrf: csrfOf(await b.page('/charges/2017-11/exports/new?kind=numbers')), kind: 'numbers', encoding: 'sjis' });
      expect(created.status).toBe(202);
      const id = /\/exports\/([0-9a-f-]{36})/.exec(await created.text())![1]!;
      expect((await b.get(`/exports/${id}`)).status).toBe(200);
      expect((await a.get(`/exports/${id}`)).status).toBe(404);
      expect((await a.get(`/exports/${id}/file`)).status).toBe(404);
      expect((await a.get('/exports/not-a-uuid')).status).toBe(404);
    });
  });

  describe('the CSV download flow', () => {
    it('作成受付の確認 → 作成受付完了 (moves on by itself) → ただいま作成中です → 明細ダウンロード of the Shift_JIS file', async () => {
      const confirm = await a.page('/charges/2017-11/exports/new?kind=numbers');
      expectAccessibleForms(confirm);
      expect(mainText(confirm)).toContain('作成受付の確認');
      expect(mainText(confirm)).toContain('電話番号別ご利用料金');
      expect(confirm).toContain('>明細作成</button>');

      const accepted = await a.post('/charges/2017-11/exports', { _csrf: csrfOf(confirm), kind: 'numbers', encoding: 'sjis' });
      expect(accepted.status).toBe(202);
      const acceptedHtml = await accepted.text();
      expect(acceptedHtml).toContain('<h1>作成受付完了</h1>');
      const id = /<meta http-equiv="refresh" content="3;url=\/exports\/([0-9a-f-]{36})"/.exec(acceptedHtml)?.[1];
      expect(id).toBeDefined();

      const pending = await a.page(`/exports/${id}`);
      expect(mainText(pending)).toContain('ただいま作成中です');
      expect(pending).toContain(`href="/exports/${id}">画面を更新する(リロード)</a>`);
      const early = await a.get(`/exports/${id}/file`);
      expect(early.status).toBe(303);
      expect(early.headers.get('location')).toBe(`/exports/${id}`);

      const worker = new ExportWorker({ db: f.db.database.db, queries: f.queries, build: buildCsv, clock: () => f.now });
      while (await worker.runOnce());

      const ready = await a.page(`/exports/${id}`);
      expect(ready).toContain(`href="/exports/${id}/file" download="">明細ダウンロード</a>`);
      expect(mainText(ready)).toContain('48時間');
      expect(mainText(ready)).toContain('保存期限 2017年12月17日 12時00分');

      const file = await a.get(`/exports/${id}/file`);
      expect(file.status).toBe(200);
      expect(file.headers.get('content-type')).toBe('text/csv; charset=Shift_JIS');
      expect(file.headers.get('content-disposition')).toMatch(/^attachment; /);
      const bytes = new Uint8Array(await file.arrayBuffer());
      const header = iconv.encode('ご利用電話番号', 'cp932');
      expect([...bytes.subarray(0, header.length)]).toEqual([...header]);
      expect(iconv.decode(Buffer.from(bytes), 'cp932')).toContain('0312345678,1928.50,56.00,0.00,1000.00,872.50');

      const downloads = await a.page('/charges/2017-11/downloads');
      expect(downloads).toContain(`href="/exports/${id}/file"`);
      expect(mainText(downloads)).toContain('通話明細');
      expect(mainText(downloads)).toContain('ファイルはまだ作成されていません');
    });

    it('shows each file’s state in the monthly table: 作成, 作成中 while it is made, ダウンロード with its 保存期限, 作成 again after 48 hours', async () => {
      const cell = (html: string, label: string) => new RegExp(`<tr data-month="2017-09">[\\s\\S]*?<td data-label="${label}">([\\s\\S]*?)</td>`).exec(html)![1]!;
      const before = await a.page('/charges');
      expect(cell(before, '通話明細')).toContain('href="/charges/2017-09/exports/new?kind=calls">作成</a>');
      const accepted = await a.post('/charges/2017-09/exports', { _csrf: csrfOf(before), kind: 'calls', encoding: 'sjis' });
      const id = /\/exports\/([0-9a-f-]{36})/.exec(await accepted.text())![1]!;

      const pending = cell(await a.page('/charges'), '通話明細');
      expect(pending).toContain(`href="/exports/${id}" aria-label="作成中（状況を表示）">作成中</a>`);
      expect(pending).not.toContain('作成</a>');
      expect(pending).not.toContain('ダウンロード');
      // The other file of the month is untouched.
      expect(cell(await a.page('/charges'), '電話番号別ご利用料金')).toContain('href="/charges/2017-09/exports/new?kind=numbers">作成</a>');

      const worker = new ExportWorker({ db: f.db.database.db, queries: f.queries, build: buildCsv, clock: () => f.now });
      while (await worker.runOnce());
      const ready = cell(await a.page('/charges'), '通話明細');
      expect(ready).toContain(`href="/exports/${id}/file" download="">ダウンロード</a>`);
      expect(mainText(ready)).toContain('保存期限 12/17 12:00');
      expect(ready).not.toContain('作成');

      await at(new Date(MID_DECEMBER_2017.getTime() + 49 * 3_600_000), async () => {
        const later = new Client(f);
        await later.logIn(A.selfId, A.password);
        const expired = cell(await later.page('/charges'), '通話明細');
        expect(expired).toContain('href="/charges/2017-09/exports/new?kind=calls">作成</a>');
        expect(expired).not.toContain('ダウンロード');
      });
    });

    it('after 48 hours says the file is gone (410) and offers 作成 again', async () => {
      const confirm = await a.page('/charges/2017-10/exports/new?kind=calls');
      const accepted = await a.post('/charges/2017-10/exports', { _csrf: csrfOf(confirm), kind: 'calls', encoding: 'utf-8' });
      const id = /\/exports\/([0-9a-f-]{36})/.exec(await accepted.text())![1]!;
      const worker = new ExportWorker({ db: f.db.database.db, queries: f.queries, build: buildCsv, clock: () => f.now });
      while (await worker.runOnce());
      const utf8 = await a.get(`/exports/${id}/file`);
      expect(utf8.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      await at(new Date(MID_DECEMBER_2017.getTime() + 49 * 3_600_000), async () => {
        const later = new Client(f);
        await later.logIn(A.selfId, A.password);
        const status = await later.page(`/exports/${id}`);
        expect(mainText(status)).toContain('保存期間（48時間）が過ぎた');
        expect(status).toContain('href="/charges/2017-10/exports/new?kind=calls">作成</a>');
        const gone = await later.get(`/exports/${id}/file`);
        expect(gone.status).toBe(410);
        expect(mainText(await gone.text())).toContain('もう一度作成してください');
      });
    });

    it('on the 1st and the last day, says files can be neither created nor downloaded, and disables the buttons', async () => {
      for (const day of [new Date('2017-11-30T03:00:00Z'), new Date('2017-12-01T03:00:00Z')]) {
        await at(day, async () => {
          const c = new Client(f);
          await c.logIn(A.selfId, A.password);
          const charges = await c.page('/charges');
          expect(charges).toContain('<p class="alert" role="alert">毎月1日および末日は、CSVファイルの作成・ダウンロードはできません。');
          expect(charges).toContain('<span class="button small secondary" aria-disabled="true">作成</span>');
          expect(charges).not.toContain('/exports/new');
          const create = await c.get('/charges/2017-11/exports/new?kind=numbers');
          expect(create.status).toBe(503);
          expect(mainText(await create.text())).toContain('毎月1日および末日は、CSVファイルの作成・ダウンロードはできません。');
          const post = await c.post('/charges/2017-11/exports', { _csrf: csrfOf(charges), kind: 'numbers', encoding: 'sjis' });
          expect(post.status).toBe(503);
          expect((await c.get('/charges/2017-11/downloads')).status).toBe(503);
        });
      }
    });
  });

  describe('CSRF on every form', () => {
    it('refuses each logged-in form without the token or with another session’s token (403), changing nothing', async () => {
      const other = new Client(f);
      await other.logIn(A.selfId, A.password);
      const foreign = csrfOf(await other.page('/menu'));
      const forms: [string, Record<string, string>][] = [
        ['/logout', {}],
        ['/password/confirm', { currentPassword: A.password, newPassword: 'zz99', newPasswordConfirmation: 'zz99' }],
        ['/password/complete', { pending: 'x' }],
        ['/charges/2017-11/exports', { kind: 'numbers', encoding: 'sjis' }],
      ];
      for (const [path, fields] of forms) {
        for (const token of [undefined, foreign, '']) {
          const res = await a.post(path, token === undefined ? fields : { ...fields, _csrf: token });
          expect(res.status, `${path} with ${token === undefined ? 'no' : 'a foreign'} token`).toBe(403);
        }
      }
      // a cross-site JSON body cannot stand in for the form either
      const json = await a.request('POST', '/logout', undefined, { 'content-type': 'application/json' });
      expect(json.status).toBe(403);
      expect((await a.get('/menu')).status).toBe(200); // still logged in
    });

    it('leaves the JSON API as it was: no CSRF form, no cookie session there', async () => {
      const res = await f.request('POST', '/api/v1/session', { json: { selfId: A.selfId, password: A.password } });
      expect(res.status).toBe(200);
      expect(res.headers.get('set-cookie')).toBeNull();
      const byCookie = await a.get('/api/v1/contract');
      expect(byCookie.status).toBe(401);
      expect(byCookie.headers.get('content-type')).toMatch(/application\/json/);
    });
  });

  describe('ログアウト', () => {
    it('ends the session and clears the cookie', async () => {
      const c = new Client(f);
      await c.logIn(A.selfId, A.password);
      const token = c.cookies.get('ledger_session')!;
      const res = await c.post('/logout', { _csrf: csrfOf(await c.page('/menu')) });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/login?reason=logout');
      expect(c.lastSetCookies.find((s) => s.startsWith('ledger_session='))).toMatch(/Max-Age=0/);
      expect(mainText(await c.page('/login?reason=logout'))).toContain('ログアウトしました。');
      c.cookies.set('ledger_session', token);
      expect((await c.get('/menu')).headers.get('location')).toBe('/login?reason=expired');
    });
  });

  describe('パスワードの変更', () => {
    it('開始 shows the rules and three labelled password fields', async () => {
      const html = await a.page('/password');
      expectAccessibleForms(html);
      const text = mainText(html);
      expect(text).toContain('セルフパスワード変更（開始）');
      expect(text).toContain('4文字以上8文字以内の半角英数字');
      expect(text).toContain('英字と数字をそれぞれ1文字以上含める');
      expect(text).toContain('セルフIDと同じ文字列は設定できません');
      for (const id of ['currentPassword', 'newPassword', 'newPasswordConfirmation']) expect(html).toMatch(new RegExp(`<input id="${id}" name="${id}" type="password"`));
    });

    it.each([
      ['abc', 'newPassword', '4文字以上8文字以内で入力してください。'],
      ['abc123456', 'newPassword', '4文字以上8文字以内で入力してください。'],
      ['abc12!', 'newPassword', '半角英数字（A～Z、a～z、0～9）のみで入力してください。'],
      ['ａｂｃ１２', 'newPassword', '半角英数字（A～Z、a～z、0～9）のみで入力してください。'],
      ['abcdef', 'newPassword', '英字と数字を、それぞれ1文字以上含めてください。'],
      ['d123456789', 'newPassword', 'セルフIDと同じ文字列は、セルフパスワードに設定できません。'],
    ])('explains a broken rule next to its field: %s', async (newPassword, field, message) => {
      const csrf = csrfOf(await a.page('/password'));
      const res = await a.post('/password/confirm', { _csrf: csrf, currentPassword: A.password, newPassword, newPasswordConfirmation: newPassword });
      expect(res.status).toBe(422);
      const html = await res.text();
      expect(html).toMatch(new RegExp(`<input id="${field}"[^>]*aria-invalid="true"[^>]*aria-describedby="${field}-error[^"]*"`));
      const error = new RegExp(`<div class="error" id="${field}-error">([\\s\\S]*?)</div>`).exec(html)?.[1] ?? '';
      expect(mainText(error)).toContain(message);
      expect(html).not.toContain(`value="${newPassword}"`);
    });

    it('explains a wrong current password and a differing confirmation next to their fields', async () => {
      const csrf = csrfOf(await a.page('/password'));
      const res = await a.post('/password/confirm', { _csrf: csrf, currentPassword: 'wrong1', newPassword: 'new123', newPasswordConfirmation: 'NEW123' });
      expect(res.status).toBe(422);
      const html = await res.text();
      expect(mainText(/id="currentPassword-error">([\s\S]*?)<\/div>/.exec(html)![1]!)).toContain('現在のセルフパスワードが正しくありません。');
      expect(mainText(/id="newPasswordConfirmation-error">([\s\S]*?)<\/div>/.exec(html)![1]!)).toContain('一致しません');
      expect(mainText(html)).toContain('入力内容に誤りがあります（2件）');
    });

    it('refuses a tampered or foreign 確認 step', async () => {
      const csrf = csrfOf(await a.page('/password'));
      const res = await a.post('/password/complete', { _csrf: csrf, pending: 'AAAA'.repeat(20) });
      expect(res.status).toBe(422);
      expect(mainText(await res.text())).toContain('確認画面の有効期限が切れました');
      const other = new Client(f);
      await other.logIn(A.selfId, A.password);
      const otherConfirm = await other.post('/password/confirm', { _csrf: csrfOf(await other.page('/password')), currentPassword: A.password, newPassword: 'zz1234', newPasswordConfirmation: 'zz1234' });
      const sealed = /name="pending" value="([^"]+)"/.exec(await otherConfirm.text())![1]!;
      const stolen = await a.post('/password/complete', { _csrf: csrf, pending: sealed });
      expect(stolen.status).toBe(422);
    });

    it('開始 → 確認 (no password in the page) → 完了 with 「メニューに戻る」; then only the new password logs in', async () => {
      const csrf = csrfOf(await a.page('/password'));
      const confirm = await a.post('/password/confirm', { _csrf: csrf, currentPassword: A.password, newPassword: 'New2pass', newPasswordConfirmation: 'New2pass' });
      expect(confirm.status).toBe(200);
      const confirmHtml = await confirm.text();
      expect(mainText(confirmHtml)).toContain('セルフパスワード変更（確認）');
      expect(confirmHtml).not.toContain('New2pass');
      expect(confirmHtml).not.toContain(A.password);
      expect(confirmHtml).toContain('●'.repeat(8));
      const pending = /name="pending" value="([^"]+)"/.exec(confirmHtml)![1]!;
      // still the old password: nothing changes before 完了
      expect((await new Client(f).logIn(A.selfId, A.password)).status).toBe(303);

      const done = await a.post('/password/complete', { _csrf: csrfOf(confirmHtml), pending });
      expect(done.status).toBe(200);
      const doneHtml = await done.text();
      expect(mainText(doneHtml)).toContain('セルフパスワード変更（完了）');
      expect(doneHtml).toContain('href="/menu">メニューに戻る</a>');
      expect((await a.get('/menu')).status).toBe(200); // this session stays

      expect((await new Client(f).logIn(A.selfId, A.password)).status).toBe(401);
      expect((await new Client(f).logIn(A.selfId, 'New2pass')).status).toBe(303);
      // The same sealed step cannot be replayed to change it again: the current password inside is no longer right.
      expect((await a.post('/password/complete', { _csrf: csrfOf(doneHtml), pending })).status).toBe(422);
    });
  });

  describe('lockout', () => {
    it('after 5 wrong passwords in a row says the self ID is locked for 15 minutes (429), even to the right password', async () => {
      const c = new Client(f);
      const texts: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await c.logIn(B.selfId, 'nope99');
        expect(res.status).toBe(401);
        texts.push(mainText(await res.text()));
      }
      // The 4th says the next one locks; the 5th that it did, and until when.
      expect(texts[2]).not.toContain('あと1回');
      expect(texts[3]).toContain('セルフIDまたはセルフパスワードが正しくありません。あと1回間違えると、15分間ログインできなくなります。');
      expect(texts[4]).toContain('このセルフIDは15分間ログインできません。2017年12月15日 12時15分以降に');
      const locked = await c.logIn(B.selfId, B.password);
      expect(locked.status).toBe(429);
      expect(mainText(await locked.text())).toContain('ログインに5回続けて失敗したため、このセルフIDは15分間ログインできません。2017年12月15日 12時15分以降に');
      expect(c.cookies.has('ledger_session')).toBe(false);
    });

    it('counts wrong current passwords of a change toward the same lock: the 4th warns, the 5th says until when, then the change is refused', async () => {
      const code = 'd400000001';
      await handleContractCommand(f.db.store, { type: 'OpenContract', contractCode: code, selfId: code, startDate: '2010-11-15', channels: 1, connectionType: 'ダイヤルイン接続', primaryDns: '192.0.2.1', secondaryDns: '192.0.2.2', basicNumber: '0354000001' });
      await setInitialCredentials(f.db.database.db, { contractCode: code, selfId: code, password: 'own123' });
      await f.catchUp();
      const c = new Client(f);
      expect((await c.logIn(code, 'own123')).status).toBe(303);
      const confirm = async (currentPassword: string) =>
        c.post('/password/confirm', { _csrf: csrfOf(await c.page('/password')), currentPassword, newPassword: 'new123', newPasswordConfirmation: 'new123' });
      const texts: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await confirm(`bad${i}00`);
        expect(res.status).toBe(422);
        texts.push(mainText(await res.text()));
      }
      expect(texts[3]).toContain('現在のセルフパスワードが正しくありません。あと1回間違えると、15分間ログインとセルフパスワードの変更ができなくなります。');
      expect(texts[4]).toContain('セルフパスワードを5回続けて間違えたため、15分間ログインとセルフパスワードの変更ができません。2017年12月15日 12時15分以降に');
      const refused = await confirm('own123');
      expect(refused.status).toBe(429);
      expect(mainText(await refused.text())).toContain('2017年12月15日 12時15分以降に、もう一度お試しください。');
      expect((await new Client(f).logIn(code, 'own123')).status).toBe(429);
    });
  });

  describe('セルフページについてのお問い合わせ先', () => {
    it('names the support desk, its number and hours in every page’s footer', async () => {
      for (const path of ['/menu', '/contract', '/contract/numbers', '/password', '/charges', '/charges/2017-11/numbers', '/charges/2017-11/telegrams', '/charges/2017-11/numbers/0312345678/calls']) {
        const html = await a.page(path);
        const footer = /<footer class="site" aria-labelledby="support-title">([\s\S]*?)<\/footer>/.exec(html)?.[1];
        expect(footer, path).toBeDefined();
        expect(mainText(footer!), path).toBe(
          ` セルフページについてのお問い合わせ先 窓口 ${DEFAULT_SUPPORT_DESK.name} 電話番号 ${DEFAULT_SUPPORT_DESK.phone} 受付時間 ${DEFAULT_SUPPORT_DESK.hours} `,
        );
        expect(footer, path).toContain('href="tel:0300000000"');
      }
    });

    it('shows it on the login page, beside the form, once', async () => {
      const html = await new Client(f).page('/login');
      expect(mainText(html)).toContain(`セルフページについてのお問い合わせ先 セルフパスワードをお忘れの場合や、ログインできない場合は、こちらにお問い合わせください。`);
      expect(mainText(html)).toContain(`電話番号 ${DEFAULT_SUPPORT_DESK.phone}`);
      expect(html.match(/セルフページについてのお問い合わせ先/g)).toHaveLength(1);
    });

    it('shows the configured desk instead of the default', async () => {
      const desk = { name: '法人お客さまセンター', phone: '0120-123-456', hours: '24時間受付' };
      const c = new Client({ ...f, app: f.appWith({ support: desk }) });
      const login = await c.page('/login');
      expect(login).toContain('<a href="tel:0120123456">0120-123-456</a>');
      expect(mainText(login)).toContain('窓口 法人お客さまセンター 電話番号 0120-123-456 受付時間 24時間受付');
      for (const [name, value] of a.cookies) c.cookies.set(name, value); // a's session, on the other app
      const menu = await c.page('/menu');
      expect(mainText(/<footer[\s\S]*<\/footer>/.exec(menu)![0])).toContain('窓口 法人お客さまセンター 電話番号 0120-123-456 受付時間 24時間受付');
      expect(menu).not.toContain(DEFAULT_SUPPORT_DESK.phone);
    });
  });

  describe('the stylesheet', () => {
    it('is served as CSS; pages forbid inline scripts and styles', async () => {
      const css = await new Client(f).get('/portal.css');
      expect(css.status).toBe(200);
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      expect(await css.text()).toContain('@media (max-width: 720px)');
      const page = await a.get('/menu');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(await page.text()).not.toMatch(/<script|style="/);
    });
  });
});
