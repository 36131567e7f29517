"""A LiteLLM pre-call hook that answers like a model with tools.

Given a phrase in single quotes and a word-count tool, it calls the tool on
the phrase; once the tool's result is in, it reports the count; anything
else it notes. LiteLLM turns each answer into a chat completion, streamed
or whole, with usage.
"""

import json
import re

import litellm
from litellm.integrations.custom_logger import CustomLogger


def tool_call(model, name, arguments, index):
    return litellm.ModelResponse(
        model=model,
        choices=[{
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [{
                    "id": f"call_{index}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }],
            },
        }],
        usage={"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    )


class SkillboxMock(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        messages = data.get("messages") or []
        last = messages[-1] if messages else {}
        tools = [t["function"]["name"] for t in data.get("tools") or []]
        counter = next((t for t in tools if t.endswith("word_count")), None)
        user = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        quoted = re.search(r"'([^']*)'", user)
        if last.get("role") == "tool":
            words = re.search(r'"words":\s*(\d+)', last.get("content") or "")
            data["mock_response"] = f"That is {words.group(1)} words." if words else "The tool failed."
        elif counter and quoted:
            data["mock_response"] = tool_call(data.get("model"), counter, {"text": quoted.group(1)}, len(messages))
        else:
            data["mock_response"] = f"Noted: {user}"
        return data


handler = SkillboxMock()
