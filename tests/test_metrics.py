"""seqlab.metrics: nats -> bits per character and perplexity."""

import math

import numpy as np
import pandas as pd
import pytest

from seqlab.metrics import bpc, ppl


def test_conversions_of_known_values():
    assert bpc(math.log(2)) == pytest.approx(1.0)
    assert bpc(1.743) == pytest.approx(1.743 / 0.6931471805599453)
    assert ppl(0.0) == 1.0 and ppl(math.log(76)) == pytest.approx(76.0)
    assert isinstance(bpc(1.0), float) and isinstance(ppl(1.0), float)


def test_arrays_and_series_keep_their_kind():
    s = pd.Series([1.0, 2.0], index=["a", "b"], name="val_loss")
    out = bpc(s)
    assert isinstance(out, pd.Series) and list(out.index) == ["a", "b"] and out.name == "val_loss"
    np.testing.assert_allclose(ppl(np.array([0.0, 1.0])), [1.0, math.e])
    assert bpc(math.inf) == math.inf


@pytest.mark.parametrize("bad", [-0.1, math.nan, None, True])
def test_bad_loss_raises(bad):
    with pytest.raises(ValueError, match="loss"):
        bpc(bad)
    with pytest.raises(ValueError, match="loss"):
        ppl(bad)
