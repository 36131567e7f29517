"""skillbox: write a skill's tools as plain Python functions.

    from skillbox import Tools, tool, InvalidInput

    @tool
    def hello(input):
        return {"greeting": f"hello, {input.get('name', 'world')}"}

Each `@tool` function takes the tool's input (already parsed from JSON and
checked against the tool's `input_schema` by the host) and returns anything
`json.dumps` accepts. The function's name is the tool's name, unless
`@tool("name")` says otherwise. Raise `InvalidInput`,
`Denied` or `Failed` to answer with a tool error; any other exception is
reported as `failed`.

`memory` and `log` wrap the host's interfaces; `HostError` carries a host
capability's refusal (for example `denied` when `memory` is not granted).
"""

import json
import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import tools as _tools
from wit_world.imports import log as _log
from wit_world.imports import memory as _memory

__all__ = ["Tools", "tool", "InvalidInput", "Denied", "Failed", "HostError", "memory", "log"]

_registry = {}


class InvalidInput(Exception):
    """The input is not acceptable to the tool."""


class Denied(Exception):
    """Something the tool needs was denied to it."""


class Failed(Exception):
    """The tool tried and failed."""


class HostError(Exception):
    """A host capability refused or failed: `kind` is `denied`,
    `limit-exceeded`, `invalid` or `failed`."""

    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def tool(name_or_function):
    """Register a function as a tool: `@tool` or `@tool("tool-name")`."""
    if callable(name_or_function):
        _registry[name_or_function.__name__] = name_or_function
        return name_or_function

    def register(function):
        _registry[name_or_function] = function
        return function

    return register


class Tools(exports.Tools):
    """The `tools` export componentize-py looks for in the app module."""

    def call(self, tool: str, input: str) -> str:
        function = _registry.get(tool)
        if function is None:
            raise Err(_tools.ToolError_InvalidInput(f"no tool '{tool}' (tools: {', '.join(sorted(_registry))})"))
        try:
            output = function(json.loads(input))
        except InvalidInput as e:
            raise Err(_tools.ToolError_InvalidInput(str(e)))
        except (Denied, HostError) as e:
            if isinstance(e, HostError) and e.kind != "denied":
                raise Err(_tools.ToolError_Failed(str(e)))
            raise Err(_tools.ToolError_Denied(str(e)))
        except Failed as e:
            raise Err(_tools.ToolError_Failed(str(e)))
        except Exception as e:
            log.error(traceback.format_exc())
            raise Err(_tools.ToolError_Failed(f"{type(e).__name__}: {e}"))
        return json.dumps(output)


def _host(function, *args):
    try:
        return function(*args)
    except Err as e:
        kind = type(e.value).__name__.split("_", 1)[-1]
        kind = {"LimitExceeded": "limit-exceeded"}.get(kind, kind.lower())
        raise HostError(kind, e.value.value) from None


class memory:
    """This skill's durable key/value store in the calling agent (needs
    `memory = true` under `[capabilities]`). Values are bytes; `get_json`
    and `set_json` store JSON documents."""

    @staticmethod
    def get(key: str):
        return _host(_memory.get, key)

    @staticmethod
    def set(key: str, value: bytes):
        _host(_memory.set, key, value)

    @staticmethod
    def delete(key: str) -> bool:
        return _host(_memory.delete, key)

    @staticmethod
    def keys(prefix: str = ""):
        return _host(_memory.list_keys, prefix)

    @staticmethod
    def get_json(key: str, default=None):
        value = memory.get(key)
        return default if value is None else json.loads(value)

    @staticmethod
    def set_json(key: str, value):
        memory.set(key, json.dumps(value).encode())


class log:
    """Structured logs, captured per call."""

    @staticmethod
    def debug(message: str):
        _log.log(_log.Level.DEBUG, message)

    @staticmethod
    def info(message: str):
        _log.log(_log.Level.INFO, message)

    @staticmethod
    def warn(message: str):
        _log.log(_log.Level.WARN, message)

    @staticmethod
    def error(message: str):
        _log.log(_log.Level.ERROR, message)
