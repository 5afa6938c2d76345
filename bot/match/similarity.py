"""Text → word stems → MinHash signatures, and the similarity measures on them.

This module owns how two news items are compared, nothing else: no clock, no
thresholds, no index. Everything is a pure function of its arguments.

    fold          NFKC, casefold, Latin accents off, apostrophes joined, punctuation → space
    tokens        Latin/Cyrillic words, stopwords dropped, lightly stemmed (Slavic endings
                  off, then a fixed-length prefix); in Japanese (no spaces) each kanji
                  and each katakana word is a token
    features      the set of tokens of title and summary (`shingles` adds n-grams on request)
    Fingerprint   title stems, all stems, and the MinHash of all stems: what clustering compares
    MinHash       128 minimum hashes under a fixed, seeded hash family (SHAKE-128), 6 bits
                  each: one base64 character per value, for `Story.signature`
    jaccard       the exact measure the thresholds are tuned on; `overlap` is kept for
                  comparison in the backtest notes
    MinHash.jaccard        the estimate, used when only a stored signature is known

What was measured on tests/data/stories (129 same-story pairs, 5 languages), as the
number of same-story pairs found with no wrong merge, best threshold per language:

    Jaccard of stems                      116      (chosen)
    overlap coefficient of stems          106
    Jaccard of 1+2-word shingles           91      outlets reorder words; bigrams break
    Japanese: kanji bigrams only       7 of 21     vs 17 of 21 with single kanji
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: MinHash permutations. On tests/data/stories, with the index's rule (3 shared
#: bands of the 127), 128 permutations find 114 of the 116 same-story pairs an
#: exhaustive search finds; 64 permutations found 101 (3 of 63 bands) or 112 (2
#: of 63, with more candidates to verify). The estimate's standard error is
#: sqrt(J(1-J)/128) ≈ 0.04 at J = 0.25; decisions use exact features whenever
#: the text is known.
NUM_PERM = 128
#: bits kept per minimum hash: one base64 character each
BITS = 6
_BIT_MASK = (1 << BITS) - 1
_SEED = b"skywatch-minhash-v1:"

# Japanese/Chinese script ranges: hiragana, katakana (with the long-vowel mark), CJK ideographs.
_HIRAGANA = "\u3040-\u309f"
_KATAKANA = "\u30a0-\u30ff\uff66-\uff9f"
_KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005"  # \u3005 is 々, the repeat mark
_CJK = _HIRAGANA + _KATAKANA + _KANJI
_TOKEN_RE = re.compile(rf"[{_CJK}]+|\d+|[^\W\d_{_CJK}]+")
_CJK_RUN_RE = re.compile(rf"[{_CJK}]")
# Inside a CJK run, content is in kanji and katakana; hiragana is mostly particles and
# verb endings (が, を, した), which would make every sentence look alike.
_CONTENT_RUN_RE = re.compile(rf"[{_KANJI}]+|[{_KATAKANA}]+")
_KATAKANA_RE = re.compile(rf"[{_KATAKANA}]")
# Apostrophes inside words are part of the word: Ukrainian п'ять, English Russia's.
_APOSTROPHE_RE = re.compile(r"(?<=\w)['’ʼ`](?=\w)")
_CYRILLIC_RE = re.compile(r"[\u0400-\u04ff]")

# Words too common to tell stories apart, per language. Small on purpose: news
# headlines are short, and a word like "attack" or "Angriff" is signal, not noise.
# Folded spelling (no accents), as `fold` produces it.
_STOPWORDS_BY_LANG = {
    "en": "a an the of in on at to for from by with and or as is are was were be been has have"
    " had it its this that after over into amid says said will would new than up out about"
    " more not no but their his her they he she we us who what why how",
    "de": "der die das den dem des ein eine einen einem einer und oder im in am an auf aus bei"
    " mit nach von vor zu zum zur fur uber ist sind war wurde wurden hat haben wird werden"
    " sich nicht auch als wie bis seit dass es er sie",
    "uk": "і й та в у на з із зі до від для по за що як це не але про при після через під над"
    " його її їх він вона вони було були буде є також",
    "ru": "и в во на с со к ко от для по за что как это не но о об про при после через под над"
    " его ее её их он она они было были будет есть также из у до",
}
#: All stopwords together: a feed's declared language is often missing or wrong,
#: and the lists do not collide across scripts.
STOPWORDS: frozenset[str] = frozenset(
    w for text in _STOPWORDS_BY_LANG.values() for w in text.split()
)

# Endings stripped from Cyrillic words before truncation, longest first, so that
# Киев / Киева / Киеве and Харкові / Харкова meet. Light on purpose: a real stemmer
# is not worth a dependency for headline matching.
_SLAVIC_ENDINGS = (
    "ами ями ого его ому ему ими ыми ий ый ой ая яя ое ее ые ие ых их ую юю ам ям ах ях"
    " ом ем ов ев ей ів їв ою ею а я о е ы и і ї у ю ь й"
)
_SLAVIC_SUFFIXES: tuple[str, ...] = tuple(sorted(_SLAVIC_ENDINGS.split(), key=len, reverse=True))
#: Truncation lengths, by script: keep German compounds' heads and Slavic stems
#: together (Angriffe/Angriffs → angrif, Киева/Киеве → киев) without merging most
#: words. Cyrillic gets one character less because Slavic endings are longer; on
#: tests/data/stories 5 vs 6 raised Russian recall from 15 to 18 of 22 pairs, while
#: for German 6 beat 5 (25 vs 21 of 25).
STEM_LEN_LATIN = 6
STEM_LEN_CYRILLIC = 5


def fold(text: str) -> str:
    """Normalize for comparison: NFKC, casefold, Latin accents off, punctuation to spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    # most text has no apostrophe: four `in` scans cost less than one regex search
    if "'" in text or "’" in text or "ʼ" in text or "`" in text:
        text = _APOSTROPHE_RE.sub("", text)
    return text.translate(_FOLD_TABLE)


