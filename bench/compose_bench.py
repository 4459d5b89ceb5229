"""Side-by-side benchmark: the MIME bytes of one realistic message, three ways.

Speed: messages per second for

1. proper_mail: ``to_bytes(compose(**FIELDS))`` (a fresh Date and Message-ID each time);
2. Django 5.2: ``EmailMultiAlternatives(...).message().as_bytes(linesep="\\r\\n")``, the
   call its SMTP backend makes;
3. the stdlib modern API: ``EmailMessage(policy=SMTP)`` + ``set_content`` +
   ``add_alternative`` + ``as_bytes()``.

Each is warmed up, then timed in interleaved rounds (the order rotates every round) so
that machine noise hits all three alike; the best round counts.

Memory: tracemalloc over 10,000 composed ``Message`` records held in a list, against the
size of their MIME bytes: with the body strings shared between records (what a loop
over one template gives), with every record owning its own copy, and with own copies
that CPython stores at 2 bytes a character. For context, the size of the stdlib
``EmailMessage`` tree of the same message.

Run it with ``./scripts/bench`` or ``.venv/bin/python -m bench.compose_bench [--n N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.message
import email.policy
import email.utils
import functools
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any, Final

from proper_mail.core.mime import to_bytes
from proper_mail.core.records import Message
from proper_mail.mail import compose

__all__ = ["FIELDS", "HTML", "TEXT", "django_email", "main"]

NAME: Final = "José Núñez"
SUBJECT: Final = "Réinitialisez votre mot de passe — José"
FROM: Final = "MyApp <no-reply@example.com>"
TO: Final = f"{NAME} <jose@example.com>"
CC: Final = "manager@example.com"
BCC: Final = "audit@example.com"
REPLY_TO: Final = "support@example.com"
HEADERS: Final = {"X-Campaign": "spring-launch"}
RESET_URL: Final = "https://app.example.com/account/reset?token=4f9c2a7e1b3d8f60a5c4e2d1b7f3a9c8"

HTML: Final = f"""\
<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<title>Réinitialisez votre mot de passe</title>
</head>
<body style="margin:0;padding:0;background-color:#f4f5f7;font-family:Helvetica,Arial,sans-serif;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"
       style="background-color:#f4f5f7;">
  <tr>
    <td align="center" style="padding:32px 16px;">
      <table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0"
             style="max-width:600px;background-color:#ffffff;border-radius:8px;">
        <tr>
          <td style="padding:24px 32px;border-bottom:1px solid #e5e7eb;">
            <img src="https://static.example.com/logo.png" width="120" alt="MyApp">
          </td>
        </tr>
        <tr>
          <td style="padding:32px;color:#1f2937;font-size:16px;line-height:24px;">
            <h1 style="margin:0 0 16px;font-size:22px;line-height:28px;color:#111827;">
              Bonjour {NAME},
            </h1>
            <p style="margin:0 0 16px;">
              Nous avons reçu une demande de réinitialisation du mot de passe de votre
              compte MyApp associé à l'adresse jose@example.com.
            </p>
            <p style="margin:0 0 24px;">
              Pour choisir un nouveau mot de passe, cliquez sur le bouton ci-dessous.
              Ce lien est valable pendant 60 minutes et ne peut être utilisé qu'une fois.
            </p>
            <table role="presentation" cellpadding="0" cellspacing="0" border="0">
              <tr>
                <td align="center" style="border-radius:6px;background-color:#2563eb;">
                  <a href="{RESET_URL}"
                     style="display:inline-block;padding:12px 24px;font-size:16px;
                            font-weight:bold;color:#ffffff;text-decoration:none;">
                    Réinitialiser mon mot de passe
                  </a>
                </td>
              </tr>
            </table>
            <p style="margin:24px 0 16px;font-size:14px;line-height:20px;color:#4b5563;">
              Si le bouton ne fonctionne pas, copiez ce lien dans votre navigateur :<br>
              <a href="{RESET_URL}" style="color:#2563eb;word-break:break-all;">{RESET_URL}</a>
            </p>
            <p style="margin:0;">
              Si vous n'êtes pas à l'origine de cette demande, ignorez cet e-mail :
              votre mot de passe actuel reste inchangé.
            </p>
          </td>
        </tr>
        <tr>
          <td style="padding:24px 32px;color:#6b7280;font-size:12px;line-height:18px;">
            Vous recevez cet e-mail parce qu'un compte MyApp est associé à cette adresse.<br>
            MyApp SAS, 12 rue de la Paix, 75002 Paris, France<br>
            <a href="https://app.example.com/help" style="color:#6b7280;">Aide</a> &middot;
            <a href="https://app.example.com/privacy" style="color:#6b7280;">Confidentialité</a>
          </td>
        </tr>
      </table>
    </td>
  </tr>
