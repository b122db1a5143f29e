// Every link of every Markdown file in the repository resolves inside it (issue 15 §1): a clone is
// all a reader has. A link to another host, or to a path outside the repository, fails; so does a
// relative link to a file that is not there, or an #anchor that no heading of its target makes.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

/** Tracked and new (not ignored) Markdown files: what a commit would carry. */
function markdownFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z', '--', '*.md'], { cwd: root, encoding: 'utf8' });
  return out.split('\0').filter((f) => f !== '' && existsSync(join(root, f)));
}

/** Link targets outside code: [text](target), ![alt](target), <a href>, <img src>. */
export function linksOf(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^\s*(```|~~~)/.test(text)) {
      fenced = !fenced;
      return;
    }
    if (fenced) return;
    const prose = text.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1]!, line: i + 1 });
    for (const m of prose.matchAll(/<(?:a|img)\b[^>]*\b(?:href|src)="([^"]+)"/g)) links.push({ target: m[1]!, line: i + 1 });
  });
  return links;
}

/** The anchors GitHub makes of a file's headings. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const text of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(text)) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const slug = heading[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Why a link does not resolve inside the repository, or undefined when it does. */
export function brokenLink(file: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return 'points outside the repository';
  const [path = '', anchor] = target.split('#', 2) as [string, string | undefined];
  const decoded = decodeURI(path);
  const to = decoded === '' ? join(root, file) : decoded.startsWith('/') ? join(root, decoded) : resolve(root, dirname(file), decoded);
  const inside = relative(root, to);
  if (inside.startsWith('..') || resolve(inside) === inside) return 'points outside the repository';
  if (!existsSync(to)) return `${inside} does not exist`;
  if (anchor !== undefined && anchor !== '' && statSync(to).isFile() && to.endsWith('.md')) {
    if (!anchorsOf(readFileSync(to, 'utf8')).has(decodeURIComponent(anchor).toLowerCase())) return `${inside} has no heading for #${anchor}`;
  }
  return undefined;
}

describe('the Markdown files of the repository', () => {
  it('link only to files and headings inside it', () => {
    const files = markdownFiles();
    expect(files).toContain('README.md');
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      for (const { target, line } of linksOf(readFileSync(join(root, file), 'utf8'))) {
        checked++;
        const why = brokenLink(file, target);
        if (why) broken.push(`${file}:${line}: ${target}: ${why}`);
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(10);
  });

  it('finds what a broken link looks like', () => {
    expect(brokenLink('README.md', '../shared/SPEC.md')).toBe('points outside the repository');
    expect(brokenLink('README.md', 'https://example.com/')).toBe('points outside the repository');
    expect(brokenLink('README.md', 'docs/no-such-page.md')).toBe('docs/no-such-page.md does not exist');
    expect(brokenLink('docs/cli.md', 'formats.md#no-such-heading')).toBe('docs/formats.md has no heading for #no-such-heading');
    expect(brokenLink('docs/cli.md', 'formats.md#corrections-json-lines')).toBeUndefined();
    expect(linksOf('see [a](x.md) and `[b](y.md)`\n```\n[c](z.md)\n```\n<img src="p.png">').map((l) => l.target)).toEqual(['x.md', 'p.png']);
    expect([...anchorsOf('## Call details from the carrier (通話明細 CSV)\n## Closed months\n## Closed months')]).toEqual([
      'call-details-from-the-carrier-通話明細-csv',
      'closed-months',
      'closed-months-1',
    ]);
  });
});
