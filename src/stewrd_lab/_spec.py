"""Check a recorded response against the seed OpenAPI document.

The seed document (``stewrd_lab/data/create-session-openapi.yaml``) is the
authority for ``POST /v1/sessions``. :func:`check_response` takes what any
target answered (the embedded emulator, a served one, the live API) and
returns a :class:`Verdict`: ``conforms`` is ``True`` or ``False``, or
``None`` when there is nothing to check against, and ``violation`` says why
in one sentence (empty when the response conforms).

What is judged, in order:

- The path and method must be an operation of the document (path templates
  such as ``/v1/sessions/{session_id}`` match one segment each). Otherwise
  the verdict is ``None``, "not checked": the document says nothing about,
  for instance, the emulator's 404 for an unknown path or its 405 for
  ``GET /v1/sessions``, so they can neither conform nor violate.
- The status must be listed for the operation (exactly, as ``4XX``, or as
  ``default``); an undocumented status is a violation.
- The content type (without parameters such as ``charset``) must be one the
  response lists, and a JSON body must parse and match the media type's
  schema.

Limits:

- Schemas are compiled by fastjsonschema as JSON Schema draft-07. OpenAPI 3.1
  speaks 2020-12; the two agree on every keyword the seed uses (``type``,
  ``properties``, ``enum``, ``format``), but a document using 2020-12-only
  keywords (``prefixItems``, ``unevaluatedProperties``, ``$dynamicRef``)
  would be checked only partly.
- Only the first violation in a body is reported, as the validator stops
  there.
- The seed marks no property ``required``, so a body that leaves fields out
  (even ``{}`` for an error) conforms: the check holds the API to what the
  document says, no more.
- Headers other than the content type, and the request, are not checked.
- Paths are matched as sent: behind a base URL with a path of its own
  (``https://proxy.example/stewrd``) every operation is "not checked".

Loading the document and compiling a schema happen once, on first use, so
``import stewrd_lab`` never pays for them; a check then costs a few
microseconds (JSON parsing included). The recorder runs it when the history
is read, not while a request is made (see :class:`stewrd_lab.Recorder`).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["NO_ANSWER", "SPEC_NAME", "Verdict", "check_response"]

SPEC_NAME = "the seed OpenAPI document"

_SPEC_FILE = "create-session-openapi.yaml"

# Every media type whose body is JSON: application/json and any +json suffix.
_JSON_MEDIA = re.compile(r"^application/(?:[\w.-]+\+)?json$")


class Verdict(NamedTuple):
    """Whether a response conforms, and if not (or if unchecked) why."""

    conforms: bool | None
    violation: str


CONFORMS = Verdict(True, "")
NO_ANSWER = Verdict(None, "not checked: no HTTP answer")


def check_response(
    method: str, path: str, status: int, content_type: str | None, body: bytes
) -> Verdict:
    """Judge one response against the seed document (see the module docs).

    ``path`` is the request's path without the query string; ``content_type``
    is the response's ``Content-Type`` header, or ``None`` without one.
    """
    operation = _spec().operation(method, path)
    if operation is None:
        return Verdict(None, f"not checked: {method} {path} is not in {SPEC_NAME}")

    response = operation.response(status)
    if response is None:
        return Verdict(
            False,
            f"{method} {path} answered {status}, a status {SPEC_NAME} does not "
            f"list for it (it lists {', '.join(operation.responses)}).",
        )

    if not response:
        if not body:
            return CONFORMS
        return Verdict(
            False,
            f"{method} {path} answered {status} with a body, where {SPEC_NAME} "
            "documents none.",
        )

    media_type = (content_type or "").partition(";")[0].strip().lower()
    media = response.get(media_type)
    if media is None:
        given = f"as {media_type}" if media_type else "without a content type"
        return Verdict(
            False,
            f"{method} {path} answered {status} {given}; {SPEC_NAME} lists "
            f"{', '.join(response)} for it.",
        )
    if not media.is_json_schema:
        return CONFORMS

    # JSON exchanged between systems is UTF-8 (RFC 8259); decoding first is
    # also quicker than letting json.loads guess the encoding of bytes.
    try:
        payload = json.loads(body.decode("utf-8"))
    except ValueError:
        return Verdict(
            False, f"{method} {path} answered {status} with a body that is not JSON."
        )

    error = media.check(payload)
    if error is None:
        return CONFORMS
    return Verdict(
        False,
        f"{method} {path} answered {status} with a body that does not match "
        f"{media.name}: {error}.",
    )


class _Media:
    """One documented media type of one response; compiles its schema once."""

    def __init__(
        self, media_type: str, schema: dict[str, Any] | None, components: Any
    ) -> None:
        self.schema = schema
        self.components = components
        # Only a JSON body with a schema can be checked beyond its media type.
        self.is_json_schema = schema is not None and bool(_JSON_MEDIA.match(media_type))
        ref = (schema or {}).get("$ref")
        self.name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else "its schema"
        self._validate: Callable[[Any], str | None] | None = None

    def check(self, payload: Any) -> str | None:
        """Return ``None`` if ``payload`` matches the schema, else the error."""
        if self._validate is None:
            self._validate = _compile(self.schema or {}, self.components)
        return self._validate(payload)


def _compile(schema: dict[str, Any], components: Any) -> Callable[[Any], str | None]:
    import fastjsonschema

    # The schema's $refs point into the whole document (#/components/...), so
    # the components travel along as the root that references resolve in.
    validate = fastjsonschema.compile({"components": components, **schema})

    def check(payload: Any) -> str | None:
        try:
            validate(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            return str(exc.message)
        return None

    return check


class _Operation:
    """One method on one path: its responses by status key, then media type."""

    def __init__(self, operation: dict[str, Any], components: Any) -> None:
        self.responses: dict[str, dict[str, _Media]] = {}
        for key, response in (operation.get("responses") or {}).items():
            content = (response or {}).get("content") or {}
            self.responses[str(key)] = {
                str(media).lower(): _Media(
                    str(media).lower(), (spec or {}).get("schema"), components
                )
                for media, spec in content.items()
            }

    def response(self, status: int) -> dict[str, _Media] | None:
        """The documented response for ``status``: exact, ``NXX`` or default."""
        found = self.responses.get(str(status))
        if found is None:
            found = self.responses.get(f"{status // 100}XX")
        if found is None:
            found = self.responses.get("default")
        return found


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class _Spec:
    """The loaded document's operations, found by concrete path and method."""

    def __init__(self, document: dict[str, Any]) -> None:
        components = document.get("components") or {}
        self._exact: dict[tuple[str, str], _Operation] = {}
        self._templated: list[tuple[re.Pattern[str], str, _Operation]] = []

        for template, item in (document.get("paths") or {}).items():
            for method in _METHODS:
                if not isinstance((item or {}).get(method), dict):
                    continue
                operation = _Operation(item[method], components)
                if "{" not in template:
                    self._exact[(template, method.upper())] = operation
                    continue

                # A template parameter stands for exactly one path segment.
                pattern = re.sub(r"\\{[^/}]*\\}", "[^/]+", re.escape(template))
                compiled = re.compile(f"{pattern}\\Z")
                self._templated.append((compiled, method.upper(), operation))

    def operation(self, method: str, path: str) -> _Operation | None:
        method = method.upper()
        found = self._exact.get((path, method))
        if found is not None:
            return found
        for pattern, candidate_method, operation in self._templated:
            if candidate_method == method and pattern.match(path):
                return operation
        return None


@cache
def _spec() -> _Spec:
    import yaml

    text = files("stewrd_lab").joinpath("data").joinpath(_SPEC_FILE).read_text("utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return _Spec(yaml.load(text, Loader=loader))
