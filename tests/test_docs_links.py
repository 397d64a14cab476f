"""Every relative link and #anchor in README.md and docs/*.md resolves (GitHub's heading slugs)."""
import re

from helpers import ROOT

LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def slugs(path):
    """The anchors GitHub makes of a markdown file's headings (outside code blocks)."""
    found, seen, in_code = set(), {}, False
    for line in path.read_text().splitlines():
        if line.startswith('```'):
            in_code = not in_code
        if in_code or not re.match(r'#{1,6} ', line):
            continue
        slug = re.sub(r'[^\w\- ]', '', line.lstrip('#').strip().lower()).replace(' ', '-')
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f'{slug}-{n}')
    return found


def pages():
    return [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md'))


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in pages():
        for target in LINK.findall(page.read_text()):
            if re.match(r'^(https?|mailto):', target):
                continue
            path, _, anchor = target.partition('#')
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f'{page.relative_to(ROOT)}: {target} (no such file)')
            elif anchor and dest.suffix == '.md' and anchor not in slugs(dest):
                broken.append(f'{page.relative_to(ROOT)}: {target} (no such heading)')
    assert not broken, broken


def test_slugs_follow_github():
    readme = slugs(ROOT / 'README.md')
    assert {'does-dn-b-hold-up', 'compile-mixed-precision-and-gpus',
            'use-it-in-any-mmdet--mmpretrain-config'} <= readme


def test_readme_stays_a_front_page():
    assert len((ROOT / 'README.md').read_text().splitlines()) <= 250