def _fold_char(c: str) -> str:
    if c.isalnum():
        # Strip accents from Latin letters only: NFKD would also split Japanese
        # voiced kana (ガ → カ + ゛) and Cyrillic й.
        if "\u00c0" <= c <= "\u024f":
            return unicodedata.normalize("NFKD", c)[0]
        return c
    return " "


class _FoldTable(dict[int, str]):
    """str.translate table filled on first sight of each character (a few thousand at most)."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold_char(chr(code))
        return folded


_FOLD_TABLE = _FoldTable()


#: distinct words whose stems `stem` remembers: a few MB when full, and news text
#: draws most of its words from far fewer
STEM_CACHE = 1 << 14


# Cached not only for speed: a cached word's stem is one shared string object, so
# the story index's members (bot/match/cluster.py) share their stems instead of
# each keeping copies; with the bench farm's text that was 43 of 82 MB at 12,000.
@functools.lru_cache(maxsize=STEM_CACHE)
def stem(word: str) -> str:
    """A light stem: Slavic case endings off, then a prefix of fixed length."""
    if not _CYRILLIC_RE.match(word):
        return word[:STEM_LEN_LATIN]
    if len(word) > 4:
        for suffix in _SLAVIC_SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
    return word[:STEM_LEN_CYRILLIC]


def tokens(text: str) -> list[str]:
    """Content tokens in order: stemmed words, numbers, single kanji, katakana words."""
    return list(_tokens(text))


def _tokens(text: str) -> Iterable[str]:
    """`tokens`, as an iterator where no list is needed (`Fingerprint.of`'s sets)."""
    folded = fold(text)
    runs = _ascii_runs(folded)
    if runs is None:
        runs = _TOKEN_RE.findall(folded)
        if _CJK_RUN_RE.search(folded) is not None:
            return _tokens_with_cjk(runs)
    # no kanji or kana anywhere (most items): no run needs splitting
    return map(stem, itertools.filterfalse(STOPWORDS.__contains__, runs))


#: what `_TOKEN_RE` finds in text of lower-case ASCII letters, digits and spaces
_ASCII_TOKEN_RE = re.compile(r"[a-z]+|[0-9]+")
_ASCII_LETTERS = b" abcdefghijklmnopqrstuvwxyz"
_ASCII_DIGITS = b"0123456789"


def _ascii_runs(folded: str) -> list[str] | None:
    """`_TOKEN_RE.findall(folded)` for the usual folded text, [a-z0-9 ] only; else None.

    Its Unicode classes make `_TOKEN_RE` slow: str.split does text of letters
    and spaces in a tenth of its time, a regex of ASCII classes in half.
    """
    if not folded.isascii():
        return None
    rest = folded.encode().translate(None, _ASCII_LETTERS)
    if not rest:
        return folded.split()
    if not rest.translate(None, _ASCII_DIGITS):
        return _ASCII_TOKEN_RE.findall(folded)
    return None


def _tokens_with_cjk(runs: list[str]) -> list[str]:
    out: list[str] = []
    for run in runs:
        if _CJK_RUN_RE.match(run):
            out.extend(_cjk_grams(run))
        elif run not in STOPWORDS:
            out.append(stem(run))
    return out


def _cjk_grams(run: str) -> list[str]:
    grams: list[str] = []
    for part in _CONTENT_RUN_RE.findall(run):
        if _KATAKANA_RE.match(part):
            # A katakana run is a loanword or a name (ウクライナ, パトリオット) and does
            # not inflect: one token, or one country name would count four times.
            grams.append(part)
        else:
            # Each kanji is a token. On tests/data/stories/ja.jsonl, single kanji
            # found 17 of 21 same-story pairs at zero wrong merges, kanji bigrams 7:
            # outlets abbreviate compounds (青森県沖 / 青森沖), which breaks bigrams.
            grams.extend(part)
    return grams


def shingles(toks: Sequence[str], sizes: Iterable[int] = (1, 2)) -> frozenset[str]:
    """Word n-grams of the given sizes, joined with a space."""
    out: set[str] = set()
    for n in sizes:
        if n == 1:
            out.update(toks)  # what joining one token gives, without the joins
            continue
        out.update(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
    return frozenset(out)


def features(title: str, summary: str = "", sizes: Iterable[int] = (1,)) -> frozenset[str]:
    """The feature set of an item: word shingles of title and summary.

    Title and summary are shingled apart, so no n-gram spans the seam between them.
    Only 1-word shingles by default: on tests/data/stories, Jaccard on stems found
    116 of 129 same-story pairs at zero wrong merges, Jaccard on 1+2-word shingles 91,
    because outlets reorder words and every reordering breaks a bigram.
    """
    sizes = tuple(sizes)
    return shingles(tokens(title), sizes) | shingles(tokens(summary), sizes)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|A ∩ B| / |A ∪ B|; 0 for two empty sets."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """|A ∩ B| / min(|A|, |B|): forgiving when one outlet writes a longer summary."""
    smaller = min(len(a), len(b))
    return len(a & b) / smaller if smaller else 0.0


#: features whose hash values `_lanes` remembers: 0.8 KB each, so at most 3.5 MB;
#: the bench farm's text has 2,600 distinct stems, and news repeats its words
LANES_CACHE = 1 << 12
#: `_lanes` packs each 32-bit value into a 40-bit lane; bit 32 of every lane is
#: the borrow guard of the lane-wise minimum in `MinHash.of`
_LANE_BYTES = 5
_GUARD = int.from_bytes(b"\x00\x00\x00\x00\x01" * NUM_PERM, "little")
_LOW_BITS = bytes(b & _BIT_MASK for b in range(256))


@functools.lru_cache(maxsize=LANES_CACHE)
def _lanes(feature: str) -> int:
    """A feature's values under all NUM_PERM hash functions, one 40-bit lane each.

    One SHAKE-128 call gives all NUM_PERM values at once: 32 independent
    pseudo-random bits per function (little-endian), fixed by _SEED on every
    machine and run (stored signatures depend on it). Lane k holds function k's
    value with 8 zero bits above it, room for `MinHash.of`'s comparison.
    """
    digest = hashlib.shake_128(_SEED + feature.encode()).digest(4 * NUM_PERM)
    lanes = bytearray(_LANE_BYTES * NUM_PERM)
    for i in range(4):
        lanes[i::_LANE_BYTES] = digest[i::4]
    return int.from_bytes(lanes, "little")


@dataclass(frozen=True, slots=True)
class MinHash:
    """A b-bit MinHash: for each of NUM_PERM hash functions, the low BITS bits of the minimum."""

    #: NUM_PERM values in [0, 2**BITS), one byte each: the story index keeps one
    #: signature per member, and bytes take 161 bytes where a tuple of ints takes 1,080
    values: bytes

    @classmethod
    def of(cls, feats: Iterable[str]) -> MinHash:
        """The signature of a feature set (all zeros for an empty set)."""
        # Big-int arithmetic takes the minimum of all NUM_PERM lanes per operation, so
        # the per-value work stays in C (a tuple per feature and `min` per function took
        # 4 times as long). `least` keeps every lane's guard bit set, so per lane
        # (2**32 + a) - b keeps bit 32 exactly when a >= b and never borrows from the
        # next lane; that bit minus itself shifted to bit 0 is the mask that selects b.
        # (Setting the guard and making the mask by a product for each feature took
        # a fifth longer.)
        guard = _GUARD
        rest = iter(feats)
        first = next(rest, None)
        if first is None:
            return cls(bytes(NUM_PERM))
        least = _lanes(first) | guard
        for feature in rest:
            lanes = _lanes(feature)
            smaller = (least - lanes) & guard
            least ^= (least ^ lanes) & (smaller - (smaller >> 32))
        # The minimum is taken on all 32 bits; the bits kept are the low ones,
        # because the top bits of a minimum are biased towards 0: the lowest byte
        # of each little-endian lane.
        minima = least.to_bytes(_LANE_BYTES * NUM_PERM, "little")
        return cls(minima[::_LANE_BYTES].translate(_LOW_BITS))

    def jaccard(self, other: MinHash) -> float:
        """Estimated Jaccard similarity, corrected for chance agreement of BITS-bit values.

        Compares the values both signatures have: a stored prefix (see `to_str`)
        is a valid signature with fewer permutations.
        """
        n = min(len(self.values), len(other.values))
        if not n:
            return 0.0
        same = sum(1 for a, b in zip(self.values, other.values, strict=False) if a == b)
        chance = 1 / (1 << BITS)
        return max(0.0, (same / n - chance) / (1 - chance))

    def bands(self, rows: int) -> list[int]:
        """LSH band keys: every run of `rows` consecutive values, prefixed with its start.

        The runs overlap (values 0-1, 1-2, 2-3 …), which gives 127 bands from 128
        values instead of 64: twice the chances for a true pair to meet, for the
        same hashing work; the index then asks for several shared bands.
        Each key is one int, `start << (BITS * rows) | run`, the run's values as
        BITS-bit digits: a tuple per key cost the index 9 KiB per member.
        """
        width = BITS * rows
        mask = (1 << width) - 1
        keys: list[int] = []
        run = 0
        for end, value in enumerate(self.values):
            run = ((run << BITS) | value) & mask
            if end >= rows - 1:
                keys.append(((end - rows + 1) << width) | run)
        return keys

    def to_str(self, length: int = NUM_PERM) -> str:
        """One URL-safe base64 character per value; `length` keeps a prefix.

        The full form is NUM_PERM (128) characters. The first 64 still make a
        usable signature, the size of `Story.signature` today, at the cost of half
        the LSH bands and a noisier estimate.
        """
        return "".join(_B64[v] for v in self.values[:length])

    @classmethod
    def from_str(cls, text: str) -> MinHash:
        """Parse `to_str` output (full or prefix); ValueError on anything else."""
        if not 0 < len(text) <= NUM_PERM or any(c not in _B64_INDEX for c in text):
            raise ValueError(f"not a MinHash signature: {text!r}")
        return cls(bytes(_B64_INDEX[c] for c in text))


#: the URL-safe base64 alphabet: one character per 6-bit value
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_INDEX = {c: i for i, c in enumerate(_B64)}


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What clustering needs to know about one item's text."""

    #: stems of the title alone, compared when one side has no summary
    title: frozenset[str]
    #: stems of title and summary
    words: frozenset[str]
    #: MinHash of `words`, for the LSH index and for the stored `Story.signature`
    signature: MinHash
    has_summary: bool

    @classmethod
    def of(cls, title: str, summary: str = "") -> Fingerprint:
        """Fingerprint an item's title and summary."""
        # `features` of each text alone, without the shingling of an empty second text
        title_words = frozenset(_tokens(title))
        summary_words = frozenset(_tokens(summary))
        all_words = title_words | summary_words
        return cls(title_words, all_words, MinHash.of(all_words), bool(summary_words))
