"""HTML form bodies (``application/x-www-form-urlencoded`` and ``multipart/form-data``) read
into the same shape as a JSON body, so that one validation serves both.

What form plugins and themes send (Gravity Forms' webhooks, WordPress themes posting with
``http_build_query``): every value a string, objects in bracket notation. The rules:

* ``name=value``: a top-level field. Sent twice, it is a 422 naming it (a form cannot say
  which of two first names it meant).
* ``name[key]=value``: ``{"key": "value"}`` (``meta``, ``appointment_availability``);
  ``name[key][]=a&name[key][]=b``: ``{"key": ["a", "b"]}``; ``name[]=a``: ``["a"]``.
  A key runs to the ``]`` that is followed by ``[`` or ends the name, so ``meta[Size [m2]]``
  is the key ``Size [m2]``.
* ``questionnaire[Question]=Answer`` (or ``questionnaire[Question][]=Answer``, one pair per
  answer) is the pair ``[Question, Answer]``, in the order sent;
  ``questionnaire[0][0]=Question&questionnaire[0][1]=Answer`` (what ``http_build_query``
  makes of a list of pairs) is that pair too.
* At most two levels of brackets: no lead field nests deeper.
* UTF-8 only; a file part is a 422 naming it. The 64 KiB limit has counted the raw body
  before any of this runs (ops.middleware)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from doorstep.errors import MalformedJSON, UnsupportedMediaType, ValidationFailed

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
FORM_TYPES = (URLENCODED, MULTIPART)
MAX_DEPTH = 2
QUESTIONNAIRE = "questionnaire"
TWICE = "Sent more than once: send one value (or use name[] for a list)."
TOO_DEEP = f"Must not nest brackets more than {MAX_DEPTH} levels deep."
MIXED = "Sent both as a value and with brackets: send one or the other."
_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")


def _twice(key: str) -> str:
    return f"{key} was sent more than once: send one value."


class MalformedForm(MalformedJSON):
    """A 400: the body cannot be read as the form its Content-Type names."""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_form(content_type: str | None) -> bool:
    return media_type(content_type) in FORM_TYPES


def parse_form(raw: bytes, content_type: str) -> dict[str, Any]:
    """The form as a JSON-shaped object, or 400 (unreadable), 415 (a charset other than
    UTF-8) or 422 (a field sent twice, too deep, a file), each naming where."""
    mime, params = _options(content_type)
    charset = params.get("charset", "utf-8").strip().strip('"').lower()
    if charset not in _CHARSETS:
        raise UnsupportedMediaType(
            f"Form bodies must be UTF-8 (this one says charset={charset}): send "
            f"Content-Type: {mime}; charset=utf-8."
        )
    if raw.lstrip()[:1] in (b"{", b"["):
        raise MalformedForm(
            f"The request body looks like JSON but is sent as {mime}: send it with "
            "Content-Type: application/json."
        )
    if mime == URLENCODED:
        pairs = list(_urlencoded(raw))
    else:
        boundary = params.get("boundary", "").strip().strip('"')
        if not boundary:
            raise MalformedForm(
                "The multipart body has no boundary: send Content-Type: multipart/form-data; "
                "boundary=... (a form library or FormData sets it for you)."
            )
        pairs = _multipart(raw, boundary)
    return assemble(pairs)


def _options(content_type: str) -> tuple[str, dict[str, str]]:
    mime, raw_params = parse_options_header(content_type)
    params = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_params.items()}
    return mime.decode("latin-1").lower(), params


def _text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedForm(
            f"The form body is not valid UTF-8 ({where}, byte {e.start})."
        ) from None


def _urlencoded(raw: bytes) -> Iterator[tuple[str, str]]:
    for number, part in enumerate(raw.split(b"&"), start=1):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        key = _text(unquote_to_bytes(name.replace(b"+", b" ")), f"the name of field {number}")
        where = f"the value of {key!r}" if key else f"field {number}"
        yield key, _text(unquote_to_bytes(value.replace(b"+", b" ")), where)


def _multipart(raw: bytes, boundary: str) -> list[tuple[str, str]]:
    parts: list[tuple[dict[str, bytes], bytearray]] = []
    field, value = bytearray(), bytearray()

    def begin() -> None:
        parts.append(({}, bytearray()))

    def header_field(data: bytes, start: int, end: int) -> None:
        field.extend(data[start:end])

    def header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def header_end() -> None:
        parts[-1][0][field.decode("latin-1").lower()] = bytes(value)
        field.clear()
        value.clear()

    def data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_part_data": data,
        },
        max_header_count=16,
    )
    try:
        parser.write(raw)
        parser.finalize()
    except MultipartParseError as e:
        raise MalformedForm(f"The multipart body is malformed: {e}") from None
    if not parts or parser.state.name != "END":
        raise MalformedForm(
            "The multipart body is malformed: it does not end with its closing boundary."
        )
    pairs: list[tuple[str, str]] = []
    files: dict[str, list[str]] = {}
    for number, (headers, body) in enumerate(parts, start=1):
        _, disposition = parse_options_header(headers.get("content-disposition", b""))
        raw_name = disposition.get(b"name")
        if raw_name is None:
            raise MalformedForm(
                f"Part {number} of the multipart body has no name "
                '(Content-Disposition: form-data; name="...").'
            )
        name = _text(raw_name, f"the name of part {number}")
        if b"filename" in disposition or b"filename*" in disposition:
            files.setdefault(name or f"part {number}", []).append(
                "Files cannot be sent to the Lead API: send text fields only."
            )
            continue
        pairs.append((name, _text(bytes(body), f"the value of {name!r}")))
    if files:
        raise ValidationFailed(files, message="The form holds files: " + ", ".join(files) + ".")
    return pairs


def split_key(key: str) -> tuple[str, list[str]] | None:
    """``meta[Property Type]`` -> ``("meta", ["Property Type"])``; None for a name that does
    not follow bracket notation (read as a plain name)."""
    open_at = key.find("[")
    if open_at <= 0:
        return None
    name, rest, segments = key[:open_at], key[open_at:], []
    while rest:
        if rest[0] != "[":
            return None
        end = 1
        while True:
            end = rest.find("]", end)
            if end < 0:
                return None
            if end + 1 == len(rest) or rest[end + 1] == "[":
                break
            end += 1
        segments.append(rest[1:end])
        rest = rest[end + 1 :]
    return name, segments


class _Builder:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.errors: dict[str, list[str]] = {}
        # questionnaire[i][0] / [i][1]: the pair built up under its index.
        self.indexed: dict[str, list[str | None]] = {}

    def fail(self, name: str, reason: str) -> None:
        reasons = self.errors.setdefault(name, [])
        if reason not in reasons:
            reasons.append(reason)

    def add(self, key: str, value: str) -> None:
        split = split_key(key)
        if split is None:
            if key in self.data:
                self.fail(key, TWICE if not isinstance(self.data[key], dict | list) else MIXED)
            else:
                self.data[key] = value
            return
        name, segments = split
        if len(segments) > MAX_DEPTH:
            self.fail(name, TOO_DEEP)
        elif name == QUESTIONNAIRE:
            self._question(segments, value)
        else:
            self._nested(name, segments, value)

    def _question(self, segments: list[str], value: str) -> None:
        pairs = self.data.setdefault(QUESTIONNAIRE, [])
        if not isinstance(pairs, list):
            self.fail(QUESTIONNAIRE, MIXED)
            return
        if len(segments) == 2 and segments[1] in ("0", "1"):
            index, slot = segments[0], int(segments[1])
            pair = self.indexed.get(index)
            if pair is None:
                pair = self.indexed[index] = [None, None]
                pairs.append(pair)
            if pair[slot] is not None:
                self.fail(QUESTIONNAIRE, _twice(f"questionnaire[{index}][{slot}]"))
            pair[slot] = value
        elif segments[0] and (len(segments) == 1 or segments[1] == ""):
            pairs.append([segments[0], value])
        else:
            self.fail(
                QUESTIONNAIRE,
                "Send questionnaire[question]=answer, or questionnaire[n][0]=question "
                "and questionnaire[n][1]=answer.",
            )

    def _nested(self, name: str, segments: list[str], value: str) -> None:
        container = self.data.setdefault(name, [] if segments[0] == "" else {})
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            if isinstance(container, list):
                if segment != "":
                    self.fail(name, MIXED)
                    return
                if last:
                    container.append(value)
                    return
                # name[][x]: a new object or list at the end of the list.
                container.append([] if segments[depth + 1] == "" else {})
                container = container[-1]
            elif isinstance(container, dict):
                if segment == "":
                    self.fail(name, MIXED)
                    return
                if last:
                    if segment in container:
                        self.fail(name, _twice(f"{name}[{segment}]"))
                    else:
                        container[segment] = value
                    return
                nxt = segments[depth + 1]
                container = container.setdefault(segment, [] if nxt == "" else {})
            else:
                self.fail(name, MIXED)
                return

    def result(self) -> dict[str, Any]:
        if QUESTIONNAIRE in self.data and isinstance(self.data[QUESTIONNAIRE], list):
            # An index sent with only its question (or only its answer) stays a one-item
            # pair: the validation names it.
            self.data[QUESTIONNAIRE] = [
                [x for x in pair if x is not None] for pair in self.data[QUESTIONNAIRE]
            ]
        if self.errors:
            raise ValidationFailed(self.errors)
        return self.data


def assemble(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form fields, in order, as the object a JSON body would be (see the module's rules)."""
    builder = _Builder()
    for key, value in pairs:
        builder.add(key, value)
    return builder.result()
