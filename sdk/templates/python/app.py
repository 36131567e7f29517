"""{{name}}: one tool, `hello`."""

from skillbox import Tools, log, tool  # noqa: F401 (Tools is the export)


@tool
def hello(input):
    name = input.get("name", "world")
    log.info(f"greeting {name}")
    return {"greeting": f"hello, {name}"}
