"""Templates, the pure part: the discovery rule, the guide's 4-case table, HTML -> text,
CSS inlining and the relative-URL check. Rendering itself is ``adapters/jx.py``.

- Discovery (the guide, 4.1): for a class in ``emails/welcome_email.py`` the templates are
  ``emails/welcome.jx`` (HTML) and ``emails/welcome.txt.jx`` (text), relative to the
  views folder. The ``_email`` suffix is stripped when present.
- HTML -> text uses inscriptis, a maintained HTML renderer that lays out tables, lists
  and line breaks like a browser and emits plain text (not Markdown, so no ``\\_``
  escapes leak). Links keep their URLs: ``text (url)``, or just the URL when the text
  is the URL.
- CSS inlining uses css-inline (fast, maintained): ``<style>`` rules become ``style=""``
  attributes; ``@media`` rules stay in a ``<style>`` block; remote stylesheets are never
  fetched (no I/O here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs
import css_inline
import inscriptis
import lxml.html
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

from ..errors import EmailTemplateNotFound, TemplateError

__all__ = [
    "RESERVED_NAMES",
    "Bodies",
    "TemplatePaths",
    "choose_bodies",
    "html_to_text",
    "inline_css",
    "relative_urls",
    "template_name_of",
    "template_paths",
]

#: Names jx uses for itself: an email attribute with one of them would be shadowed.
RESERVED_NAMES = frozenset({"content", "attrs", "caller", "globals", "relpath", "source", "assets"})

_TEXT_CONFIG = ParserConfig(css=CSS_PROFILES["strict"])
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_ABSOLUTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|#|\{\{)")


@attrs.frozen
class TemplatePaths:
    """Where an email's templates are, relative to the views folder."""

    html: str
    text: str


@attrs.frozen
class Bodies:
    """The body fields a render produced (the guide's 4.1 table)."""

    body: str
    content_subtype: str
    alternatives: tuple[tuple[str, str], ...] = ()


def template_name_of(module: str) -> str:
    """``myapp.emails.welcome_email`` -> ``welcome``; ``emails.welcome`` -> ``welcome``."""
    name = module.rsplit(".", 1)[-1]
    return name.removesuffix("_email") or name


def template_paths(module: str) -> TemplatePaths:
    """The HTML and text template paths for an email class defined in *module*."""
    name = template_name_of(module)
    return TemplatePaths(html=f"emails/{name}.jx", text=f"emails/{name}.txt.jx")


def choose_bodies(
    paths: TemplatePaths,
    html: str | None,
    text: str | None,
    *,
    body: str,
    content_subtype: str,
) -> Bodies:
    """Apply the guide's 4.1 table to what rendered (None: no such template).

    html + text: multipart/alternative with both; html only: the text part is made from
    the HTML; text only: plain text; neither: the constructor's or class's body, and if
    that is empty too, EmailTemplateNotFound naming both paths.
    """
    if html is not None:
        plain = text if text is not None else html_to_text(html)
        return Bodies(body=html, content_subtype="html", alternatives=((plain, "text/plain"),))
    if text is not None:
        return Bodies(body=text, content_subtype="plain")
    if body:
        return Bodies(body=body, content_subtype=content_subtype)
    raise EmailTemplateNotFound(
        "body",
        (paths.html, paths.text),
        f"the email has no body and neither {paths.html} nor {paths.text} exists",
    )


def html_to_text(html: str) -> str:
    """Render *html* as readable plain text: links keep their URLs, entities decoded."""
    if not html.strip():
        return ""
    try:
        tree = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError) as e:
        raise TemplateError("body", html[:80], f"the HTML cannot be parsed ({e})") from None
    for link in tree.iter("a"):
        href = (link.get("href") or "").strip()
        shown = link.text_content().strip()
        if not href or href.startswith(("#", "cid:")) or href == shown:
            continue
        if href.startswith("mailto:") and href[7:] == shown:
            continue
        link.tail = f" ({href}){link.tail or ''}"
    for heading in tree.iter("h1", "h2"):
        heading.text = (heading.text or "").upper() if heading.tag == "h1" else heading.text
    text = inscriptis.Inscriptis(tree, _TEXT_CONFIG).get_text()
    lines = [line.rstrip() for line in text.splitlines()]
    collapsed = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return collapsed + "\n"


def inline_css(html: str) -> str:
    """Move ``<style>`` rules into ``style=""`` attributes; keep ``@media`` rules."""
    try:
        return _INLINER.inline(html)
    except ValueError as e:
        raise TemplateError("body", html[:80], f"CSS inlining failed ({e})") from None


def relative_urls(html: str) -> list[str]:
    """The href/src values of *html* that are not absolute (useless in an inbox)."""
    if not html.strip():
        return []
    tree = lxml.html.fromstring(html)
    found: list[str] = []
    for element in tree.iter():
        for attribute in ("href", "src"):
            value = element.get(attribute)
            if value is not None and value.strip() and not _ABSOLUTE.match(value.strip()):
                found.append(value.strip())
    return found


def reserved_in(names: Iterable[str]) -> list[str]:
    """The names jx would shadow (``content``, ``attrs`` ...)."""
    return sorted(n for n in names if n in RESERVED_NAMES)
