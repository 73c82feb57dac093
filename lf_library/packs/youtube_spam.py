"""The Snorkel spam-tutorial LFs for YouTube comments, as Spark expressions.

These are the seven rule LFs of the Snorkel "Getting started" spam tutorial
(keyword, regex and length rules; SPAM = 1, HAM = 0). They reproduce, vote for
vote, the stored votes of LFs 0-6 in WRENCH's ``youtube`` dataset (checked by
``tests/lf_library/test_youtube_spam_pack.py``). The tutorial's NLP LFs (spaCy
NER, TextBlob sentiment) need models and come with the Python LF support.
"""

from __future__ import annotations

from lf_library.core import KeywordLF, LFPack, RegexLF, WordCountLF

CLASSES = ("HAM", "SPAM")
OWNER = "labellake (after the Snorkel spam tutorial)"


def build_pack() -> LFPack:
    return LFPack(
        "youtube_spam",
        CLASSES,
        [
            KeywordLF("keyword_my", "SPAM", keywords=("my",), owner=OWNER,
                      description="Spam talks about 'my channel', 'my video'."),
            KeywordLF("keyword_subscribe", "SPAM", keywords=("subscribe",), owner=OWNER,
                      description="Spam asks viewers to subscribe."),
            KeywordLF("keyword_link", "SPAM", keywords=("http",), owner=OWNER,
                      description="Spam posts links."),
            KeywordLF("keyword_please", "SPAM", keywords=("please", "plz"), owner=OWNER,
                      description="Spam makes requests rather than commenting."),
            KeywordLF("keyword_song", "HAM", keywords=("song",), owner=OWNER,
                      description="Ham talks about the video's content."),
            RegexLF("regex_check_out", "SPAM", pattern=r"check.*out", ignore_case=True, owner=OWNER,
                    description="Spam asks to 'check out' a link or channel."),
            WordCountLF("short_comment", "HAM", max_words=5, owner=OWNER,
                        description="Ham comments are often short, e.g. 'cool video!'."),
        ],
    )
