"""Checks on an uploaded card: size limits, JSON loading and field types.

Each failure is an InvalidInput (or TooLarge) whose message says what is wrong
and how to fix it, in the user's terms ("a list", "an object", "null").
"""

from __future__ import annotations

import json
from typing import Any

from hearth.errors import InvalidInput, TooLarge


def check_size(raw: bytes, max_bytes: int, what: str, hint: str) -> None:
    if len(raw) > max_bytes:
        raise TooLarge(
            f"the {what} is {describe_size(len(raw))}, "
            f"over the limit of {describe_size(max_bytes)}. {hint}"
        )


def describe_size(n: int) -> str:
    if n < 1024 * 1024:
        return f"{n} bytes"
    return f"{round(n / (1024 * 1024), 2):g} MiB ({n} bytes)"


def load_json(blob: bytes, where: str, not_json: str) -> Any:
    """Parse `blob`; `not_json` is the message when it is not JSON at all."""
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(not_json) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip()[:1] not in ("{", "["):
            raise InvalidInput(not_json) from None
        raise InvalidInput(
            f"{where} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
            "re-export the card from where it came from"
        ) from None
    except (ValueError, RecursionError):  # a number thousands of digits long; nesting too deep
        raise InvalidInput(
            f"{where} holds JSON too deeply nested or with a number too long to read; "
            "it is not a character card - re-export the card from where it came from"
        ) from None


def expect(value: Any, kind: type, key: str) -> Any:
    """`value`, if it is a `kind` (str, list or dict); InvalidInput naming `key` otherwise."""
    if not isinstance(value, kind):
        want = {str: "a string", list: "a list", dict: "an object"}[kind]
        raise InvalidInput(
            f"'{key}' must be {want}, not {json_type(value)}; fix that field in the card"
        )
    return value


def expect_optional(data: dict, key: str, kind: type) -> None:
    """Like `expect` for `data[key]`, where absent or null is fine."""
    if data.get(key) is not None:
        expect(data[key], kind, key)


def str_list(value: Any, key: str) -> list[str]:
    """A copy of a list of strings; null counts as an empty list."""
    if value is None:
        return []
    items = expect(value, list, key)
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(
                f"'{key}' must be a list of strings, but holds {json_type(item)}; "
                "fix that field in the card"
            )
    return list(items)


def too_deep(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` levels (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_type(value: Any) -> str:
    """What a JSON value is, as a message names it: "null", "a number", "an object"..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if is_number(value):
        return "a number"
    names = {str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)
