"""The committed AsyncAPI documents (docs/asyncapi/) are what the code generates."""
from scripts.asyncapi import OUT, documents


def test_committed_asyncapi_documents_match_the_code():
    for name, text in documents().items():
        committed = (OUT / f"{name}.json").read_text()
        assert committed == text, f"docs/asyncapi/{name}.json is stale: run python scripts/asyncapi.py"
        assert '"Envelope"' in text  # every published topic documents the envelope
