"""The published contract (JSON Schemas, AsyncAPI) matches the code and the official AsyncAPI 3.0 schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from shared import contract
from shared.messages import ALL_MODELS

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / ".cache" / "npm" / "node_modules"


def test_generated_files_are_up_to_date() -> None:
    stale = [
        str(path.relative_to(REPO))
        for path, text in contract.expected_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"contract drifted from the code; run `python -m shared.contract`: {stale}"


def test_no_orphan_schema_files() -> None:
    expected = set(contract.expected_files())
    orphans = [p.name for p in contract.SCHEMAS_DIR.glob("*.json") if p not in expected]
    assert not orphans


def test_asyncapi_lists_every_message_kind() -> None:
    document = yaml.safe_load(contract.ASYNCAPI_PATH.read_text(encoding="utf-8"))
    kinds = {model.model_fields["kind"].default for model in ALL_MODELS}
    assert set(document["components"]["messages"]) == kinds
    listed = {
        ref["$ref"].rsplit("/", 1)[-1]
        for channel in document["channels"].values()
        for ref in channel["messages"].values()
    }
    assert listed == kinds
    for name, operation in document["operations"].items():
        # Reports are QoS 1; only live frames are QoS 0 (a late frame is worth nothing) and never retained.
        binding = operation["bindings"]["mqtt"]
        assert binding["qos"] == (0 if name == "publish_live_frame" else 1), name
        assert isinstance(binding["retain"], bool)
    assert document["operations"]["publish_live_frame"]["bindings"]["mqtt"]["retain"] is False


def test_asyncapi_validates_against_official_json_schema() -> None:
    schema_path = NODE_MODULES / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
    if not schema_path.exists():
        pytest.fail(f"{schema_path} missing: run `make deps` (installs @asyncapi/specs)")
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    document = yaml.safe_load(contract.ASYNCAPI_PATH.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_class(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_asyncapi_parses_with_official_parser() -> None:
    node = shutil.which("node")
    assert node, "node is required (installed by `make deps`)"
    result = subprocess.run(
        [node, str(Path(__file__).with_name("validate_asyncapi.cjs")), str(contract.ASYNCAPI_PATH)],
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"ok": True, "channels": len(contract.CHANNELS), "messages": len(ALL_MODELS)}


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_json_schema_accepts_what_the_model_emits(model: type) -> None:
    from tests.shared.samples import sample_message

    message = sample_message(model)
    schema = json.loads((contract.SCHEMAS_DIR / f"{message.kind}.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(message.model_dump_json()), schema)


def test_third_party_docs_and_asyncapi_agree_on_each_public_message_and_whether_it_is_retained() -> None:
    """docs/third-party.md's topic table names the same kind and retain flag as the generated contract."""
    import re

    from shared.codec import CHANNEL_MODELS, RETAINED_CHANNELS
    from shared.contract import CHANNELS
    from shared.topics import Channel

    doc = (Path(__file__).resolve().parents[2] / "docs" / "third-party.md").read_text()
    rows = {match[0]: (match[1], match[2]) for match in
            re.findall(r"^\| `(scc/v1/public/[^`]+)` \| `([a-z_]+)` \| (yes|no) \|", doc, flags=re.MULTILINE)}
    public = [channel for channel in Channel if channel.value.startswith("public_")]
    assert len(rows) == len(public)
    for channel in public:
        topic = CHANNELS[channel].address
        kind = CHANNEL_MODELS[channel][0].model_fields["kind"].default
        assert rows[topic] == (kind, "yes" if channel in RETAINED_CHANNELS else "no"), topic


def test_retention_table_lets_agents_retain_their_availability_alone_and_asyncapi_says_so() -> None:
    """One table (codec.RETAINED_CHANNELS) decides what is retained; the AsyncAPI bindings follow it."""
    from shared.codec import RETAINED_CHANNELS, retention_refusal
    from shared.topics import Channel

    document = contract.asyncapi_document()
    retained = {channel for channel in Channel
                if document["operations"][f"publish_{channel.value}"]["bindings"]["mqtt"]["retain"]}
    assert retained == set(RETAINED_CHANNELS)
    agents = {channel for channel in retained if contract.CHANNELS[channel].address.startswith("scc/v1/agents/")}
    assert agents == {Channel.AVAILABILITY}
    assert RETAINED_CHANNELS[Channel.AVAILABILITY] <= 16 * 1024  # a birth is a few hundred bytes

    birth_topic = "scc/v1/agents/plg-01/availability"
    assert retention_refusal(birth_topic, 400) == ""
    assert "exceeds the contract's 16384 bytes" in retention_refusal(birth_topic, 16 * 1024 + 1)
    assert retention_refusal("scc/v1/agents/plg-01/cameras/cam-1/status", 10) == (
        "topic 'scc/v1/agents/plg-01/cameras/cam-1/status': camera_status messages may not be retained "
        "(the contract retains none)")
    assert "camera_thumbnail" in retention_refusal("scc/v1/agents/plg-01/cameras/cam-1/thumbnail", 10)
    assert "nothing may be retained" in retention_refusal("scc/v1/agents/bad id/metrics", 10)
