"""Side-by-side benchmark: render + MIME bytes of the password-reset email.

The example app's password-reset email (``examples/myapp``): the ``layouts/email.jx``
layout and the ``emails/password_reset.jx`` HTML template, with the text part generated
from the HTML (only those two templates are copied to a temporary views folder, so the
app's ``password_reset.txt.jx`` is left out). Speed: messages per second for

1. proper_mail: ``to_bytes(PasswordResetEmail(user, to=...).to_message(mail))``: jx
   renders the HTML, css-inline inlines its ``<style>``, inscriptis makes the text part,
   ``compose`` builds the record (a fresh Date and Message-ID each time) and ``to_bytes``
   writes the MIME bytes;
1b. the same with ``CSS_INLINING = False``, to show the inliner's share;
2. Django 5.2: ``render_to_string`` of an equivalent Django template pair (the same
   layout with ``{% block content %}``, the same paragraphs), ``strip_tags`` for the text
   (Django's own html -> text), then ``EmailMultiAlternatives`` +
   ``attach_alternative`` + ``message().as_bytes(linesep="\\r\\n")``, the call its SMTP
   backend makes.

Both outputs are parsed and checked once before the clock starts. Each is warmed up,
then timed in interleaved rounds (the order rotates every round) so that machine noise
hits all alike; the best round counts. Then proper_mail's time per stage (email object,
template lookup, render, inline_css, html_to_text, compose, to_bytes): in sequence, with a
clock read between the stages, and (the named ones) alone in a loop on a fixed input.

Run it with ``.venv/bin/python -m bench.render_bench [--n N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import email
import email.message
import email.policy
import gc
import importlib.metadata
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

from proper_mail import EmailMessage, Mail, Message, to_bytes
from proper_mail.core.templates import html_to_text, inline_css, template_paths

__all__ = ["PasswordResetEmail", "User", "main"]

SUBJECT: Final = "Reset your password"
FROM: Final = "MyApp <no-reply@example.com>"
TO: Final = "Alice <alice@example.com>"
BASE_URL: Final = "https://myapp.example.com/password-reset"
RESET_URL: Final = f"{BASE_URL}/new"
TEXT_NEEDLE: Final = "I heard that you lost your password"

#: The example app's views, and the only two templates copied from it.
EXAMPLE_VIEWS: Final = Path(__file__).resolve().parent.parent / "examples" / "myapp" / "views"
JX_TEMPLATES: Final = ("layouts/email.jx", "emails/password_reset.jx")
HTML_TEMPLATE: Final = "emails/password_reset.jx"

#: The jx layout, as a Django template.
DJANGO_LAYOUT: Final = """\
<!DOCTYPE html>
<html lang="{{ lang|default:'en' }}">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width,initial-scale=1">
    <style>
      /* Write normal CSS: proper_mail inlines it into style="..." at render time. */
      body { font-family: Helvetica, Arial, sans-serif; color: #222; }
      a { color: #0b5fff; }
      @media (max-width: 600px) { body { font-size: 18px; } }
    </style>
  </head>
  <body>
    {% block content %}{% endblock %}
  </body>
</html>
"""

#: ``emails/password_reset.jx``, as a Django template extending the layout.
DJANGO_EMAIL: Final = """\
{% extends "layouts/email.html" %}
{% block content %}
  <p>
    I heard that you lost your password. Sorry about that!
  </p>
  <p>
    But don't worry! You can use the following link to reset your password:
    <a href="{{ validate_url }}">{{ validate_url }}</a>.
  </p>
  <p>
    If you don't use this link within 3 hours, it will expire.
    To get a new password reset link, visit
    <a href="{{ reset_url }}">{{ reset_url }}</a>.
  </p>
{% endblock %}
"""

WARMUP: Final = 100

Maker = Callable[[], bytes]
Step = Callable[[], object]


class User(NamedTuple):
    """The recipient, with the token a password reset link carries."""

    name: str
    email: str
    token: str


USER: Final = User("Alice", "alice@example.com", "4f9c2a7e1b3d8f60a5c4e2d1b7f3a9c8")
VALIDATE_URL: Final = f"{BASE_URL}/{USER.token}"


class PasswordResetEmail(EmailMessage):
    """The example app's password-reset email (its templates are found by module name)."""

    subject = SUBJECT

    def __init__(self, user: User, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validate_url = f"{BASE_URL}/{user.token}"
        self.reset_url = RESET_URL


# Template discovery uses the module name: myapp.emails.password_reset_email ->
# emails/password_reset.jx (and emails/password_reset.txt.jx, absent here).
PasswordResetEmail.__module__ = "myapp.emails.password_reset_email"


def copy_views(dest: Path) -> Path:
    """Copy the layout and the HTML template (not the .txt.jx) to *dest*/views."""
    views = dest / "views"
    for name in JX_TEMPLATES:
        target = views / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLE_VIEWS / name, target)
    return views


def proper_mail_app(views: Path, *, css_inlining: bool) -> Mail:
    """A Mail over *views*, sending to memory, templates compiled once (no auto-reload)."""
    return Mail.from_settings(
        {
            "MAILERS": {"m": {"type": "proper_mail.ToMemoryMailer"}},
            "MAILER_DEFAULT_OPTIONS": {"from": FROM},
            "VIEWS": views,
            "TEMPLATES_AUTO_RELOAD": False,
            "CSS_INLINING": css_inlining,
        }
    )


def proper_mail_maker(mail: Mail) -> Maker:
    """Return a maker of the password-reset email's MIME bytes, rendered with *mail*."""

    def make_proper_mail() -> bytes:
        """Render, inline, make the text, compose and write the MIME bytes."""
        return to_bytes(PasswordResetEmail(USER, to=TO).to_message(mail))

    return make_proper_mail


def write_django_templates(dest: Path) -> Path:
    """Write the Django twins of the jx templates under *dest*/django; return that folder."""
    root = dest / "django"
    for name, source in (
        ("layouts/email.html", DJANGO_LAYOUT),
        ("emails/password_reset.html", DJANGO_EMAIL),
    ):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
    return root


def django_maker(templates: Path) -> Maker:
    """Configure Django with *templates* as its template folder; return its maker.

    ``settings.configure`` works once per process, and compose_bench's configuration has
    no TEMPLATES: this benchmark runs in its own process, as every bench does.
    """
    import django
    from django.conf import settings

    if settings.configured:
        raise RuntimeError(
            "Django settings are already configured in this process: "
            "run `python -m bench.render_bench` in a process of its own"
        )
    settings.configure(
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DEFAULT_CHARSET="utf-8",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [str(templates)],
                "APP_DIRS": False,
                "OPTIONS": {},  # not DEBUG: the cached loader compiles each template once
            }
        ],
    )
    django.setup()
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string
    from django.utils.html import strip_tags

    def make_django() -> bytes:
        """Render with Django templates, strip the tags for the text, build the bytes."""
        context = {
            "subject": SUBJECT,
            "validate_url": f"{BASE_URL}/{USER.token}",
            "reset_url": RESET_URL,
        }
        html: str = render_to_string("emails/password_reset.html", context)
        text: str = strip_tags(html)
        m = EmailMultiAlternatives(SUBJECT, text, FROM, [TO])
        m.attach_alternative(html, "text/html")
        # CRLF, as Django's SMTP backend sends it (the default linesep is "\n").
        data: bytes = m.message().as_bytes(linesep="\r\n")
        return data

    return make_django


