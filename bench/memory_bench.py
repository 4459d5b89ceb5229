"""Peak memory of a message with a large attachment: compose, to_bytes, iter_bytes.

The attachment is PDF-like: random bytes (incompressible, like a real PDF's streams) sent
as application/pdf, 25 MB by default. Each case runs in a fresh subprocess, which
imports proper_mail, composes and renders one small message (so imports and caches are
warm), reads its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), then creates
the attachment, runs the case, and reads the peak RSS again. The difference divided by
the attachment's size is the figure reported: 1.00x is the attachment itself and nothing
else, as the caller holds it while sending.

- ``compose``: ``compose(...)`` of a message carrying the attachment;
- ``to_bytes``: that, then ``to_bytes(message)`` (the whole message as one bytes);
- ``iter_bytes``: that, then ``iter_bytes(message)`` consumed chunk by chunk, each chunk
  dot-stuffed as the SMTP client does before writing it (and then dropped);
- ``wire_size``: that, then ``wire_size(message)`` (the SMTP SIZE parameter);
- ``smtp``: that, then ``SMTPMailer.deliver(message)`` to the lean SMTP sink of
  ``bench.smtp_bench`` in another process (the real sending path: SIZE from wire_size,
  the chunks of iter_bytes dot-stuffed and written one by one).

Targets: compose + to_bytes and compose + SMTP each peak under 3x the attachment.

Run it with ``./scripts/bench memory`` or ``.venv/bin/python -m bench.memory_bench
[--mb 25]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from typing import Final

from proper_mail.core.compose import compose
from proper_mail.core.mime import to_bytes
from proper_mail.core.records import Attachment, Message, Stamp

__all__ = ["CASES", "main", "measure"]

CASES: Final = ("compose", "to_bytes", "iter_bytes", "wire_size", "smtp")
TARGET: Final = 3.0
# ru_maxrss is in KiB on Linux and in bytes on macOS.
_RSS_UNIT: Final = 1 if sys.platform == "darwin" else 1024


def _peak_rss() -> int:
    """The peak resident set size of this process so far, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT


def _message(content: bytes) -> Message:
    """An invoice email carrying *content* as invoice.pdf."""
    return compose(
        stamp=Stamp(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC), "18ec0279d6855e6e.de835cbd"),
        from_email="Billing <billing@example.com>",
        to="Alice <alice@example.com>",
        subject="Your invoice",
        body="Please find your invoice attached.\n",
        attachments=[Attachment("invoice.pdf", content, "application/pdf")],
    )


def run_case(case: str, size: int) -> tuple[int, int]:
    """Run *case* with a *size*-byte attachment; return (peak before, peak after) in bytes."""
    to_bytes(_message(b"%PDF-1.7\n"))  # imports, caches
    if case == "smtp":
        from bench.smtp_bench import Sink
        from proper_mail import SMTPMailer

        with Sink("lean") as sink, SMTPMailer(host=sink.host, port=sink.port) as mailer:
            mailer.deliver(_message(b"%PDF-1.7\n"))  # the connection and its buffers
            before = _peak_rss()
            result = mailer.deliver(_message(os.urandom(size)))
            assert result.accepted == ("alice@example.com",)
            return before, _peak_rss()
    before = _peak_rss()

    # Random bytes made in one piece: a header prepended would copy them (2x for a moment).
    message = _message(os.urandom(size))
    if case == "to_bytes":
        data = to_bytes(message)
        assert len(data) > size
        del data
    elif case == "iter_bytes":
        from proper_mail.core.mime import iter_bytes

        total = 0
        for chunk in iter_bytes(message):
            # What the SMTP client does to each chunk before writing it (RFC 5321, 4.5.2).
            stuffed = chunk.replace(b"\r\n.", b"\r\n..")
            if stuffed.startswith(b"."):
                stuffed = b"." + stuffed
            total += len(stuffed)
        assert total > size
    elif case == "wire_size":
        from proper_mail.core.mime import wire_size

        assert wire_size(message) > size
    return before, _peak_rss()


def measure(case: str, size: int) -> float:
    """Run *case* in a subprocess; return its peak RSS growth as a multiple of *size*."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.memory_bench", "--child", case, "--bytes", str(size)],
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = map(int, result.stdout.split())
    return (after - before) / size


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every case and print the table and the target; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory_bench", description=__doc__)
    parser.add_argument("--mb", type=float, default=25, help="attachment size in MB (25)")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--bytes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        before, after = run_case(args.child, args.bytes)
        print(before, after)
        return 0
    size = int(args.mb * 1_000_000)
    print(f"Python {sys.version.split()[0]}")
    print(f"Peak RSS over the warmed-up baseline, one {size / 1e6:g} MB attachment (random bytes)")
    print()
    print(f"{'case':<34}{'peak MB':>10}{'x attachment':>14}")
    ratios = {}
    for case in CASES:
        ratios[case] = measure(case, size)
        label = "compose" if case == "compose" else f"compose + {case}"
        print(f"{label:<34}{ratios[case] * size / 1e6:>10.1f}{ratios[case]:>13.2f}x")
    print()
    for case in ("to_bytes", "smtp"):
        ok = ratios[case] < TARGET
        print(
            f"target compose + {case:<9} < {TARGET:g}x the attachment"
            f"   {ratios[case]:5.2f}x  {'PASS' if ok else 'FAIL'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
