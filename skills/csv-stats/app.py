"""csv-stats: summarise the numeric columns of a CSV table.

A column is numeric when every non-empty cell of it parses as a number.
Summaries can be kept in the skill's memory under a name and recalled in a
later call (or after a restart).
"""

import csv
import io
import statistics

from skillbox import InvalidInput, Tools, log, memory, tool  # noqa: F401


def _number(cell):
    try:
        return float(cell)
    except ValueError:
        return None


@tool
def summarize(input):
    rows = list(csv.reader(io.StringIO(input["csv"]), delimiter=input.get("delimiter", ",")))
    if not rows:
        raise InvalidInput("the table is empty: expected a header row")
    header, body = rows[0], rows[1:]
    columns = {}
    for index, name in enumerate(header):
        cells = [row[index].strip() for row in body if index < len(row) and row[index].strip()]
        numbers = [_number(cell) for cell in cells]
        if not numbers or any(n is None for n in numbers):
            continue
        columns[name] = {
            "count": len(numbers),
            "sum": sum(numbers),
            "mean": statistics.fmean(numbers),
            "min": min(numbers),
            "max": max(numbers),
            "median": statistics.median(numbers),
        }
    summary = {"rows": len(body), "columns": columns}
    if "save_as" in input:
        memory.set_json("summary/" + input["save_as"], summary)
        log.info(f"kept the summary as '{input['save_as']}'")
    return summary


@tool
def recall(input):
    summary = memory.get_json("summary/" + input["name"])
    return {"name": input["name"], "found": summary is not None, "summary": summary}
