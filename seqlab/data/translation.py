"""Translation tasks whose alignment is not a diagonal, generated from a seed (chapter 4).

- :func:`date_pairs` — dates written in several languages and formats -> ISO 8601 ``YYYY-MM-DD``
  ("Dienstag, 3. März 1998" -> "1998-03-03"). The year comes last in the source and first in the
  target; month names become two digits; weekdays align with nothing.
- :func:`number_pairs` — numbers written as words -> digits ("einundzwanzig" -> "21"). German
  says the units before the tens, so the alignment crosses; English (``lang="en"``) is the
  monotone control.

Nothing is downloaded: month and weekday names and the date patterns are the CLDR locale data
that ships inside the ``babel`` wheel; number words come from ``num2words``. The same seed gives
the same pairs for the same versions of these packages (:func:`data_versions`). Vocabularies,
tensors, splits and metrics: :mod:`seqlab.data.translation_data`.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Collection, Sequence
from functools import cache, lru_cache
from importlib.metadata import version
from typing import NamedTuple

from babel import Locale
from babel.dates import format_date
from num2words import num2words

#: Languages of the date task (CLDR locale names).
DATE_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl", "pt")
#: Languages used when none are given.
DEFAULT_DATE_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es")
#: CLDR's own formats, as babel's ``format_date(date, name, locale)`` writes them.
CLDR_FORMATS: tuple[str, ...] = ("short", "medium", "long", "full")
#: Hand-written forms: a CLDR pattern (names from the locale) or a case change of a CLDR format.
HAND_FORMATS: dict[str, str] = {
    "weekday_abbr": "EEE d MMM y",  # Tue 3 Mar 1998 / Di. 3 März 1998
    "short_year": "d MMM yy",  # 3 Mar 98 / 3 mars 98
    "dots": "d.M.y",  # 3.3.1998
    "year_first": "y MMM d",  # 1998 Mar 3 (the order of citation styles such as NLM's)
    "lower": "full",  # tuesday, march 3, 1998
    "upper": "long",  # MARCH 3, 1998 / 3. MÄRZ 1998
}
DATE_FORMATS: tuple[str, ...] = CLDR_FORMATS + tuple(HAND_FORMATS)
#: Default range (inclusive): 100 years, so a two-digit year names one year.
DATE_START, DATE_END = dt.date(1950, 1, 1), dt.date(2049, 12, 31)

#: Languages of the number task; German and French are not monotone, English is.
NUMBER_LANGUAGES: tuple[str, ...] = ("de", "en", "fr")
#: Largest number: above it num2words starts "eine Million" (a capital and a space).
MAX_NUMBER = 999_999


class Pair(NamedTuple):
    """One example: ``src`` text, ``tgt`` text, ``kind`` ("de/full" for dates, "de" for numbers)."""

    src: str
    tgt: str
    kind: str


def data_versions() -> dict[str, str]:
    """The versions the generated text depends on: babel, its CLDR release, num2words."""
    import babel.core

    cldr = getattr(babel.core, "get_cldr_version", lambda: "unknown")()  # babel >= 2.12
    return {"babel": version("babel"), "cldr": str(cldr), "num2words": version("num2words")}


# ---------------------------------------------------------------- argument checks


def _check_n(n: object) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive int, got n={n!r}")


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got seed={seed!r}")


def _check_choice(values: Sequence[str], known: Sequence[str], name: str) -> tuple[str, ...]:
    values = (values,) if isinstance(values, str) else tuple(values)
    if not values:
        raise ValueError(f"{name} must name at least one of {known}, got {name}={values!r}")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unknown {name} {unknown!r} (in {name}={values!r}); known: {known}")
    return tuple(dict.fromkeys(values))  # drop repeats, keep order


def _check_lengths(min_len: int | None, max_len: int | None) -> tuple[int, int]:
    lo, hi = (0 if min_len is None else min_len), (10**9 if max_len is None else max_len)
    for name, value in (("min_len", min_len), ("max_len", max_len)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{name} must be an int or None, got {name}={value!r}")
    if lo < 0:
        raise ValueError(f"min_len must be >= 0, got min_len={min_len!r}")
    if hi < 1:
        raise ValueError(f"max_len must be >= 1, got max_len={max_len!r}")
    if lo > hi:
        raise ValueError(f"min_len={min_len} is greater than max_len={max_len}")
    return lo, hi


def _collect(
    n: int,
    draw: Callable[[], Pair],
    lengths: tuple[int, int],
    unique: bool,
    exclude: Collection[str],
) -> list[Pair]:
    """Draw until ``n`` pairs pass the length window (and are new, when ``unique``)."""
    lo, hi = lengths
    skip = set(exclude)
    out: list[Pair] = []
    max_tries = 100 * n + 10_000
    for _ in range(max_tries):
        pair = draw()
        if not lo <= len(pair.src) <= hi or pair.src in skip:
            continue
        if unique:
            skip.add(pair.src)
        out.append(pair)
        if len(out) == n:
            return out
    raise ValueError(
        f"found only {len(out)} of n={n} pairs with min_len={lo}, max_len={hi}"
        f"{' (unique)' if unique else ''} in {max_tries} draws: widen the length range, "
        "allow more languages/formats or values, or ask for fewer pairs"
    )


# ---------------------------------------------------------------- dates

_SPACES = re.compile("[\u00a0\u2009\u202f]")  # CLDR's no-break and thin spaces -> " "


@cache
def _locale(lang: str, fmt: str) -> Locale:
    # CLDR's US English short form "M/d/yy" would make "3/4/98" mean 4 March in English and
    # 3 April in Spanish ("d/M/yy"): English numeric dates use the British "dd/MM/y" instead,
    # so every source text names exactly one date. All other English forms are US ("Mar 3, 1998").
    return Locale.parse("en_GB" if (lang, fmt) == ("en", "short") else lang)


def _pattern(lang: str, fmt: str) -> str:
    if fmt in CLDR_FORMATS or HAND_FORMATS[fmt] in CLDR_FORMATS:
        base = fmt if fmt in CLDR_FORMATS else HAND_FORMATS[fmt]
        return _locale(lang, base).date_formats[base].pattern
    return HAND_FORMATS[fmt]


def format_date_as(date: dt.date, lang: str, fmt: str) -> str:
    """``date`` written in language ``lang`` (one of :data:`DATE_LANGUAGES`) and format ``fmt``
    (one of :data:`DATE_FORMATS`), with CLDR's no-break and thin spaces written as " "."""
    base = fmt if fmt in CLDR_FORMATS else HAND_FORMATS[fmt]
    text = format_date(date, base, locale=_locale(lang, base))
    text = _SPACES.sub(" ", text)
    return text.lower() if fmt == "lower" else text.upper() if fmt == "upper" else text


