"""Search benchmark: the chat `search` command over 1,000,000 stored items.

    .venv/bin/python bench/bench_search.py               # 1,000,000 items
    .venv/bin/python bench/bench_search.py --items 100000

Builds a temporary SQLite database through the real migrations (so the FTS5
trigram table and its triggers are the production ones), fills it with items
in eight languages, then times 50+ queries (common and rare terms, Japanese,
Cyrillic, two-character terms, filters) through `bot.store.search.search`.
The baseline, measured in the same run on the same data, is the naive query:
`title LIKE '%term%' OR summary LIKE '%term%'` newest first. Target: median
under 50 ms.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bot` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store.db import Database
from bot.store.search import search

NOW = datetime(2026, 11, 27, tzinfo=UTC)
SPAN = timedelta(days=730)
FEEDS = 400
#: made-up words per language after the named ones
TAIL = 4000
TOPICS = ("air-defense", "energy", "elections")

# Word lists per language; earlier words are more frequent (Zipf-like weights).
_TEXT: dict[str, str] = {
    "en": (
        "the of and to in says government minister new report after attack city police "
        "president market energy prices court election vote war missile defense drone "
        "Patriot system Ukraine Russia Germany Japan talks summit budget strike rescue "
        "flood storm heat airport railway bank inflation hospital school border"
    ),
    "de": (
        "der die und das in den mit von Regierung Minister Bericht nach Angriff Stadt "
        "Polizei Präsident Markt Energie Preise Gericht Wahl Krieg Rakete Flugabwehr "
        "Drohne Patriot System Ukraine Russland Bundeswehr Gipfel Haushalt Streik "
        "Hochwasser Sturm Flughafen Bahn Inflation Krankenhaus Schule Grenze"
    ),
    "fr": (
        "le la les et de des en gouvernement ministre rapport après attaque ville police "
        "président marché énergie prix tribunal élection guerre missile défense drone "
        "système sommet budget grève inondation tempête aéroport banque frontière"
    ),
    "ru": (
        "и в на с по не что заявил правительство министр доклад после атака город "
        "полиция президент рынок энергия цены суд выборы война ракета ПВО ППО дрон "
        "система Украина Россия Германия переговоры саммит бюджет удар паводок"
    ),
    "uk": (
        "і в на з що не заявив уряд міністр звіт після атака місто поліція президент "
        "ринок енергія ціни суд вибори війна ракета ППО дрон система Україна Росія "
        "переговори саміт бюджет удар повінь аеропорт лікарня школа кордон"
    ),
    "ja": (
        "政府 首相 発表 東京 大阪 日本 米国 防衛省 防空 ミサイル パトリオット 迎撃 配備 "
        "システム 会談 選挙 投票 経済 市場 物価 電力 エネルギー 台風 地震 空港 鉄道 "
        "銀行 病院 学校 国境 警察 裁判所 予算 首脳 協議 北朝鮮 中国 韓国"
    ),
    "zh": (
        "政府 总统 部长 报告 北京 上海 中国 美国 日本 防空 导弹 爱国者 系统 会谈 选举 "
        "经济 市场 价格 能源 台风 地震 机场 铁路 银行 医院 学校 边境 警方 法院 预算"
    ),
    "es": (
        "el la los y de en gobierno ministro informe tras ataque ciudad policía presidente "
        "mercado energía precios tribunal elecciones guerra misil defensa dron sistema "
        "cumbre presupuesto huelga inundación tormenta aeropuerto banco frontera"
    ),
}
WORDS = {lang: text.split() for lang, text in _TEXT.items()}
_LATIN = [c + v for c in "bdgklmnprstvz" for v in "aeiou"]
_CYRILLIC = [c + v for c in "бвгдклмнпрстз" for v in "аеиоу"]
SYLLABLES = {
    "en": _LATIN,
    "de": _LATIN,
    "fr": _LATIN,
    "es": _LATIN,
    "ru": _CYRILLIC,
    "uk": _CYRILLIC,
    "ja": list("かきくけこさしすせそたちつてとなにぬねのカキクケコサシスセソ"),
    "zh": list("国家人民中心发展经济社会政治文化历史市场工业农业科学技术"),
}
LANGS = list(WORDS)
LANG_WEIGHTS = [30, 15, 8, 15, 10, 10, 5, 7]
LANG_CUM = list(accumulate(LANG_WEIGHTS))
JOINER = {"ja": "", "zh": ""}

QUERIES: list[tuple[str, dict[str, object]]] = [
    *(
        (q, {})
        for q in (
            "Patriot",
            "パトリオット",
            "ППО",
            "Flugabwehr",
            "防空",
            "ПВО",
            "missile",
            "election",
            "Bundeswehr",
            "爱国者",
            "迎撃",
            "северокорейский",
            "Бахмут",
            "drone attack",
            "ракета",
            "Flughafen",
            "tempête",
            "huelga",
            "paywall",
            "北朝鮮",
            "aéroport",
            "police",
            "система",
            "Patriot system",
            "ミサイル 配備",
            "Ukraine Russia",
            "xyzzyq",
            "energy prices",
            "銀行",
            "Präsident",
            "міністр",
            "inondation",
            "Hochwasser",
            "defense",
            "summit",
            "台風",
            "president",
            "Krieg",
            "电力",
            "中国",
            "ППО дрон",
        )
    ),
    ("Patriot", {"lang": "de"}),
    ("ППО", {"lang": "uk"}),
    ("missile", {"topic": "air-defense"}),
    ("パトリオット", {"since": NOW - timedelta(days=30)}),
    ("防空", {"lang": "ja"}),
    ("election", {"since": NOW - timedelta(days=7)}),
    ("drone", {"topic": "air-defense"}),
    ("Flugabwehr", {"since": NOW - timedelta(days=365), "lang": "de"}),
    ("energy", {"topic": "energy"}),
    ("Patriot", {"topic": "air-defense", "lang": "en"}),
    ("rare", {"topic": "elections"}),
]


def build(path: Path, count: int, vocab: dict[str, list[str]], rng: random.Random) -> float:
    """Create the database through the migrations and insert `count` items; seconds taken.

    The insert trigger is dropped for the bulk load and the index rebuilt in one
    pass afterwards (twice as fast); the trigger is then recreated as it was.
    """
    started = time.perf_counter()
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")  # a throwaway database: build fast
    con.execute("BEGIN")
    (trigger,) = con.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'items_fts_ai'"
    ).fetchone()
    con.execute("DROP TRIGGER items_fts_ai")
    stamp = _stamp(NOW)
    con.executemany(
        "INSERT INTO feeds (id, url, name, lang, origin, status, added_at, next_check_at, "
        "consecutive_errors, error_reported) VALUES (?, ?, ?, ?, 'config', 'active', ?, ?, 0, 0)",
        [
            (i, f"https://news{i}.example/rss", f"Outlet {i}", LANGS[i % len(LANGS)], stamp, stamp)
            for i in range(1, FEEDS + 1)
        ],
    )
    weights = {
        lang: list(accumulate(1 / (rank + 1) for rank in range(len(w))))
        for lang, w in vocab.items()
    }
    batch: list[tuple[object, ...]] = []
    matches: list[tuple[object, ...]] = []
    for item_id in range(1, count + 1):
        batch.append(_item(item_id, count, rng, vocab, weights))
        if rng.random() < 0.05:
            matches.append((item_id, rng.choice(TOPICS), rng.random(), "{}", stamp))
        if len(batch) == 20_000:
            _flush(con, batch, matches)
    _flush(con, batch, matches)
    con.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
    con.execute(trigger)
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()
    return time.perf_counter() - started


def _synthetic(lang: str, count: int, rng: random.Random) -> list[str]:
    """Made-up words in the language's script: the long tail of a real vocabulary."""
    syllables = SYLLABLES[lang]
    return ["".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(count)]


