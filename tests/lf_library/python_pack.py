"""A pack mixing declarative and Python LFs, used by the tests (``lf_pack = "tests.lf_library.python_pack:build"``)."""

from __future__ import annotations

import numpy as np

from lf_library import KeywordLF, LFPack
from lf_library.python_lf import batch_labeling_function, from_snorkel, labeling_function, preprocessor


@preprocessor()
def n_words(df):
    return df["text"].str.split().str.len()


@labeling_function(label="SPAM")
def many_exclamations(x):
    return "SPAM" if x.text.count("!") >= 3 else None


@batch_labeling_function(label="HAM", pre=[n_words])
def very_short(df):
    return np.where(df["n_words"] < 3, 0, -1)


@labeling_function()
def explodes_on_sevens(x):
    if "7" in x.text:
        raise RuntimeError("no sevens please")
    return -1


class FakeSnorkelLF:
    """What Snorkel's LabelingFunction looks like from outside: .name, _f, _resources, __call__(x)."""

    def __init__(self, name, f, resources=None):
        self.name, self._f, self._resources, self._pre = name, f, resources or {}, []

    def __call__(self, x):
        return self._f(x, **self._resources)


def _lookup(x, words):
    return 1 if any(w in x.text.lower() for w in words) else -1


def build(with_bomb: bool = True) -> LFPack:
    lfs = [
        KeywordLF("keyword_check", "SPAM", keywords=("check",)),
        many_exclamations,
        very_short,
        from_snorkel(FakeSnorkelLF("snorkel_keyword_free", _lookup, {"words": ("free", "win")})),
    ]
    if with_bomb:
        lfs.append(explodes_on_sevens)
    return LFPack("python_test", ("HAM", "SPAM"), lfs)


def build_safe() -> LFPack:
    return build(with_bomb=False)