</table>
</body>
</html>
"""

TEXT: Final = f"""\
Bonjour {NAME},

Nous avons reçu une demande de réinitialisation du mot de passe de votre
compte MyApp associé à l'adresse jose@example.com.

Pour choisir un nouveau mot de passe, ouvrez le lien ci-dessous. Ce lien est
valable pendant 60 minutes et ne peut être utilisé qu'une fois.

    {RESET_URL}

Si vous n'êtes pas à l'origine de cette demande, ignorez cet e-mail : votre
mot de passe actuel reste inchangé. Personne ne pourra accéder à votre compte
sans ce lien.

Cette demande a été faite le 14 mars à 09:42 (heure de Paris) depuis un
navigateur Firefox sous Windows, près de Lyon, France. Si ce n'était pas vous,
nous vous conseillons de vérifier la sécurité de votre compte.

Besoin d'aide ? Répondez simplement à ce message, ou consultez notre centre
d'aide : https://app.example.com/help

Pour votre sécurité, MyApp ne vous demandera jamais votre mot de passe par
e-mail, par téléphone ou par SMS.

À bientôt,
L'équipe MyApp

--
Vous recevez cet e-mail parce qu'un compte MyApp est associé à cette adresse.
MyApp SAS, 12 rue de la Paix, 75002 Paris, France
Confidentialité : https://app.example.com/privacy
"""

FIELDS: Final[dict[str, Any]] = {
    "from_email": FROM,
    "to": TO,
    "cc": CC,
    "bcc": BCC,
    "reply_to": REPLY_TO,
    "subject": SUBJECT,
    "body": HTML,
    "content_subtype": "html",
    "alternatives": [(TEXT, "text/plain")],
    "headers": HEADERS,
}

WARMUP: Final = 200
MEMORY_RECORDS: Final = 10_000
STDLIB_TREES: Final = 200
SPEED_TARGETS: Final = {"Django 5.2": 1.2, "stdlib modern API": 3.0}
MEMORY_TARGET: Final = 2.0

Maker = Callable[[], bytes]


def make_proper_mail() -> bytes:
    """Compose the message with proper_mail and return its MIME bytes."""
    return to_bytes(compose(**FIELDS))


def django_email(cls: Any) -> Any:
    """The message as Django's ``EmailMultiAlternatives`` (*cls*, imported by the caller
    once Django is configured), html attached as the alternative."""
    m = cls(SUBJECT, TEXT, FROM, [TO], cc=[CC], bcc=[BCC], reply_to=[REPLY_TO], headers=HEADERS)
    m.attach_alternative(HTML, "text/html")
    return m


def _django_maker() -> Maker:
    """Configure Django once and return a maker for its ``EmailMultiAlternatives``."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            DEFAULT_CHARSET="utf-8",
        )
        django.setup()
    from django.core.mail import EmailMultiAlternatives

    def make_django() -> bytes:
        """Build the message with Django and return its MIME bytes."""
        m = django_email(EmailMultiAlternatives)
        # CRLF, as Django's SMTP backend sends it (the default linesep is "\n").
        data: bytes = m.message().as_bytes(linesep="\r\n")
        return data

    return make_django


def make_stdlib() -> bytes:
    """Build the message with the stdlib modern API (policy SMTP) and return its bytes."""
    return _stdlib_message().as_bytes()


