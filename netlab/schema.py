"""The JSON Schema of the lab file, for editors (yaml-language-server) and for `netlab schema`."""

from __future__ import annotations

import json
from typing import Any

from netlab.model import Lab


def lab_schema() -> dict[str, Any]:
    schema = Lab.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "netlab lab file"
    return schema


def lab_schema_text() -> str:
    return json.dumps(lab_schema(), indent=2) + "\n"
