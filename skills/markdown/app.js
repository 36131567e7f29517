// markdown: render Markdown to HTML, and list a document's links, from
// text or fetched (over wasi:http, to the hosts the agent grants) from a URL.
import { log } from "skillbox:skill/log@0.1.0";

const escape = (text) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

// Inline spans: code first, so that nothing inside it is formatted.
function inline(text) {
  return text
    .split(/(`[^`]*`)/)
    .map((part) => {
      if (part.startsWith("`") && part.endsWith("`") && part.length > 1) {
        return `<code>${escape(part.slice(1, -1))}</code>`;
      }
      return escape(part)
        .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, label, href) => `<a href="${href}">${label}</a>`)
        .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
        .replace(/\*([^*]+)\*/g, "<em>$1</em>");
    })
    .join("");
}

function render(markdown) {
  const html = [];
  let paragraph = [];
  let list = null;
  let code = null;
  const flush = () => {
    if (paragraph.length) html.push(`<p>${inline(paragraph.join(" "))}</p>`);
    paragraph = [];
    if (list) html.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i)}</li>`).join("")}</${list.tag}>`);
    list = null;
  };
  for (const line of markdown.split(/\r?\n/)) {
    if (code !== null) {
      if (line.startsWith("```")) {
        html.push(`<pre><code>${escape(code.join("\n"))}</code></pre>`);
        code = null;
      } else {
        code.push(line);
      }
      continue;
    }
    let m;
    if (line.startsWith("```")) {
      flush();
      code = [];
    } else if ((m = line.match(/^(#{1,6})\s+(.*)$/))) {
      flush();
      html.push(`<h${m[1].length}>${inline(m[2])}</h${m[1].length}>`);
    } else if ((m = line.match(/^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/))) {
      const tag = m[1] ? "ul" : "ol";
      if (paragraph.length || (list && list.tag !== tag)) flush();
      list ??= { tag, items: [] };
      list.items.push(m[3]);
    } else if (line.trim() === "") {
      flush();
    } else {
      if (list) flush();
      paragraph.push(line.trim());
    }
  }
  if (code !== null) html.push(`<pre><code>${escape(code.join("\n"))}</code></pre>`);
  flush();
  return html.join("\n");
}

function links(markdown) {
  const found = [];
  for (const m of markdown.matchAll(/(!?)\[([^\]]*)\]\(([^)\s]+)(?:\s+"([^"]*)")?\)/g)) {
    found.push({ text: m[2], url: m[3], image: m[1] === "!" });
  }
  for (const m of markdown.matchAll(/<(https?:\/\/[^>\s]+)>/g)) {
    found.push({ text: m[1], url: m[1], image: false });
  }
  return found;
}

async function fetchText(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    // A host the agent did not grant ends here, as a network error.
    throw { tag: "denied", val: `cannot fetch ${url}: ${e.message ?? e}` };
  }
  if (!response.ok) throw { tag: "failed", val: `${url} answered ${response.status}` };
  return response.text();
}

const handlers = {
  render: ({ text }) => ({ html: render(text) }),
  async links({ text, url }) {
    const source = url === undefined ? text : await fetchText(url);
    const found = links(source);
    log("info", `${found.length} link(s)${url === undefined ? "" : ` in ${url}`}`);
    return { links: found };
  },
};

export const tools = {
  async call(tool, input) {
    const handler = handlers[tool];
    if (!handler) throw { tag: "invalid-input", val: `no tool '${tool}'` };
    return JSON.stringify(await handler(JSON.parse(input)));
  },
};
