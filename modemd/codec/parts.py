"""Part planning for an SMS text: the alphabet (TS 23.038) and where a long text is cut into concatenated parts
(TS 23.040 9.2.3.24.1). Pure: no I/O, no asyncio.

Cuts fall between grapheme clusters (approximated), so a flag, an emoji with its modifiers or a letter with its
combining marks stays in one part; ESC + extension code and surrogate pairs are never split.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from . import gsm7

from .fields import PduError

Encoding = Literal["gsm7", "ucs2"]

# TS 23.040 9.2.3.24 / TS 23.038 6.1.2: a single SMS carries 140 octets = 160 septets = 70 UCS-2 units. The 8-bit
# concatenation header (UDHL 05, IEI 00, len 03, ref, total, seq) takes 6 octets = 7 septets, leaving 153 / 67;
# the 16-bit one (IEI 08) takes 7 octets = 8 septets, leaving 152 / 66.
SINGLE_LIMIT = {"gsm7": 160, "ucs2": 70}
CONCAT8_LIMIT = {"gsm7": 153, "ucs2": 67}
CONCAT16_LIMIT = {"gsm7": 152, "ucs2": 66}
MAX_PARTS = 255  # TS 23.040 9.2.3.24.1: the part count is one octet


@dataclass(frozen=True)
class SmsPlan:
    encoding: Encoding
    parts: list[str]  # len(parts) is the part count; "".join(parts) == text


def plan(text: str) -> SmsPlan:
    """Choose the alphabet (GSM 7-bit if every character fits, else UCS-2) and split into parts."""
    return plan_with_limits(text, CONCAT8_LIMIT)


def plan_with_limits(text: str, concat_limit: dict[str, int]) -> SmsPlan:
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):  # e.g. "\ud800" from JSON: not encodable as UTF-16
        raise PduError("text contains a lone UTF-16 surrogate")
    encoding: Encoding = "gsm7" if gsm7.is_gsm7(text) else "ucs2"
    if _units(text, encoding) <= SINGLE_LIMIT[encoding]:
        return SmsPlan(encoding, [text])
    parts = _split(text, encoding, concat_limit[encoding])
    if len(parts) > MAX_PARTS:
        raise PduError(f"text needs {len(parts)} parts; TS 23.040 allows at most {MAX_PARTS}")
    return SmsPlan(encoding, parts)


def _units(text: str, encoding: Encoding) -> int:
    """Septets (extension chars count 2) or UTF-16 code units (astral chars count 2)."""
    if encoding == "gsm7":
        return sum(gsm7.char_septets(ch) for ch in text)
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _split(text: str, encoding: Encoding, limit: int) -> list[str]:
    """Greedy split on cluster boundaries; a cluster too big for one part is split between code points.

    Splitting whole characters keeps ESC + extension code and surrogate pairs together by construction.
    """
    parts: list[str] = []
    current, used = "", 0
    for cluster in _clusters(text):
        pieces = list(cluster) if _units(cluster, encoding) > limit else [cluster]
        for piece in pieces:
            size = _units(piece, encoding)
            if used + size > limit:
                parts.append(current)
                current, used = "", 0
            current += piece
            used += size
    parts.append(current)
    return parts


def _clusters(text: str) -> list[str]:
    """A simple approximation of grapheme clusters: base + combining marks / variation selectors / emoji
    modifiers / tags, ZWJ sequences, and regional-indicator pairs (flags). Not full UAX #29."""
    clusters: list[str] = []
    for ch in text:
        if clusters and _extends(clusters[-1], ch):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


def _extends(cluster: str, ch: str) -> bool:
    cp = ord(ch)
    if cluster[-1] == "\u200d" or cp == 0x200D:  # ZERO WIDTH JOINER binds both neighbours
        return True
    if unicodedata.category(ch) in ("Mn", "Me", "Mc"):
        return True
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors
        return True
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:  # emoji modifiers, tag characters
        return True
    # a flag is a pair of regional indicators: join the second to a cluster holding an odd number of them
    return _regional(ch) and all(map(_regional, cluster)) and len(cluster) % 2 == 1


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF
