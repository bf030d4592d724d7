"""Sphinx configuration for the asyncinvoices documentation.

The build is strict (``sphinx-build -n -W``): every cross-reference must resolve. No
inventories are fetched (builds run without network), so references to third-party types
that appear in signatures are listed precisely in ``nitpick_ignore`` below.
"""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import attrs  # noqa: E402

import asyncinvoices  # noqa: E402

# -- Project -----------------------------------------------------------------------------

project = "asyncinvoices"
author = "The asyncinvoices authors"
copyright = "the asyncinvoices authors"
release = asyncinvoices.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------------------

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "examples/output/*", "Thumbs.db", ".DS_Store"]
nitpicky = True
default_role = "any"

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
# README and pages link to headings by their slug, GitHub style.
myst_heading_anchors = 3

# -- autodoc / napoleon -----------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = False
autodoc_default_options = {"members": True}
autoclass_content = "class"
# Signatures say InvoiceType rather than spelling out the Literal.
autodoc_type_aliases = {"InvoiceType": "asyncinvoices.InvoiceType"}
python_use_unqualified_type_names = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False


def _publish(module: Any) -> None:
    """Present the public names under the package they are imported from.

    The classes live in private modules (``asyncinvoices._client`` ...) and are re-exported;
    documenting them as ``asyncinvoices.X`` makes the signatures' types resolve to the
    documented objects instead of private paths, and tracebacks in doctests name them as
    users import them.
    """
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name, None)
        if attrs.has(obj):
            # Resolve string annotations while the defining module is still known: cattrs
            # resolves them lazily, in the namespace of ``__module__``.
            attrs.resolve_types(obj)
        if isinstance(obj, type) or callable(obj):
            obj_module = getattr(obj, "__module__", "") or ""
            if obj_module.startswith(module.__name__ + "._"):
                with contextlib.suppress(AttributeError, TypeError):
                    obj.__module__ = module.__name__


_publish(asyncinvoices)
try:
    import asyncinvoices.testing as _testing_package
except ImportError:  # pragma: no cover - the testing package is optional at build time
    _testing_package = None
else:
    _publish(_testing_package)

# Third-party and private names that appear in signatures and cannot be resolved without
# fetching other projects' inventories. Listed one by one so that a typo in our own
# references still fails the build.
nitpick_ignore = [
    ("py:class", "aiohttp.ClientSession"),
    ("py:class", "aiohttp.client.ClientSession"),
    ("py:class", "aiohttp.web.Application"),
    ("py:class", "aiohttp.web_app.Application"),
    ("py:class", "anyio.CapacityLimiter"),
    ("py:class", "attrs.Attribute"),
    ("py:class", "decimal.Decimal"),
    ("py:class", "Decimal"),
    ("py:class", "datetime.datetime"),
    ("py:class", "dt.datetime"),
    ("py:class", "datetime.timedelta"),
    ("py:class", "dt.timedelta"),
    ("py:class", "random.Random"),
    ("py:class", "Self"),
    ("py:class", "typing_extensions.Self"),
    ("py:class", "TracebackType"),
    ("py:class", "types.TracebackType"),
    ("py:class", "pytest.FixtureRequest"),
    ("py:class", "_pytest.fixtures.FixtureRequest"),
    ("py:class", "pathlib.Path"),
    ("py:class", "pandas.DataFrame"),
    ("py:class", "polars.DataFrame"),
    # Standard-library names written with the default role in docstrings.
    ("any", "decimal.Decimal"),
    ("any", "time.monotonic"),
    # Objects reachable from public properties, documented by their public behaviour only.
    ("py:class", "asyncinvoices._http.governor.RateGovernor"),
    ("py:class", "asyncinvoices._http.governor.SlidingWindow"),
    ("py:class", "asyncinvoices._wire.protocol.RateLimitHeader"),
    ("py:class", "asyncinvoices._http.quota.QuotaStore"),
]
nitpick_ignore_regex = [
    # Standard-library and typing names rendered in signatures (no Python inventory offline).
    ("py:class", r"(collections\.abc|typing)\.[A-Za-z]+"),
    ("py:(class|exc|obj|data)", r"(int|str|float|bool|bytes|dict|list|tuple|object|None)"),
    ("py:(exc|class)", r"(ValueError|KeyError|Exception|BaseException|TypeError)"),
]

# -- Doctest -----------------------------------------------------------------------------

doctest_global_setup = """
import os
for _name in list(os.environ):
    if _name.startswith("CLOUDFLARE_"):
        del os.environ[_name]
import asyncinvoices
from decimal import Decimal
"""
doctest_global_cleanup = """
asyncinvoices.set_testing(False)
"""

# -- HTML --------------------------------------------------------------------------------

html_theme = "furo"
html_title = f"asyncinvoices {release}"
html_static_path: list[str] = []

# -- Including README.md and CHANGELOG.md ----------------------------------------------

# Links in README.md and CHANGELOG.md are written for a reader on the repository page.
# ``relative-docs`` turns ``docs/x.md`` into links between pages; the rest are rewritten
# here when the file is included, so the site survives either file changing.
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")
_REPO_FILES_AS_PAGES = {"CHANGELOG.md": "docs/changelog.md"}


def _rewrite_readme_link(match: re.Match[str]) -> str:
    text, target = match.group("text"), match.group("target")
    path, _, anchor = target.partition("#")
    if not path or re.match(r"[a-z][a-z0-9+.-]*:", path, re.IGNORECASE):
        return match.group(0)  # an anchor on the same page, or an absolute URL
    path = path.removeprefix("./")
    if path in _REPO_FILES_AS_PAGES:
        path = _REPO_FILES_AS_PAGES[path]
    if path.startswith("docs/") and path.endswith(".md") and (ROOT / path).is_file():
        return f"[{text}]({path}{'#' + anchor if anchor else ''})"
    # A file of the repository that is not a page (a script, a directory): keep the text.
    return text


def _include_read(app: Any, relative_path: Path, parent_docname: str, content: list[str]) -> None:
    if Path(relative_path).name in ("README.md", "CHANGELOG.md"):
        content[0] = _LINK.sub(_rewrite_readme_link, content[0])


# -- Docstrings --------------------------------------------------------------------------

_PROPERTY_PHRASE = re.compile(r"^(?P<head>[^:`]+ [^:`]+):\s+(?P<tail>.+)$")


def _property_first_line(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Keep napoleon from reading "A phrase: more words" on a property as "type: text".

    Napoleon treats the first line of a property's docstring like an attribute's, and takes
    everything before a colon as the type; a sentence that uses a colon is not a type.
    """
    if what == "property" and lines:
        match = _PROPERTY_PHRASE.match(lines[0])
        if match:
            lines[0] = f"{match['head']} \N{EM DASH} {match['tail']}"


def setup(app: Any) -> None:
    app.connect("include-read", _include_read)
    # Before napoleon (priority 500) rewrites the docstring.
    app.connect("autodoc-process-docstring", _property_first_line, priority=400)
