"""The project's table of Bot API methods agrees with the published API description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.standin.methods import METHODS, Wire, canonical_name

API_JSON = Path(__file__).resolve().parents[2] / ".." / "shared" / "botapi" / "api.json"
_SCALARS = {"Integer": Wire.INT, "String": Wire.STR, "Boolean": Wire.BOOL, "Float": Wire.FLOAT}


def _wire_types(types: list[str]) -> set[Wire]:
    """Objects and arrays travel as JSON text; InputFile as a multipart part."""
    return {Wire.FILE if t == "InputFile" else _SCALARS.get(t, Wire.JSON) for t in types}


@pytest.fixture(scope="module")
def published() -> dict[str, Any]:
    if not API_JSON.exists():
        pytest.skip("../shared/botapi/api.json not present (a user's own clone)")
    methods: dict[str, Any] = json.loads(API_JSON.read_text(encoding="utf-8"))["methods"]
    return methods


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_matches_the_published_api(name: str, published: dict[str, Any]) -> None:
    assert name in published, f"{name} is not a Bot API method"
    fields = {f["name"]: f for f in published[name].get("fields", [])}
    ours = {param.name: param for param in METHODS[name]}
    assert set(ours) == set(fields), f"{name}: parameters differ"
    for param_name, param in ours.items():
        assert param.required == fields[param_name]["required"], f"{name}.{param_name} required"
        assert set(param.types) == _wire_types(fields[param_name]["types"]), (
            f"{name}.{param_name} types"
        )


def test_method_names_are_case_insensitive() -> None:
    assert canonical_name("SENDMESSAGE") == "sendMessage"
    assert canonical_name("sendmessages") is None
