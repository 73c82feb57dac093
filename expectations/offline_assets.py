"""Data Docs that work offline: GX's CDN stylesheets and scripts, fetched once at set-up, served from the site.

GX 1.24's page templates load Bootstrap, jQuery, Font Awesome, bootstrap-table
and Vega from public CDNs. Opened without a network (how many teams read them),
the index is blank and failed checks look like passing ones. Set-up
(``python -m expectations.offline_assets``) downloads the same versions from the
npm registry into ``.cache/gx_assets/``; after every Data Docs build,
:func:`localize_site` copies them into the site's ``static/vendor/`` and points
each rewritten page at them by relative path.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import tarfile
import urllib.request
from pathlib import Path

from jobs.core.errors import SetupError
from jobs.core.settings import env_setting

log = logging.getLogger(__name__)

REGISTRY = "https://registry.npmjs.org"
PACKAGES: dict[str, tuple[str, ...]] = {
    "bootstrap@4.3.1": ("dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js"),
    "bootstrap-table@1.19.1": (
        "dist/bootstrap-table.min.css",
        "dist/bootstrap-table.min.js",
        "dist/extensions/filter-control/bootstrap-table-filter-control.css",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ),
    "bootstrap-datepicker@1.9.0": ("dist/css/bootstrap-datepicker.min.css", "dist/js/bootstrap-datepicker.min.js"),
    "@forevolve/bootstrap-dark@1.1.0": ("dist/css/bootstrap-prefers-dark.css",),
    "@fortawesome/fontawesome-free@6.6.0": ("css/all.min.css", "webfonts/"),
    "jquery@3.7.1": ("dist/jquery.min.js",),
    "popper.js@1.12.9": ("dist/umd/popper.min.js",),
    "vega@5.33.1": ("build/vega.min.js",),
    "vega-lite@5.23.0": ("build/vega-lite.min.js",),
    "vega-embed@6.29.0": ("build/vega-embed.min.js",),
}
"""npm package@version -> the files (or folders, ending in /) the pages need, as GX's templates pin them."""

BT = "bootstrap-table@1.19.1/dist"
FILTER_CONTROL = "extensions/filter-control/bootstrap-table-filter-control"
CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
JSDELIVR = "https://cdn.jsdelivr.net/npm"
BOOTSTRAP_CDN = "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1"
CDN_TO_LOCAL = {
    f"{BOOTSTRAP_CDN}/css/bootstrap.min.css": "bootstrap@4.3.1/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap@4.3.1/dist/js/"
    "bootstrap.min.js",
    f"https://unpkg.com/{BT}/bootstrap-table.min.css": f"{BT}/bootstrap-table.min.css",
    f"https://unpkg.com/{BT}/bootstrap-table.min.js": f"{BT}/bootstrap-table.min.js",
    f"https://unpkg.com/bootstrap-table@1.19.0/dist/{FILTER_CONTROL}.css": f"{BT}/{FILTER_CONTROL}.css",
    f"https://unpkg.com/bootstrap-table@1.19.0/dist/{FILTER_CONTROL}.min.css": f"{BT}/{FILTER_CONTROL}.min.css",
    f"https://unpkg.com/{BT}/{FILTER_CONTROL}.min.js": f"{BT}/{FILTER_CONTROL}.min.js",
    f"{CDNJS}/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker@1.9.0/dist/css/bootstrap-datepicker.min.css"
    ),
    f"{CDNJS}/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker@1.9.0/dist/js/bootstrap-datepicker.min.js"
    ),
    f"{JSDELIVR}/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css"
    ),
    f"{CDNJS}/font-awesome/6.6.0/css/all.min.css": "@fortawesome/fontawesome-free@6.6.0/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/dist/jquery.min.js",
    f"{CDNJS}/popper.js/1.12.9/umd/popper.min.js": "popper.js@1.12.9/dist/umd/popper.min.js",
    f"{JSDELIVR}/vega@5": "vega@5.33.1/build/vega.min.js",
    f"{JSDELIVR}/vega-lite@5": "vega-lite@5.23.0/build/vega-lite.min.js",
    f"{JSDELIVR}/vega-embed@6": "vega-embed@6.29.0/build/vega-embed.min.js",
}
"""Each CDN address in GX's templates -> the same file under ``static/vendor/``."""

GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
"""The navbar logo's address (with a tracking id appended); the same image ships in the site's static/images."""
SRI = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')
IMAGE = re.compile(re.escape(GX_IMAGES) + r'([\w.-]+)(\?[^"]*)?')


def asset_cache() -> Path:
    """Where set-up keeps the assets: ``vendor/`` beside the Delta jars' cache."""
    return Path(env_setting("LABELLAKE_JAR_CACHE")).resolve().parent / "gx_assets"


def _tarball_url(spec: str) -> str:
    name, _, version = spec.rpartition("@")
    return f"{REGISTRY}/{name}/-/{name.rpartition('/')[2]}-{version}.tgz"


def fetch_assets(cache: Path | None = None) -> Path:
    """Download every package's files from the npm registry into ``cache/vendor`` (once); the folder."""
    vendor = (cache or asset_cache()) / "vendor"
    done = vendor / ".complete"
    if done.exists():
        return vendor
    for spec, wanted in PACKAGES.items():
        url = _tarball_url(spec)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                archive = tarfile.open(fileobj=io.BytesIO(response.read()), mode="r:gz")
        except OSError as exc:
            raise SetupError(f"Data Docs assets: cannot download {url}: {exc}") from exc
        for member in archive.getmembers():
            inside = member.name.removeprefix("package/")
            if member.isfile() and any(inside == w or (w.endswith("/") and inside.startswith(w)) for w in wanted):
                target = vendor / spec / inside
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
    missing = [f"{spec}/{w}" for spec, files in PACKAGES.items() for w in files if not (vendor / spec / w).exists()]
    if missing:
        raise SetupError(f"Data Docs assets: the npm packages lack {missing}")
    done.touch()
    return vendor


STATIC_LINK = re.compile(r'(src|href)="((?:\.\./|\./)*static/([^"?]+))"')


def _static_link(match: re.Match[str], page: Path, static: Path) -> str:
    """A link into the site's ``static/`` that misses by a folder level (GX's favicon on
    validation pages), pointed at the file it means."""
    attribute, link, inside = match.groups()
    if (page.parent / link).exists() or not (static / inside).exists():
        return match.group(0)
    return f'{attribute}="{os.path.relpath(static / inside, page.parent)}"'


NEWSLETTER_FOOTER = re.compile(r"<footer>\s*<p>[^<]*newsletter.*?</footer>", re.S | re.I)
"""GX's fixed "subscribe to our newsletter" bar: it covers the page's last rows and links out."""


def localize_page(page: Path, vendor: Path, images: Path) -> bool:
    """Point one Data Docs page at the site's copies, without GX's newsletter bar; True when it changed."""
    text = page.read_text(encoding="utf-8")
    changed = STATIC_LINK.sub(lambda m: _static_link(m, page, images.parent), text)
    for url, local in CDN_TO_LOCAL.items():
        changed = changed.replace(f'"{url}"', '"' + os.path.relpath(vendor / local, page.parent) + '"')
    changed = IMAGE.sub(lambda m: os.path.relpath(images / m.group(1), page.parent), changed)
    changed = re.sub(r"<(script|link)\b[^>]*>", lambda m: SRI.sub("", m.group(0)), changed)
    changed = NEWSLETTER_FOOTER.sub("", changed)
    if changed == text:
        return False
    page.write_text(changed, encoding="utf-8")
    return True


def localize_site(site: Path, since: float = 0.0, cache: Path | None = None) -> int:
    """Copy the assets into ``site/static/vendor`` and rewrite the pages written at or after ``since``
    (a build's start); the pages rewritten. Without the assets (set-up not run) the pages keep
    their CDN links and a warning says so."""
    source = (cache or asset_cache()) / "vendor"
    if not (source / ".complete").exists():
        log.warning("Data Docs keep their CDN links: run `make setup` (or `labellake setup`) to fetch their assets")
        return 0
    vendor = site / "static" / "vendor"
    if not (vendor / ".complete").exists():
        shutil.copytree(source, vendor, dirs_exist_ok=True)
    images = site / "static" / "images"
    pages = [
        p for p in site.rglob("*.html") if p.stat().st_mtime >= since and "static" not in p.relative_to(site).parts
    ]
    return sum(localize_page(page, vendor, images) for page in pages)


if __name__ == "__main__":
    print(f"Data Docs assets in {fetch_assets()}")
