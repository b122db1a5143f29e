// The portal's one stylesheet, served at /portal.css (a file, not inline, so the pages' CSP can
// forbid inline styles and scripts). Layout: menu on the left; below 720 px the menu goes on top
// and the wide tables turn into labelled blocks, so a 360 px screen never scrolls sideways.
// Japanese wraps between any two characters by default, which cut headers mid-word (国内通/話):
// headers keep words whole (word-break: keep-all) and break only where the markup offers a <wbr>,
// and a cell's buttons stay on one line at desktop widths.
export const PORTAL_CSS = `
:root { --blue: #0b4ea2; --ink: #1d2430; --line: #c9d1dc; --soft: #eef3fa; --warn: #9b1c1c; --ok: #17603a; }
* { box-sizing: border-box; }
html { font-size: 100%; -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.6;
  font-family: "Hiragino Kaku Gothic ProN", "Noto Sans CJK JP", "Noto Sans JP", Meiryo, system-ui, sans-serif; }
a { color: var(--blue); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid #f0a500; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; top: 0; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 10; }
header.site { background: var(--blue); color: #fff; padding: 10px 16px; }
header.site .product { font-weight: bold; font-size: 1.1rem; margin: 0; }
header.site .who { font-size: .85rem; margin: 0; }
.frame { display: flex; align-items: flex-start; gap: 20px; max-width: 1280px; margin: 0 auto; padding: 16px; }
nav.menu { flex: 0 0 184px; border: 1px solid var(--line); border-radius: 6px; background: var(--soft); }
nav.menu ul { list-style: none; margin: 0; padding: 0; }
nav.menu li { border-bottom: 1px solid var(--line); }
nav.menu li:last-child { border-bottom: 0; }
nav.menu a, nav.menu button { display: block; width: 100%; padding: 10px 12px; text-align: left; font: inherit;
  color: var(--blue); background: none; border: 0; text-decoration: none; cursor: pointer; }
nav.menu a:hover, nav.menu button:hover { text-decoration: underline; }
nav.menu a[aria-current="page"] { font-weight: bold; color: var(--ink); background: #fff; }
main { flex: 1 1 auto; min-width: 0; }
h1 { font-size: 1.35rem; border-left: 6px solid var(--blue); padding-left: 10px; margin: 0 0 16px; }
h2 { font-size: 1.1rem; margin: 24px 0 8px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
thead th, tbody th[scope="row"] { background: var(--soft); text-align: left; }
thead th { word-break: keep-all; vertical-align: bottom; font-size: .9rem; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.monthly tbody th[scope="row"] { white-space: nowrap; }
table.monthly td.period { font-size: .9rem; word-break: keep-all; }
table.monthly th, table.monthly td { padding: 6px 6px; }
table.sum { width: auto; min-width: 280px; }
table.sum td.num { font-weight: bold; font-size: 1.05rem; }
caption { text-align: left; font-weight: bold; padding: 4px 0; }
table.kv { max-width: 860px; }
.kv th { width: 40%; }
.kv.contract th { width: 45%; }
.kv.sum th { width: auto; }
.notes { font-size: .9rem; padding-left: 1.2em; }
.notes li { margin: 2px 0; }
.alert { border: 2px solid var(--warn); color: var(--warn); background: #fdf2f2; padding: 10px 12px; border-radius: 6px; margin: 0 0 16px; }
.info { border: 1px solid var(--blue); background: var(--soft); padding: 10px 12px; border-radius: 6px; margin: 0 0 16px; }
.done { border: 2px solid var(--ok); color: var(--ok); background: #f0faf4; padding: 10px 12px; border-radius: 6px; margin: 0 0 16px; }
form.stack { max-width: 420px; }
.field { margin: 0 0 14px; }
.field label { display: block; font-weight: bold; margin-bottom: 4px; }
.field input, .field select { width: 100%; max-width: 320px; font: inherit; padding: 8px; border: 1px solid #8b96a5; border-radius: 4px; }
.field input[aria-invalid="true"] { border: 2px solid var(--warn); }
.field .error { color: var(--warn); margin: 4px 0 0; font-size: .95rem; }
.hint { font-size: .9rem; color: #4a5565; margin: 4px 0 0; }
.button, button.button { display: inline-block; font: inherit; padding: 8px 16px; margin: 2px 4px 2px 0; border-radius: 4px;
  border: 1px solid var(--blue); background: var(--blue); color: #fff; text-decoration: none; cursor: pointer; }
.button.secondary { background: #fff; color: var(--blue); }
.button.small { padding: 3px 8px; font-size: .85rem; }
.button[aria-disabled="true"] { background: #e5e7eb; color: #6b7280; border-color: #c5c9d0; cursor: not-allowed; }
.actions { margin: 16px 0; display: flex; flex-wrap: wrap; gap: 8px; }
.actions form { margin: 0; }
.pager { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0 16px; }
.pager .current { font-weight: bold; }
.buttons { display: flex; flex-wrap: nowrap; gap: 4px; align-items: center; white-space: nowrap; }
.buttons .amount { margin-right: 4px; font-variant-numeric: tabular-nums; }
.button.small.pending { border-style: dashed; }
.hint.expiry { display: block; margin-top: 2px; font-size: .8rem; white-space: nowrap; }
.nowrap { white-space: nowrap; }
.provisional { font-size: .8rem; color: var(--warn); display: block; }
tr.adjustment td, tr.adjustment th[scope="row"] { background: #fff8e6; }
.adjustment-tag { display: inline-block; font-size: .8rem; font-weight: bold; color: #7a4b00; background: #fde9b8;
  border: 1px solid #e0b85a; border-radius: 3px; padding: 0 6px; margin: 0 6px 2px 0; white-space: nowrap; }
.adjustment-what { display: block; font-size: .85rem; color: #4a5565; }
.adjustment-note { border: 1px solid #e0b85a; background: #fff8e6; padding: 8px 12px; border-radius: 6px; font-size: .9rem; margin: 8px 0; }
.menu-list li { margin: 4px 0; }
.support-box { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 24px 0 0; max-width: 560px; }
.support-box h2 { margin-top: 0; font-size: 1rem; }
dl.support { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dl.support dt { color: #4a5565; }
dl.support dd { margin: 0; }
footer.site { border-top: 1px solid var(--line); background: var(--soft); margin-top: 24px; padding: 12px 16px 20px; font-size: .9rem; }
footer.site h2 { font-size: .95rem; margin: 0 0 6px; }
footer.site > * { max-width: 1248px; margin-left: auto; margin-right: auto; }
@media (max-width: 720px) {
  .frame { display: block; padding: 10px; }
  nav.menu { margin-bottom: 16px; }
  nav.menu ul { display: flex; flex-wrap: wrap; }
  nav.menu li { flex: 1 1 50%; border-bottom: 0; border-top: 1px solid var(--line); }
  nav.menu li form { margin: 0; }
  .buttons { flex-wrap: wrap; }
  table.stacked thead { position: absolute; left: -9999px; }
  table.stacked, table.stacked tbody, table.stacked tr, table.stacked th, table.stacked td { display: block; width: 100%; }
  table.stacked tr { border: 1px solid var(--line); border-radius: 6px; margin-bottom: 10px; }
  table.stacked th, table.stacked td { border: 0; border-bottom: 1px solid #e3e8ef; text-align: left; white-space: normal; }
  table.stacked caption { display: block; }
  table.stacked td[data-label] { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: baseline; gap: 4px 12px; }
  table.stacked td[data-label]::before { content: attr(data-label); font-size: .85rem; color: #4a5565; text-align: left; }
  table.stacked th[scope="row"] { background: var(--soft); }
  .kv th { width: auto; }
}
`;
