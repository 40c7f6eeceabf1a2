"""The translation tasks of chapter 4: generated from a seed, offline, every target valid."""

import datetime as dt
import socket

import pytest
import torch

from seqlab.data import translation as tr
from seqlab.data import translation_data as td

# ---------------------------------------------------------------- generation


def test_same_seed_same_pairs_other_seed_other_pairs():
    assert tr.date_pairs(300, seed=1) == tr.date_pairs(300, seed=1)
    assert tr.date_pairs(300, seed=1) != tr.date_pairs(300, seed=2)
    assert tr.number_pairs(200, seed=1) == tr.number_pairs(200, seed=1)
    assert tr.number_pairs(200, seed=1) != tr.number_pairs(200, seed=2)
    a = td.translation_splits("numbers", (50, 10, 10), seed=3)
    b = td.translation_splits("numbers", (50, 10, 10), seed=3)
    assert all(torch.equal(a[k].src, b[k].src) and a[k].pairs == b[k].pairs for k in a)


def _no_network(*args, **kwargs):
    raise AssertionError("the task generator tried to open a network connection")


def test_generation_opens_no_network_connection(monkeypatch):
    for cached in (tr._locale, tr._date_reference, tr.number_words, tr.number_alphabet):
        cached.cache_clear()
    td.task_vocabs.cache_clear()
    monkeypatch.setattr(socket, "socket", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    tr.date_pairs(200, seed=0, languages=tr.DATE_LANGUAGES)
    for lang in tr.NUMBER_LANGUAGES:
        tr.number_pairs(50, seed=0, lang=lang)
    for task in td.TASKS:
        td.translation_splits(task, (20, 5, 5), seed=0)


def test_every_date_target_is_the_iso_form_of_its_source():
    start, end = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
    pairs = tr.date_pairs(4000, seed=0, languages=tr.DATE_LANGUAGES, start=start, end=end)
    td.check_targets([p.tgt for p in pairs], "dates")
    for src, tgt, kind in pairs:
        date = tr.parse_iso_date(tgt)
        assert start <= date <= end
        lang, fmt = kind.split("/")
        assert tr.format_date_as(date, lang, fmt) == src
    # every language and every format appears
    assert {p.kind for p in pairs} == {
        f"{a}/{b}" for a in tr.DATE_LANGUAGES for b in tr.DATE_FORMATS
    }


def test_every_number_target_is_the_number_its_words_name():
    for lang, n in (("de", 3000), ("en", 300), ("fr", 300)):
        pairs = tr.number_pairs(n, seed=0, lang=lang, max_value=999_999)
        td.check_targets([p.tgt for p in pairs], "numbers")
        for src, tgt, kind in pairs:
            value = tr.parse_integer(tgt)
            assert 0 <= value <= 999_999 and kind == lang
            assert src == tr.number_words(value, lang)
        assert {len(p.tgt) for p in pairs} == set(range(1, 7))  # digit counts drawn uniformly


def test_german_numbers_say_units_before_tens():
    assert tr.number_words(21, "de") == "einundzwanzig"
    assert tr.number_words(101_000, "de") == "einhunderteintausend"  # num2words says "...eins..."
    assert tr.number_words(21, "en") == "twenty-one"
    for value in (23, 47, 99):
        words = tr.number_words(value, "de")
        unit, tens = tr.number_words(value % 10, "de"), tr.number_words(value // 10 * 10, "de")
        assert words.index(unit.removesuffix("s")) < words.index(tens)


def test_every_source_names_exactly_one_date():
    days = [dt.date(y, 1, 1) + dt.timedelta(d) for y in (2000, 2012) for d in range(365)]
    seen: dict[str, dt.date] = {}
    for lang in tr.DATE_LANGUAGES:
        for fmt in tr.DATE_FORMATS:
            for day in days:
                text = tr.format_date_as(day, lang, fmt)
                assert seen.setdefault(text, day) == day, f"{text!r}: {seen[text]} and {day}"


def test_source_lengths_as_requested():
    pairs = tr.date_pairs(500, seed=0, min_len=20, max_len=24)
    assert all(20 <= len(p.src) <= 24 for p in pairs)
    assert len({p.kind for p in pairs}) > 5
    pairs = tr.number_pairs(100, seed=0, min_len=30, max_len=40)
    assert all(30 <= len(p.src) <= 40 for p in pairs)
    short = td.translation_splits("dates", (50, 10, 10), seed=0, max_len=12)
    assert max(short["train"].src_lengths) <= 13  # 12 characters + <eos>


def test_unique_and_exclude():
    first = tr.date_pairs(300, seed=0, unique=True)
    assert len({p.src for p in first}) == 300
    later = tr.date_pairs(300, seed=0, exclude={p.src for p in first})
    assert not {p.src for p in later} & {p.src for p in first}
    assert len(tr.number_pairs(100, seed=0, max_value=99, unique=True)) == 100


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: tr.date_pairs(0, seed=0), "n=0"),
        (lambda: tr.date_pairs(2.5, seed=0), "n=2.5"),
        (lambda: tr.number_pairs(-1, seed=0), "n=-1"),
        (lambda: tr.date_pairs(5, seed="a"), "seed='a'"),
        (lambda: tr.date_pairs(5, seed=0, languages=("en", "xx")), "languages.*'xx'"),
        (lambda: tr.date_pairs(5, seed=0, languages=()), "languages=()"),
        (lambda: tr.date_pairs(5, seed=0, formats=("iso",)), "formats.*'iso'"),
        (lambda: tr.date_pairs(5, seed=0, min_len=30, max_len=10), "min_len=30.*max_len=10"),
        (lambda: tr.date_pairs(5, seed=0, max_len=3), "max_len=3"),
        (lambda: tr.date_pairs(5, seed=0, min_len="3"), "min_len='3'"),
        (lambda: tr.date_pairs(5, seed=0, min_len=-2), "min_len=-2"),
        (
            lambda: tr.date_pairs(5, seed=0, start=dt.date(2000, 1, 2), end=dt.date(2000, 1, 1)),
            "end=2000-01-01",
        ),
        (lambda: tr.date_pairs(5, seed=0, start=dt.date(1900, 1, 1)), "start=1900-01-01"),
        (lambda: tr.number_pairs(5, seed=0, lang="xx"), "lang.*'xx'"),
        (lambda: tr.number_pairs(5, seed=0, max_value=10**6), "max_value=1000000"),
        (lambda: tr.number_pairs(5, seed=0, min_value=9, max_value=3), "min_value=9.*max_value=3"),
        (lambda: tr.number_pairs(11, seed=0, max_value=9, unique=True), "n=11"),
        (lambda: tr.number_pairs(5, seed=0, min_len=8, max_len=2), "min_len=8"),
        (lambda: td.translation_splits("poems"), "task='poems'"),
        (lambda: td.translation_splits("dates", sizes=(10, -1, 5)), r"sizes=\(10, -1, 5\)"),
        (lambda: td.translation_splits("dates", sizes=(0, 0, 0)), r"sizes=\(0, 0, 0\)"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_wide_range_is_allowed_without_two_digit_years():
    formats = ("long", "full", "year_first")
    pairs = tr.date_pairs(100, seed=0, formats=formats, start=dt.date(1800, 1, 1))
    assert min(tr.parse_iso_date(p.tgt) for p in pairs).year < 1900


# ---------------------------------------------------------------- vocabularies and tensors


def test_vocabularies_cover_the_alphabet_and_round_trip():
    src_vocab, tgt_vocab = td.task_vocabs("dates")
    assert (src_vocab.pad_id, src_vocab.bos_id, src_vocab.eos_id) == (0, 1, 2)
    assert tgt_vocab.chars == "-0123456789" and tgt_vocab.vocab_size == 14
    assert src_vocab.chars == tr.date_alphabet()
    for src, tgt, _ in tr.date_pairs(500, seed=4, languages=tr.DATE_LANGUAGES):
        assert src_vocab.decode(src_vocab.encode(src, eos=True) + [0, 0]) == src
        assert tgt_vocab.decode(tgt_vocab.encode(tgt, bos=True, eos=True)) == tgt
    num_src, _ = td.task_vocabs("numbers")
    for lang in tr.NUMBER_LANGUAGES:
        for src, _, _ in tr.number_pairs(200, seed=4, lang=lang):
            num_src.encode(src)
    with pytest.raises(ValueError, match="character '@'"):
        src_vocab.encode("3 M@rz 1998")
    with pytest.raises(ValueError, match="character '<'"):
        src_vocab.encode("<pad>")
    assert td.task_vocabs("dates")[0] == td.CharVocab(tr.date_alphabet())  # not from samples


def test_splits_are_padded_batch_first_and_disjoint():
    splits = td.translation_splits("dates", (200, 50, 50), seed=0)
    assert set(splits) == {"train", "val", "test"}
    train = splits["train"]
    N, S = train.src.shape
    _, T = train.tgt_in.shape
    assert (N, T) == (200, 11) and train.tgt_out.shape == (200, 11)
    for data in splits.values():
        assert data.src.shape[1] == S and data.tgt_in.shape[1] == T and data.src.dtype == torch.long
        assert data.src_vocab is train.src_vocab
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not set(splits[a].sources) & set(splits[b].sources)
    rows = torch.arange(N)
    assert torch.all(train.tgt_in[:, 0] == 1)  # <bos>
    assert torch.all(train.tgt_out[rows, train.tgt_lengths - 1] == 2)  # <eos>
    assert torch.all(train.src[rows, train.src_lengths - 1] == 2)
    assert torch.equal(train.tgt_in[:, 1:], train.tgt_out[:, :-1])  # dates: fixed length
    mask = torch.arange(S) >= train.src_lengths[:, None]  # (N, S) padding
    assert torch.all(train.src[mask] == 0) and torch.all(train.src[~mask] != 0)
    assert train.src_lengths.tolist() == [len(s) + 1 for s in train.sources]
    assert train.tgt_vocab.decode_batch(train.tgt_out) == train.targets
    assert train.src_vocab.decode_batch(train.src) == train.sources
    assert len(train.tensors()) == 5 and len(train) == 200


def test_number_targets_have_varying_length_and_padding():
    data = td.translation_splits("numbers", (300, 0, 10), seed=0)
    train = data["train"]
    assert len(data["val"]) == 0 and data["val"].src.shape == (0, train.src.shape[1])
    assert len(set(train.tgt_lengths.tolist())) == 6
    short = train.tgt_lengths.argmin()
    assert train.tgt_out[short, train.tgt_lengths[short] :].eq(0).all()
    assert train.tgt_vocab.decode_batch(train.tgt_out) == train.targets
    with pytest.raises(ValueError, match="T=2"):
        td.encode_pairs(train.pairs, train.src_vocab, train.tgt_vocab, T=2)


# ---------------------------------------------------------------- metrics and parsers


def test_metrics_on_decoded_strings():
    targets = ["1998-03-03", "2001-12-31"]
    assert td.exact_match(targets, targets) == 1.0
    assert td.exact_match(["1998-03-03", "2001-12-30"], targets) == 0.5
    assert td.char_accuracy(["1998-03-03", "2001-12-30"], targets) == pytest.approx(19 / 20)
    assert td.char_accuracy(["1998-03", "2001-12-31xx"], targets) == pytest.approx(17 / 22)
    assert td.well_formed(["1998-03-03", "2001-02-29", "19980303", ""], "dates") == 0.25
    assert td.well_formed(["21", "021", "-1", "x"], "numbers") == 0.25
    with pytest.raises(ValueError, match="predictions"):
        td.exact_match(["1"], ["1", "2"])
    with pytest.raises(ValueError, match="task='x'"):
        td.well_formed(["1"], "x")


@pytest.mark.parametrize(
    "text", ["2001-02-29", "1998-3-03", "1998-13-01", "１９９８-03-03", " 1998-03-03"]
)
def test_parse_iso_date_rejects(text):
    with pytest.raises(ValueError):
        tr.parse_iso_date(text)


def test_data_versions_name_the_sources():
    versions = tr.data_versions()
    assert set(versions) == {"babel", "cldr", "num2words"}
    assert all(versions.values())