def _stdlib_message() -> email.message.EmailMessage:
    """Return the message as a stdlib ``EmailMessage`` tree (modern API, policy SMTP)."""
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["Subject"] = SUBJECT
    m["From"] = FROM
    m["To"] = TO
    m["Cc"] = CC
    m["Reply-To"] = REPLY_TO
    m["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC).replace(microsecond=0))
    m["Message-ID"] = email.utils.make_msgid(domain="example.com")
    for name, value in HEADERS.items():
        m[name] = value
    m.set_content(TEXT)
    m.add_alternative(HTML, subtype="html")
    return m


def _time_round(make: Maker, n: int) -> float:
    """Return the seconds *n* calls of *make* take."""
    start = time.perf_counter()
    for _ in range(n):
        make()
    return time.perf_counter() - start


def bench_speed(makers: Sequence[tuple[str, Maker]], n: int, rounds: int) -> dict[str, float]:
    """Return each maker's best msg/s over *rounds* interleaved rounds of *n* calls."""
    for _, make in makers:
        for _ in range(WARMUP):
            make()
    best = {name: 0.0 for name, _ in makers}
    for r in range(rounds):
        order = [*makers[r % len(makers) :], *makers[: r % len(makers)]]
        for name, make in order:
            gc.collect()
            seconds = _time_round(make, n)
            best[name] = max(best[name], n / seconds)
    return best


def _verdict(ok: bool) -> str:
    """Return "PASS" or "FAIL"."""
    return "PASS" if ok else "FAIL"


def report_speed(n: int, rounds: int) -> None:
    """Run the speed benchmark and print its table, output sizes and targets."""
    import django

    makers: list[tuple[str, Maker]] = [
        ("proper_mail", make_proper_mail),
        (f"Django {django.get_version()}", _django_maker()),
        ("stdlib modern API", make_stdlib),
    ]
    sizes = {name: len(make()) for name, make in makers}
    print(f"Speed: MIME bytes of one message, best of {rounds} interleaved rounds of {n}")
    print(f"(warm-up {WARMUP} each; html {len(HTML.encode())} B, text {len(TEXT.encode())} B)")
    print()
    best = bench_speed(makers, n, rounds)
    ours = best["proper_mail"]
    print(f"{'implementation':<22}{'msg/s':>10}{'µs/msg':>10}{'proper_mail ×':>15}{'bytes':>8}")
    for name, _ in makers:
        rate = best[name]
        print(f"{name:<22}{rate:>10,.0f}{1e6 / rate:>10.1f}{ours / rate:>14.2f}x{sizes[name]:>8}")
    print()
    for (name, _), (label, target) in zip(makers[1:], SPEED_TARGETS.items(), strict=True):
        ratio = ours / best[name]
        ok = _verdict(ratio >= target)
        print(f"target proper_mail >= {target:g}x {label:<18} {ratio:6.2f}x  {ok}")


def _traced[T](build: Callable[[], T]) -> tuple[int, T]:
    """Return (bytes allocated and still alive, result) for one call of *build*."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, result


def _records(mark: str | None) -> list[Message]:
    """Compose MEMORY_RECORDS records; unless *mark* is None, each gets its own body strs.

    The own copies end with ``<!-- {i}{mark} -->``: a *mark* outside Latin-1 (such as
    "—") makes CPython store the whole str at 2 bytes a character instead of 1.
    """
    if mark is None:
        return [compose(**FIELDS) for _ in range(MEMORY_RECORDS)]
    return [
        compose(
            **(
                FIELDS
                | {
                    "body": f"{HTML}<!-- {i}{mark} -->",
                    "alternatives": [(f"{TEXT}-- {i}{mark}\n", "text/plain")],
                }
            )
        )
        for i in range(MEMORY_RECORDS)
    ]


MEMORY_VARIANTS: Final = (
    ("bodies shared (same str)", None),
    ("own copy of the bodies", ""),
    ("own copy, non-Latin-1 (UCS-2)", " —"),
)


def report_memory() -> None:
    """Measure and print record memory against MIME bytes, plus a stdlib tree for context."""
    make_proper_mail()  # fill lazy caches (lru_cache, re, imports) before tracing
    make_stdlib()
    print(f"Memory: {MEMORY_RECORDS:,} composed Message records in a list (tracemalloc)")
    print()
    print(f"{'variant':<32}{'B/record':>10}{'MIME B/msg':>12}{'ratio':>8}")
    verdict = ""
    for label, mark in MEMORY_VARIANTS:
        size, records = _traced(functools.partial(_records, mark))
        mime = sum(len(to_bytes(m)) for m in records) / len(records)
        per_record = size / len(records)
        ratio = per_record / mime
        print(f"{label:<32}{per_record:>10,.0f}{mime:>12,.0f}{ratio:>7.2f}x")
        if mark == "":
            verdict = (
                f"target own-copy record <= {MEMORY_TARGET:g}x MIME bytes"
                f"        {ratio:5.2f}x  {_verdict(ratio <= MEMORY_TARGET)}"
            )
        del records
    size, trees = _traced(lambda: [_stdlib_message() for _ in range(STDLIB_TREES)])
    del trees
    mime = len(make_stdlib())
    per_tree = size / STDLIB_TREES
    label = f"stdlib EmailMessage tree (/{STDLIB_TREES})"
    print(f"{label:<32}{per_tree:>10,.0f}{mime:>12,.0f}{per_tree / mime:>7.2f}x")
    print()
    print(verdict)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the speed then the memory benchmark; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.compose_bench", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="messages per round (2000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (5)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory part")
    args = parser.parse_args(argv)
    html_size = len(HTML.encode())
    assert 2900 <= html_size <= 3300, f"the HTML body is {html_size} bytes, not ~3 KB"
    print(f"Python {sys.version.split()[0]}")
    report_speed(args.n, args.rounds)
    if not args.no_memory:
        print()
        report_memory()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