class Parts(NamedTuple):
    """The html and text parts of one message, as parsed back."""

    html: str
    text: str


def check_output(name: str, data: bytes) -> Parts:
    """Parse *data* back; assert it holds the reset link and the text; return its parts."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage), name
    assert parsed["Subject"] == SUBJECT, f"{name}: Subject is {parsed['Subject']!r}"
    assert parsed["To"] == TO, f"{name}: To is {parsed['To']!r}"
    html_part = parsed.get_body(("html",))
    text_part = parsed.get_body(("plain",))
    assert html_part is not None, f"{name}: no text/html part"
    assert text_part is not None, f"{name}: no text/plain part"
    html = html_part.get_content()
    text = text_part.get_content()
    assert isinstance(html, str)
    assert isinstance(text, str)
    assert VALIDATE_URL in html, f"{name}: the html part lacks the reset link"
    assert TEXT_NEEDLE in text, f"{name}: the text part lacks {TEXT_NEEDLE!r}"
    return Parts(html, text)


def _time_round(step: Step, n: int) -> float:
    """Return the seconds *n* calls of *step* take."""
    start = time.perf_counter()
    for _ in range(n):
        step()
    return time.perf_counter() - start


def bench_speed(steps: Sequence[tuple[str, Step]], n: int, rounds: int) -> dict[str, float]:
    """Return each step's best calls/s over *rounds* interleaved rounds of *n* calls."""
    for _, step in steps:
        for _ in range(WARMUP):
            step()
    best = {name: 0.0 for name, _ in steps}
    for r in range(rounds):
        order = [*steps[r % len(steps) :], *steps[: r % len(steps)]]
        for name, step in order:
            gc.collect()
            seconds = _time_round(step, n)
            best[name] = max(best[name], n / seconds)
    return best


