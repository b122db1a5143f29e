// The frame of every page: header, the left menu (メニュー / ご契約内容の確認 / パスワードの変更 /
// ご利用料金の確認 / ログアウト), the page's main content, the footer naming the support desk; and
// pageRenderer(), which answers with it.
import type { Context } from 'hono';
import type { Child, FC, PropsWithChildren } from 'hono/jsx';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { CSRF_FIELD } from './security.ts';
import { SupportDeskContext, SupportDeskDetails, type SupportDesk } from './support.tsx';

export type MenuKey = 'menu' | 'contract' | 'password' | 'charges';

export interface PageProps {
  readonly title: string;
  /** Absent on the pages before login (no menu). */
  readonly menu?: { readonly current?: MenuKey; readonly csrf: string; readonly contractCode: string };
  /** `<meta http-equiv="refresh">`: seconds and target (作成受付完了 moves on by itself). */
  readonly refresh?: { readonly seconds: number; readonly to: string };
  /** The page shows the support desk in its own body (ログイン), so the footer does not repeat it. */
  readonly supportInBody?: boolean;
}

const MENU: readonly { key: MenuKey; href: string; label: string }[] = [
  { key: 'menu', href: '/menu', label: 'メニュー' },
  { key: 'contract', href: '/contract', label: 'ご契約内容の確認' },
  { key: 'password', href: '/password', label: 'パスワードの変更' },
  { key: 'charges', href: '/charges', label: 'ご利用料金の確認' },
];

export const Layout: FC<PropsWithChildren<PageProps>> = ({ title, menu, refresh, supportInBody, children }) => (
  <html lang="ja">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      {refresh ? <meta http-equiv="refresh" content={`${refresh.seconds};url=${refresh.to}`} /> : null}
      <title>{`${title} | auオフィスナンバー セルフページ`}</title>
      <link rel="stylesheet" href="/portal.css" />
    </head>
    <body>
      <a class="skip" href="#main">
        本文へ移動
      </a>
      <header class="site">
        <p class="product">auオフィスナンバー セルフページ</p>
        {menu ? <p class="who">契約コード {menu.contractCode}</p> : null}
      </header>
      <div class="frame">
        {menu ? (
          // Named for assistive technology only: a visible heading "メニュー" above the link "メニュー" said it twice.
          <nav class="menu" aria-label="メニュー">
            <ul>
              {MENU.map((m) => (
                <li>
                  <a href={m.href} aria-current={m.key === menu.current ? 'page' : undefined}>
                    {m.label}
                  </a>
                </li>
              ))}
              <li>
                <form method="post" action="/logout">
                  <input type="hidden" name={CSRF_FIELD} value={menu.csrf} />
                  <button type="submit">ログアウト</button>
                </form>
              </li>
            </ul>
          </nav>
        ) : null}
        <main id="main" tabindex={-1}>
          <h1>{title}</h1>
          {children}
        </main>
      </div>
      {supportInBody ? null : (
        <footer class="site" aria-labelledby="support-title">
          <h2 id="support-title">セルフページについてのお問い合わせ先</h2>
          <SupportDeskDetails />
        </footer>
      )}
    </body>
  </html>
);

export const CsrfField: FC<{ token: string }> = ({ token }) => <input type="hidden" name={CSRF_FIELD} value={token} />;

/** A table that scrolls by keyboard when it is wider than the screen. */
export const Region: FC<PropsWithChildren<{ label: string }>> = ({ label, children }) => (
  <div role="region" aria-label={label}>
    {children}
  </div>
);

export type Render = (c: Context, page: Child, status?: ContentfulStatusCode) => Promise<Response>;

/** Answers with a whole page, its footer naming `support`; personal data, so never cached. */
export function pageRenderer(support: SupportDesk): Render {
  return async (c, page, status = 200) => {
    c.header('Cache-Control', 'no-store');
    c.header('Content-Security-Policy', "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    const html = await (<SupportDeskContext.Provider value={support}>{page}</SupportDeskContext.Provider>).toString();
    return c.html(`<!DOCTYPE html>${html}`, status);
  };
}
