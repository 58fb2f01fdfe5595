"""String formats of the lexicon data model."""

from __future__ import annotations

import pytest

from atdata.lexicon.formats import FORMATS

CASES = {
    "did": (
        ["did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.com"],
        ["did:PLC:x", "did:plc:", "plc:abc"],
    ),
    "handle": (["alice.bsky.social", "alice.test", "a-b.c1.org"], ["alice", "-a.com", "a.1com", "a..b"]),
    "nsid": (
        ["dev.atdata.schema", "com.atproto.repo.strongRef"],
        ["dev.atdata", "dev.atdata.1x", "dev..a.b"],
    ),
    "record-key": (["BathApplicationFrame:1.0.0", "self", "a~b_c-d.e"], [".", "..", "Name@1.0.0", "a/b", ""]),
    "tid": (["3jzfcijpj2z2a"], ["3jzfcijpj2z2", "3JZFCIJPJ2Z2A"]),
    "at-uri": (
        [
            "at://did:plc:abc/dev.atdata.schema/Frame:1.0.0",
            "at://alice.test",
            "at://alice.test/dev.atdata.lens",
        ],
        [
            "https://x.org",
            "at://alice/dev.atdata.schema/x",
            "at://did:plc:abc/notnsid/x",
            "at://a.test/a.b.c/x/y",
        ],
    ),
    "cid": (["bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"], ["bafy", "not-a-cid-at-all"]),
    "datetime": (
        ["2026-11-21T08:00:00Z", "2026-11-21T08:00:00.123+02:00"],
        ["2026-11-21", "2026-11-21 08:00:00Z", "2026-11-21T08:00:00", "2026-13-01T00:00:00Z"],
    ),
    "uri": (["https://example.org/a", "mailto:a@b.c"], ["not a uri", "//x"]),
    "language": (["en", "pt-BR", "zh-Hant-TW"], ["english!", ""]),
}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_format_accepts_well_formed_and_refuses_malformed_strings(fmt: str) -> None:
    check, _ = FORMATS[fmt]
    good, bad = CASES[fmt]
    assert [s for s in good if not check(s)] == []
    assert [s for s in bad if check(s)] == []
