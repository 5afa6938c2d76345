"""The hot paths give exactly the outputs recorded before they were made faster.

See tests/hotpaths_corpus.py for the corpora, the stages and how the reference
(tests/data/hotpaths/expected.json) was recorded.
"""

from __future__ import annotations

import json

import pytest

from tests import hotpaths_corpus as corpus

EXPECTED = json.loads(corpus.EXPECTED.read_text())
OPTIONAL = {"shared-feeds", "devset"}  # from ../shared, when the checkout has it


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outputs_match_the_reference(name: str) -> None:
    build = corpus.corpora().get(name)
    if build is None:
        assert name in OPTIONAL, f"corpus {name!r} is gone"
        pytest.skip(f"{name}: ../shared is absent")
    records = build()
    out = corpus.outputs(name, records)
    problems = []
    for stage, expected in EXPECTED[name].items():
        values = out.stages[stage]
        if corpus.digests(values) == expected:
            continue
        if len(values) != expected["n"]:
            problems.append(f"{stage}: {len(values)} records, {expected['n']} recorded")
            continue
        # one hash byte per record: finds the differing record with probability 255/256
        wrong = list(corpus.mismatches(expected, values))
        problems.append(
            f"{stage}: {len(wrong)} records differ"
            + "".join(f"\n  {out.labels[i]}: {values[i][:300]}" for i in wrong[:5])
        )
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_a_changed_output_is_reported() -> None:
    """The check itself can fail: one changed output breaks the digest and is found."""
    values = [repr(n) for n in range(50)]
    recorded = corpus.digests(values)
    values[17] += " "
    assert corpus.digests(values)["sha256"] != recorded["sha256"]
    assert list(corpus.mismatches(recorded, values)) == [17]
