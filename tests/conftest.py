"""Shared test setup: every test session gets a results cache of its own.

Tests must not read results that the book build or ``make figures`` computed (a test would then
check a cache, not the code), nor leave theirs behind. ``SEQLAB_CACHE_DIR`` points at a fresh
temporary folder for the session; the converted corpus is copied in, so it is not converted
again (it is data, not a result).

The exception is :func:`book_cache`, for tests that run after the smoke book build
(``make browser``) and check what it left: that ``make figures`` then computes nothing.
"""

from __future__ import annotations

import os
import shutil

import pytest

from seqlab.device import CACHE_ENV, cache_dir

# The cache the book build used (read before the session switches it).
BOOK_CACHE_ENV = os.environ.get(CACHE_ENV)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    corpus = sorted(cache_dir().glob("shakespeare.*"))  # the default location, before the switch
    folder = tmp_path_factory.mktemp("seqlab-cache")
    for path in corpus:
        shutil.copy2(path, folder / path.name)
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


@pytest.fixture
def book_cache(monkeypatch, private_cache):
    """Point ``SEQLAB_CACHE_DIR`` back at the book build's cache for one test."""
    if BOOK_CACHE_ENV is None:
        monkeypatch.delenv(CACHE_ENV, raising=False)
    else:
        monkeypatch.setenv(CACHE_ENV, BOOK_CACHE_ENV)
    return cache_dir()