def _item(
    item_id: int,
    count: int,
    rng: random.Random,
    vocab: dict[str, list[str]],
    weights: dict[str, list[float]],
) -> tuple[object, ...]:
    lang = rng.choices(LANGS, cum_weights=LANG_CUM)[0]
    words, w = vocab[lang], weights[lang]
    joiner = JOINER.get(lang, " ")
    title = joiner.join(rng.choices(words, cum_weights=w, k=rng.randint(5, 10)))
    summary = joiner.join(rng.choices(words, cum_weights=w, k=rng.randint(15, 35)))
    # Mostly in arrival order, some backlog items published long before they were seen.
    published = NOW - SPAN * (1 - item_id / count)
    if rng.random() < 0.05:
        published -= timedelta(days=rng.randint(1, 60))
    feed_id = rng.randint(1, FEEDS)
    return (
        item_id,
        feed_id,
        f"k{item_id}",
        title,
        f"https://news{feed_id}.example/{item_id}",
        summary,
        lang,
        f"{item_id:064x}",
        _stamp(published),
        _stamp(published),
        0,
    )


def _flush(
    con: sqlite3.Connection, batch: list[tuple[object, ...]], matches: list[tuple[object, ...]]
) -> None:
    con.executemany(
        "INSERT INTO items (id, feed_id, key, title, link, summary, lang, content_hash, "
        "published_at, first_seen_at, alerted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    con.executemany(
        "INSERT INTO matches (item_id, topic, score, explanation, matched_at) "
        "VALUES (?, ?, ?, ?, ?)",
        matches,
    )
    batch.clear()
    matches.clear()