def template_context(message: PasswordResetEmail) -> dict[str, Any]:
    """What ``EmailMessage.to_message`` passes to the renderer for *message*."""
    return {
        "subject": message.subject,
        "from_email": message.from_email,
        "to": message.to,
        "cc": message.cc,
        "reply_to": message.reply_to,
        **message.template_context(),
    }


#: proper_mail's stages, in ``to_message`` + ``to_bytes`` order. The first two are the
#: glue around the named ones: the email object and its template context (the Date and
#: Message-ID stamp is made in compose here), and the template discovery (the file
#: name from the module name, then whether the .jx and the .txt.jx exist).
STAGES: Final = (
    "email object + context",
    "template lookup (2 x exists)",
    "render (jx)",
    "inline_css (css-inline)",
    "html_to_text (inscriptis)",
    "compose (Message record)",
    "to_bytes (MIME)",
)


def pipeline_round(mail: Mail, n: int) -> list[float]:
    """Run *n* messages through the stages in sequence; return each stage's seconds.

    The same work as ``to_bytes(PasswordResetEmail(...).to_message(mail))`` with a clock
    read between the stages, so that each one runs with the caches the others leave.
    """
    renderer = mail.renderer
    assert renderer is not None
    clock = time.perf_counter
    spent = [0.0] * len(STAGES)
    for _ in range(n):
        t0 = clock()
        message = PasswordResetEmail(USER, to=TO)
        context = template_context(message)
        t1 = clock()
        paths = template_paths(type(message).__module__)
        found = renderer.exists(paths.html) and not renderer.exists(paths.text)
        t2 = clock()
        html, _ = renderer.render(paths.html, context)
        t3 = clock()
        html = inline_css(html)
        t4 = clock()
        text = html_to_text(html)
        t5 = clock()
        record = mail.compose(
            to=message.to,
            subject=message.subject,
            body=html,
            content_subtype="html",
            alternatives=[(text, "text/plain")],
        )
        t6 = clock()
        to_bytes(record)
        t7 = clock()
        assert found
        for i, seconds in enumerate(
            (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6)
        ):
            spent[i] += seconds
    return spent


def bench_pipeline(mail: Mail, n: int, rounds: int) -> list[float]:
    """Return each stage's best µs per message over *rounds* pipeline rounds of *n*."""
    pipeline_round(mail, WARMUP)
    best = [float("inf")] * len(STAGES)
    for _ in range(rounds):
        gc.collect()
        spent = pipeline_round(mail, n)
        best = [min(b, 1e6 * s / n) for b, s in zip(best, spent, strict=True)]
    return best


def stage_steps(mail: Mail) -> dict[str, Step]:
    """The named stages as steps on fixed inputs, to time each one alone in a loop."""
    renderer = mail.renderer
    assert renderer is not None
    context = template_context(PasswordResetEmail(USER, to=TO))
    rendered, _ = renderer.render(HTML_TEMPLATE, context)
    inlined = inline_css(rendered)
    text = html_to_text(inlined)
    fields: dict[str, Any] = {
        "to": TO,
        "subject": SUBJECT,
        "body": inlined,
        "content_subtype": "html",
        "alternatives": [(text, "text/plain")],
    }
    record: Message = mail.compose(**fields)
    return {
        "render (jx)": lambda: renderer.render(HTML_TEMPLATE, context),
        "inline_css (css-inline)": lambda: inline_css(rendered),
        "html_to_text (inscriptis)": lambda: html_to_text(inlined),
        "compose (Message record)": lambda: mail.compose(**fields),
        "to_bytes (MIME)": lambda: to_bytes(record),
    }


def _versions() -> str:
    """The versions of the libraries proper_mail renders with."""
    names = ("jx", "css-inline", "inscriptis", "lxml")
    return ", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)


