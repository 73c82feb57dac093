"""The Snorkel spam-tutorial LFs for YouTube comments, as Spark expressions.

These are the seven rule LFs of the Snorkel "Getting started" spam tutorial
(keyword, regex and length rules; SPAM = 1, HAM = 0). They reproduce, vote for
vote, the stored votes of LFs 0-6 in WRENCH's ``youtube`` dataset (checked by
``tests/lf_library/test_youtube_spam_pack.py``), plus the tutorial's two
TextBlob sentiment LFs as vectorized Python LFs sharing one sentiment
preprocessor; they reproduce WRENCH's LFs 8-9 exactly (TextBlob's lexicon ships
inside the package, so they run offline). The tutorial's spaCy NER LF
(``has_person_nlp``, WRENCH LF 7) is left out: no spaCy English model can be
installed from PyPI, so it could not run on a fresh machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lf_library.core import KeywordLF, LFPack, RegexLF, WordCountLF
from lf_library.python_lf import batch_labeling_function, preprocessor

CLASSES = ("HAM", "SPAM")
OWNER = "labellake (after the Snorkel spam tutorial)"


@preprocessor()
def textblob_sentiment(df: Any) -> Any:
    """(polarity, subjectivity) per row, computed once for both sentiment LFs."""
    from textblob import TextBlob

    return df["text"].map(lambda text: tuple(TextBlob(text or "").sentiment))


@batch_labeling_function(label="HAM", pre=[textblob_sentiment], owner=OWNER)
def textblob_polarity(df: Any) -> Any:
    """Very positive comments (polarity > 0.9) are rarely spam."""
    return np.where(df["textblob_sentiment"].str[0] > 0.9, 0, -1)


@batch_labeling_function(label="HAM", pre=[textblob_sentiment], owner=OWNER)
def textblob_subjectivity(df: Any) -> Any:
    """Subjective comments (subjectivity >= 0.5) are usually about the video."""
    return np.where(df["textblob_sentiment"].str[1] >= 0.5, 0, -1)


def build_pack() -> LFPack:
    return LFPack(
        "youtube_spam",
        CLASSES,
        [
            KeywordLF(
                "keyword_my",
                "SPAM",
                keywords=("my",),
                owner=OWNER,
                description="Spam talks about 'my channel', 'my video'.",
            ),
            KeywordLF(
                "keyword_subscribe",
                "SPAM",
                keywords=("subscribe",),
                owner=OWNER,
                description="Spam asks viewers to subscribe.",
            ),
            KeywordLF("keyword_link", "SPAM", keywords=("http",), owner=OWNER, description="Spam posts links."),
            KeywordLF(
                "keyword_please",
                "SPAM",
                keywords=("please", "plz"),
                owner=OWNER,
                description="Spam makes requests rather than commenting.",
            ),
            KeywordLF(
                "keyword_song",
                "HAM",
                keywords=("song",),
                owner=OWNER,
                description="Ham talks about the video's content.",
            ),
            RegexLF(
                "regex_check_out",
                "SPAM",
                pattern=r"check.*out",
                ignore_case=True,
                owner=OWNER,
                description="Spam asks to 'check out' a link or channel.",
            ),
            WordCountLF(
                "short_comment",
                "HAM",
                max_words=5,
                owner=OWNER,
                description="Ham comments are often short, e.g. 'cool video!'.",
            ),
            textblob_polarity,
            textblob_subjectivity,
        ],
    )
