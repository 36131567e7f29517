from skillbox import Tools, tool  # noqa: F401


@tool
def spin(input):
    while True:
        pass