def report(n: int, rounds: int) -> None:
    """Run the benchmark and print its table, the text parts compared and the stages."""
    import django

    django_name = f"Django {django.get_version()}"
    with tempfile.TemporaryDirectory(prefix="render_bench-") as tmp:
        views = copy_views(Path(tmp))
        mail = proper_mail_app(views, css_inlining=True)
        makers: list[tuple[str, Maker]] = [
            ("proper_mail", proper_mail_maker(mail)),
            (
                "proper_mail, no inlining",
                proper_mail_maker(proper_mail_app(views, css_inlining=False)),
            ),
            (django_name, django_maker(write_django_templates(Path(tmp)))),
        ]
        outputs = {name: make() for name, make in makers}
        parts = {name: check_output(name, data) for name, data in outputs.items()}

        print(f"Python {sys.version.split()[0]}; {_versions()}")
        print(
            f"Speed: render + MIME bytes of the password-reset email (layout, html + "
            f"generated text), best of {rounds} interleaved rounds of {n}"
        )
        print(f"(warm-up {WARMUP} each; outputs parsed back and checked once first)")
        print()
        best = bench_speed(makers, n, rounds)
        theirs = best[django_name]
        print(f"{'implementation':<26}{'msg/s':>10}{'µs/msg':>10}{'÷ Django':>10}{'bytes':>8}")
        for name, _ in makers:
            rate = best[name]
            size = len(outputs[name])
            print(f"{name:<26}{rate:>10,.0f}{1e6 / rate:>10.1f}{rate / theirs:>9.2f}x{size:>8}")
        print()
        ratio = best["proper_mail"] / theirs
        print(f"ratio proper_mail / {django_name} (msg/s): {ratio:.2f}x")
        print("(the issue sets no numeric target for this benchmark: the ratio is reported)")
        print()
        _report_parts(parts, django_name)
        print()
        _report_stages(mail, n, rounds, 1e6 / best["proper_mail"])


def _report_parts(parts: Mapping[str, Parts], django_name: str) -> None:
    """Print what each text and html part holds: the two sides do not do the same work."""
    print("What the parts hold (checked on the first message):")
    print(f"{'implementation':<26}{'html B':>8}{'text B':>8}  inlined CSS  CSS in text  URLs")
    for name, (html, text) in parts.items():
        inlined = "<body style=" in html
        css_in_text = "font-family" in text
        urls = sum(url in text for url in (VALIDATE_URL, RESET_URL))
        print(
            f"{name:<26}{len(html.encode()):>8}{len(text.encode()):>8}"
            f"  {'yes' if inlined else 'no':<11}  {'yes' if css_in_text else 'no':<11}"
            f"  {urls}/2"
        )
    print(
        f"{django_name}'s strip_tags is much cruder than proper_mail's html_to_text: "
        "no CSS inlining in the html,\nthe <style> rules and the template's indentation "
        "end up in the text, no href is kept\n(here every link's text is its URL, so the "
        "URLs survive), no paragraph layout: lines and blanks come as the source had them."
    )


def _report_stages(mail: Mail, n: int, rounds: int, full: float) -> None:
    """Time proper_mail's stages in sequence and alone; print µs per message and shares."""
    in_pipeline = bench_pipeline(mail, n, rounds)
    steps = stage_steps(mail)
    alone = bench_speed(list(steps.items()), n, rounds)
    total = sum(in_pipeline)
    print(
        f"proper_mail per stage, µs/msg (best of {rounds} rounds of {n}): in sequence, as in\n"
        "to_message + to_bytes, and alone in a tight loop on a fixed input (hotter caches)"
    )
    print(f"{'stage':<32}{'in seq.':>9}{'share':>7}{'alone':>9}")
    for name, micros in zip(STAGES, in_pipeline, strict=True):
        single = f"{1e6 / alone[name]:>9.1f}" if name in alone else f"{'':>9}"
        print(f"{name:<32}{micros:>9.1f}{micros / total:>7.0%}{single}")
    print(f"{'sum of the stages':<32}{total:>9.1f}{1:>7.0%}")
    print(f"{'full run (proper_mail, above)':<32}{full:>9.1f}")
    top = max(range(len(STAGES)), key=in_pipeline.__getitem__)
    print(f"dominant stage: {STAGES[top]} ({in_pipeline[top] / total:.0%} of the sum)")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the benchmark and print its report; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.render_bench", description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="messages per round (1000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (5)")
    args = parser.parse_args(argv)
    report(args.n, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
