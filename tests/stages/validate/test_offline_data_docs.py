"""Data Docs work offline (issue 32): every CDN address in GX's page templates has a local copy, and
a page pointed at them names only files that exist. (A real build is checked in tests/e2e.)"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from expectations.offline_assets import CDN_TO_LOCAL, GX_IMAGES, asset_cache, localize_page, localize_site

GX = importlib.util.find_spec("great_expectations")  # located, not imported: the import takes seconds
assert GX is not None and GX.origin is not None
TEMPLATES = Path(GX.origin).parent / "render" / "view" / "templates"


def test_every_cdn_address_in_gx_templates_has_a_local_copy() -> None:
    """A GX upgrade that adds a CDN script or stylesheet fails here, not in a user's offline browser."""
    found = set()
    for template in TEMPLATES.glob("*.j2"):
        found |= set(re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="(https://[^"]+)"', template.read_text()))
    assert found and found <= set(CDN_TO_LOCAL), sorted(found - set(CDN_TO_LOCAL))
    vendor = asset_cache() / "vendor"
    assert (vendor / ".complete").exists(), "run `make setup`: it fetches the Data Docs assets"
    assert not [local for local in CDN_TO_LOCAL.values() if not (vendor / local).is_file()]


def test_a_page_is_pointed_at_the_sites_copies(tmp_path: Path) -> None:
    site = tmp_path / "site"
    page = site / "validations" / "suite" / "run" / "page.html"
    page.parent.mkdir(parents=True)
    (site / "static" / "images").mkdir(parents=True)
    (site / "static" / "images" / "logo-long.png").write_bytes(b"png")
    cdn = "\n".join(
        f'<script src="{url}" integrity="sha384-x" crossorigin="anonymous"></script>' for url in CDN_TO_LOCAL
    )
    footer = '<footer>\n  <p>Stay current with our newsletter <a href="https://x.io/n">Subscribe</a></p>\n</footer>'
    page.write_text(f'<html><head>{cdn}</head><body><img src="{GX_IMAGES}logo-long.png?d=abc">{footer}</body></html>')
    assert localize_site(site) == 1
    html = page.read_text()
    assert "https://" not in html and "integrity" not in html and "newsletter" not in html and "crossorigin" not in html
    for src in re.findall(r'src="([^"]+)"', html):
        assert (page.parent / src).is_file(), src
    assert not localize_page(page, site / "static" / "vendor", site / "static" / "images")  # idempotent