def _stamp(value: datetime) -> str:
    """SQLAlchemy's SQLite storage format for DateTime (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def vocabulary(rng: random.Random) -> dict[str, list[str]]:
    """Each language's words, the named ones first (most frequent), then a long tail."""
    return {lang: words + _synthetic(lang, TAIL, rng) for lang, words in WORDS.items()}


def tail_queries(vocab: dict[str, list[str]]) -> list[tuple[str, dict[str, object]]]:
    """Terms from the long tail: frequent, medium and rare words in three scripts."""
    return [
        (vocab[lang][len(WORDS[lang]) + rank], {})
        for lang in ("en", "ru", "ja")
        for rank in (10, 300, TAIL - 1)
    ]


def time_queries(
    queries: Sequence[tuple[str, dict[str, object]]],
    run: Callable[[str, dict[str, object]], int],
    repeat: int,
) -> list[float]:
    """Milliseconds per query (the best of `repeat` runs, after one warm-up)."""
    timings = []
    for query, filters in queries:
        run(query, filters)
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            run(query, filters)
            best = min(best, time.perf_counter() - started)
        timings.append(best * 1000)
    return timings


def naive(con: sqlite3.Connection) -> Callable[[str, dict[str, object]], int]:
    """The baseline: a LIKE scan per term, newest first, with the same filters."""

    def run(query: str, filters: dict[str, object]) -> int:
        sql = "SELECT i.id FROM items i JOIN feeds f ON f.id = i.feed_id WHERE 1=1"
        params: list[object] = []
        for term in query.split():
            sql += " AND (i.title LIKE ? OR i.summary LIKE ?)"
            params += [f"%{term}%"] * 2
        if "topic" in filters:
            sql += " AND EXISTS (SELECT 1 FROM matches m WHERE m.item_id = i.id AND m.topic = ?)"
            params.append(filters["topic"])
        if "since" in filters:
            sql += " AND i.published_at >= ?"
            params.append(_stamp(filters["since"]))  # type: ignore[arg-type]
        if "lang" in filters:
            sql += " AND i.lang = ?"
            params.append(filters["lang"])
        sql += " ORDER BY i.published_at DESC LIMIT 10"
        return len(con.execute(sql, params).fetchall())

    return run


def report(name: str, timings: Sequence[float]) -> dict[str, float]:
    ordered = sorted(timings)
    stats = {
        "median": statistics.median(ordered),
        "mean": statistics.fmean(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }
    print(f"{name:>10}: " + "   ".join(f"{k} {v:8.2f} ms" for k, v in stats.items()))
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="items to generate")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per query")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--verbose", action="store_true", help="print every query's timing")
    parser.add_argument(
        "--db", type=Path, help="keep the database here (reused when it exists; for tuning)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="skywatch-bench-search-") as tmp:
        path = args.db or Path(tmp) / "search.db"
        rng = random.Random(args.seed)
        vocab = vocabulary(rng)
        queries = QUERIES + tail_queries(vocab)
        if path.exists():
            print(f"reusing {path}")
        else:
            seconds = build(path, args.items, vocab, rng)
            size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
            print(f"built {args.items:,} items in {seconds:.1f} s ({size:,.0f} MiB with the index)")
        db = Database(f"sqlite:///{path}")

        def ours(query: str, filters: dict[str, object]) -> int:
            with db.read() as session:
                return len(search(session, query, **filters))  # type: ignore[arg-type]

        fast = time_queries(queries, ours, args.repeat)
        con = sqlite3.connect(path)
        slow = time_queries(queries, naive(con), 1)
        con.close()
        db.dispose()
    if args.verbose:
        for (query, filters), ms, base in zip(queries, fast, slow, strict=True):
            print(f"{ms:9.2f} ms {base:9.2f} ms  {query} {filters or ''}")
    print(f"{len(queries)} queries, best of {args.repeat} runs each")
    ours_stats = report("search", fast)
    base_stats = report("LIKE scan", slow)
    print(
        "speed-up over the LIKE scan: "
        + ", ".join(f"{k} {base_stats[k] / ours_stats[k]:.1f}x" for k in ours_stats)
    )
    print("(the LIKE scan walks items newest first and stops at 10 hits: quick for common")
    print(" terms, a full scan for rare ones; the index is the other way round)")
    median, target = ours_stats["median"], 50.0
    print(f"target: median < {target:.0f} ms: {'met' if median < target else 'MISSED'}")
    return 0 if median < target else 1


if __name__ == "__main__":
    sys.exit(main())
