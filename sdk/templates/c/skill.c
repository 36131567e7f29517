// {{name}}: one tool, `hello`.
#include <stdio.h>

#include "skillbox.h"

// The export the host calls: `tool` names the tool, `input` is its JSON
// input. Write the JSON output to `ret` and return true, or fill `err` and
// return false. Each call runs in a fresh instance: what a call leaks is
// gone when it returns.
bool exports_skillbox_skill_tools_call(skill_string_t *tool, skill_string_t *input,
                                       skill_string_t *ret, skillbox_tool_error_t *err) {
  if (!skillbox_is(tool, "hello")) {
    return skillbox_fail(err, EXPORTS_SKILLBOX_SKILL_TOOLS_TOOL_ERROR_INVALID_INPUT, "no such tool");
  }
  size_t len = strlen("world");
  char *name = skillbox_input_string(input, "name", &len);
  char line[256];
  snprintf(line, sizeof line, "greeting %.*s", (int)len, name ? name : "world");
  skillbox_log(SKILLBOX_SKILL_LOG_LEVEL_INFO, line);

  char greeting[256];
  int n = snprintf(greeting, sizeof greeting, "hello, %.*s", (int)len, name ? name : "world");
  if (n >= (int)sizeof greeting) n = sizeof greeting - 1;
  char *quoted = skillbox_json_quote(greeting, (size_t)n);
  char output[sizeof greeting * 6 + 32];
  snprintf(output, sizeof output, "{\"greeting\":%s}", quoted);
  return skillbox_ok(ret, output);
}
