// {{name}}: one tool, `hello`.
import { log } from "skillbox:skill/log@0.1.0";

// Each tool takes its input (parsed JSON, checked against the tool's
// input_schema by the host) and returns something JSON.stringify accepts,
// or a Promise of it.
const handlers = {
  hello(input) {
    const name = input.name ?? "world";
    log("info", `greeting ${name}`);
    return { greeting: `hello, ${name}` };
  },
};

// The export the host calls. To fail a call, throw
// { tag: "invalid-input" | "denied" | "failed", val: "why" }; any other
// exception fails the call as `failed`.
export const tools = {
  async call(tool, input) {
    const handler = handlers[tool];
    if (!handler) throw { tag: "invalid-input", val: `no tool '${tool}'` };
    try {
      return JSON.stringify(await handler(JSON.parse(input)));
    } catch (e) {
      throw e?.tag ? e : { tag: "failed", val: String(e?.message ?? e) };
    }
  },
};