@cache
def _date_reference(lang: str) -> tuple[dict[str, tuple[int, int]], frozenset[str]]:
    """Exact (min, max) source length per format, and every character the language can write.

    A formatted length depends only on the month, the weekday and the number of day digits
    (years have 4 digits, or 2 in ``yy``). Days 1-7 and 10-16 of every month of 2000 cover
    every such combination and every month and weekday name, so both results are exact.
    """
    dates = [dt.date(2000, m, d) for m in range(1, 13) for d in (*range(1, 8), *range(10, 17))]
    ranges, chars = {}, set("0123456789")
    for fmt in DATE_FORMATS:
        texts = [format_date_as(d, lang, fmt) for d in dates]
        ranges[fmt] = (min(map(len, texts)), max(map(len, texts)))
        chars.update("".join(texts))
    return ranges, frozenset(chars)


def date_alphabet(languages: Sequence[str] = DATE_LANGUAGES) -> str:
    """Every character a date of these languages can be written with (sorted, no repeats)."""
    langs = _check_choice(languages, DATE_LANGUAGES, "languages")
    return "".join(sorted(set().union(*(_date_reference(lang)[1] for lang in langs))))


def _two_digit_year(lang: str, fmt: str) -> bool:
    return re.search(r"(?<!y)yy(?!y)", _pattern(lang, fmt)) is not None


def date_pairs(
    n: int,
    seed: int,
    languages: Sequence[str] = DEFAULT_DATE_LANGUAGES,
    formats: Sequence[str] = DATE_FORMATS,
    start: dt.date = DATE_START,
    end: dt.date = DATE_END,
    min_len: int | None = None,
    max_len: int | None = None,
    unique: bool = False,
    exclude: Collection[str] = (),
) -> list[Pair]:
    """``n`` pairs (human date, ISO 8601 ``YYYY-MM-DD``, "lang/format").

    Each pair draws a (language, format) uniformly among those that can write a text of
    ``min_len..max_len`` characters, then a day uniformly in ``[start, end]``, and keeps it when
    the source has ``min_len <= len(src) <= max_len`` characters, is not in ``exclude`` and,
    when ``unique``, has not been drawn before. Randomness: ``random.Random(seed)``.

    ``languages``: from :data:`DATE_LANGUAGES`. ``formats``: from :data:`DATE_FORMATS`
    (CLDR's short/medium/long/full and :data:`HAND_FORMATS`). Day/month/year orders: DMY,
    MDY (English), YMD (``year_first``). Every source names exactly one date.

    Raises ValueError, naming the argument and its value, for n <= 0, a non-int seed, an unknown
    language or format, ``end < start``, years outside 1000-9999, a range of 100 years or more
    with a two-digit-year format, ``min_len > max_len``, or a length range no format can meet.
    """
    _check_n(n)
    _check_seed(seed)
    langs = _check_choice(languages, DATE_LANGUAGES, "languages")
    fmts = _check_choice(formats, DATE_FORMATS, "formats")
    if end < start:
        raise ValueError(f"end={end} is before start={start}")
    if start.year < 1000:
        raise ValueError(f"years must have 4 digits, got start={start}")
    yy = sorted({f for lang in langs for f in fmts if _two_digit_year(lang, f)})
    if yy and end.year - start.year >= 100:
        raise ValueError(
            f"start={start}, end={end} span 100 years or more, so a two-digit year would name "
            f"two years in formats {yy}; narrow the range or leave those formats out"
        )
    lengths = _check_lengths(min_len, max_len)
    kinds = [
        (lang, f)
        for lang in langs
        for f in fmts
        if _date_reference(lang)[0][f][0] <= lengths[1]
        and _date_reference(lang)[0][f][1] >= lengths[0]
    ]
    if not kinds:
        raise ValueError(
            f"no format of languages={langs} writes a date in min_len={min_len}..max_len="
            f"{max_len} characters"
        )
    rng = random.Random(seed)
    span = (end - start).days + 1

    def draw() -> Pair:
        lang, fmt = kinds[rng.randrange(len(kinds))]
        date = start + dt.timedelta(days=rng.randrange(span))
        return Pair(format_date_as(date, lang, fmt), date.isoformat(), f"{lang}/{fmt}")

    return _collect(n, draw, lengths, unique, exclude)


def parse_iso_date(text: str) -> dt.date:
    """The date of an ISO 8601 ``YYYY-MM-DD`` string; ValueError if ``text`` is anything else."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise ValueError(f"not an ISO date YYYY-MM-DD: {text!r}")
    return dt.date.fromisoformat(text)  # raises ValueError for 2001-02-29, month 13, ...


# ---------------------------------------------------------------- numbers


@lru_cache(maxsize=1 << 16)
def number_words(value: int, lang: str = "de") -> str:
    """``value`` (0..:data:`MAX_NUMBER`) written in words by num2words, lower case.

    One correction to num2words 0.5.14's German: "...einstausend" (e.g. 101000) is written
    "...eintausend", as German spells it. num2words is slow (~0.4 ms per number), hence the cache.
    """
    words = num2words(value, lang=lang)
    return words.replace("einstausend", "eintausend") if lang == "de" else words


@cache
def number_alphabet(lang: str = "de") -> str:
    """Every character :func:`number_words` can write in ``lang`` (sorted, no repeats).

    Words above 999 are those below 1000 joined by the word for thousand (and, in English, "and"
    or ", "): 0..1099 and a few thousands cover them all.
    """
    (lang,) = _check_choice(lang, NUMBER_LANGUAGES, "lang")
    values = [*range(1100), 2000, 21000, 80000, 101000, 200000, 999_999]
    return "".join(sorted(set("".join(number_words(v, lang) for v in values))))


def number_pairs(
    n: int,
    seed: int,
    lang: str = "de",
    max_value: int = MAX_NUMBER,
    min_value: int = 0,
    min_len: int | None = None,
    max_len: int | None = None,
    unique: bool = False,
    exclude: Collection[str] = (),
) -> list[Pair]:
    """``n`` pairs (number in words, the number in digits, ``lang``): "einundzwanzig" -> "21".

    The number of digits is drawn uniformly (among those with a value in ``[min_value,
    max_value]``), then the value uniformly among numbers with that many digits, so short and
    long texts are equally common. Pairs are kept as in :func:`date_pairs` (``min_len``,
    ``max_len``, ``unique``, ``exclude``). ``lang``: one of :data:`NUMBER_LANGUAGES`; one seed
    draws the same numbers in every language (without a length window), a parallel corpus.

    Raises ValueError, naming the argument and its value, for n <= 0, a non-int seed, an unknown
    ``lang``, values outside ``0 <= min_value <= max_value <= MAX_NUMBER``, ``min_len >
    max_len``, or more ``unique`` pairs than there are numbers in the range.
    """
    _check_n(n)
    _check_seed(seed)
    (lang,) = _check_choice(lang, NUMBER_LANGUAGES, "lang")
    for name, value in (("min_value", min_value), ("max_value", max_value)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
            raise ValueError(f"{name} must be an int in 0..{MAX_NUMBER}, got {name}={value!r}")
    if min_value > max_value:
        raise ValueError(f"min_value={min_value} is greater than max_value={max_value}")
    if unique and n > max_value - min_value + 1:
        raise ValueError(
            f"n={n} unique pairs asked for, but min_value..max_value holds only "
            f"{max_value - min_value + 1} numbers"
        )
    lengths = _check_lengths(min_len, max_len)
    bands = []  # (lowest, highest) value with d digits, clipped to the range
    for d in range(1, len(str(max_value)) + 1):
        lo, hi = max(min_value, 0 if d == 1 else 10 ** (d - 1)), min(max_value, 10**d - 1)
        if lo <= hi:
            bands.append((lo, hi))
    rng = random.Random(seed)

    def draw() -> Pair:
        lo, hi = bands[rng.randrange(len(bands))]
        value = rng.randint(lo, hi)
        return Pair(number_words(value, lang), str(value), lang)

    return _collect(n, draw, lengths, unique, exclude)


def parse_integer(text: str) -> int:
    """The integer of a string of digits without leading zeros ("0", "21"); else ValueError."""
    if not re.fullmatch(r"0|[1-9][0-9]*", text):
        raise ValueError(f"not a non-negative integer in digits: {text!r}")
    return int(text)
