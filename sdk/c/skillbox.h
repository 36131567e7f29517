// skillbox.h: small helpers for skills written in C, on top of the
// bindings `skillbox skill build` generates (skill.h).
//
// A tool's input is a JSON object the host has already checked against the
// tool's input_schema; `skillbox_input_string` reads one string field of it.
// Outputs are JSON text: `skillbox_json_quote` makes a JSON string.
#ifndef SKILLBOX_H
#define SKILLBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skill.h"

typedef exports_skillbox_skill_tools_tool_error_t skillbox_tool_error_t;

// Answer `json` (copied) as the tool's output.
static inline bool skillbox_ok(skill_string_t *ret, const char *json) {
  skill_string_dup(ret, json);
  return true;
}

// Fail the call: `tag` is one of EXPORTS_SKILLBOX_SKILL_TOOLS_TOOL_ERROR_*.
static inline bool skillbox_fail(skillbox_tool_error_t *err, uint8_t tag, const char *why) {
  err->tag = tag;
  skill_string_dup(&err->val.failed, why);
  return false;
}

// Log `message` at `level` (SKILLBOX_SKILL_LOG_LEVEL_*).
static inline void skillbox_log(skillbox_skill_log_level_t level, const char *message) {
  skill_string_t text = {(uint8_t *)message, strlen(message)};
  skillbox_skill_log_log(level, &text);
}

// Whether `name` (a tool name from the host) equals `expected`.
static inline bool skillbox_is(const skill_string_t *name, const char *expected) {
  return name->len == strlen(expected) && memcmp(name->ptr, expected, name->len) == 0;
}

static inline size_t skillbox__utf8(uint32_t c, char *out) {
  if (c < 0x80) { out[0] = (char)c; return 1; }
  if (c < 0x800) { out[0] = (char)(0xC0 | c >> 6); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | c >> 12); out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F)); return 3;
  }
  out[0] = (char)(0xF0 | c >> 18); out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F)); return 4;
}

static inline int skillbox__hex4(const uint8_t *p, const uint8_t *end, uint32_t *out) {
  if (end - p < 4) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t h = p[i];
    v <<= 4;
    if (h >= '0' && h <= '9') v |= h - '0';
    else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
    else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
    else return 0;
  }
  *out = v;
  return 1;
}

// Decode the JSON string starting at `*at` (just after its opening quote)
// into a new NUL-terminated buffer; leaves `*at` after the closing quote.
static inline char *skillbox__string(const uint8_t **at, const uint8_t *end, size_t *len) {
  const uint8_t *p = *at;
  // Decoded text is never longer than its JSON form.
  char *out = malloc((size_t)(end - p) + 1), *o = out;
  if (!out) return NULL;
  while (p < end && *p != '"') {
    if (*p != '\\') { *o++ = (char)*p++; continue; }
    if (++p >= end) break;
    uint8_t e = *p++;
    switch (e) {
      case 'n': *o++ = '\n'; break;
      case 't': *o++ = '\t'; break;
      case 'r': *o++ = '\r'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'u': {
        uint32_t c, low;
        if (!skillbox__hex4(p, end, &c)) { free(out); return NULL; }
        p += 4;
        if (c >= 0xD800 && c < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
            skillbox__hex4(p + 2, end, &low) && low >= 0xDC00 && low < 0xE000) {
          c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
          p += 6;
        }
        o += skillbox__utf8(c, o);
        break;
      }
      default: *o++ = (char)e; break;  // \" \\ \/
    }
  }
  if (p >= end) { free(out); return NULL; }
  *at = p + 1;
  *o = '\0';
  *len = (size_t)(o - out);
  return out;
}

// The string field `key` of the top-level JSON object `json`, as a new
// NUL-terminated buffer (free it) of `*len` bytes; NULL when absent or not
// a string. Nested objects and arrays are skipped.
static inline char *skillbox_input_string(const skill_string_t *json, const char *key, size_t *len) {
  const uint8_t *p = json->ptr, *end = json->ptr + json->len;
  int depth = 0;
  while (p < end) {
    uint8_t c = *p++;
    if (c == '{' || c == '[') { depth++; continue; }
    if (c == '}' || c == ']') { depth--; continue; }
    if (c != '"') continue;
    size_t name_len;
    char *name = skillbox__string(&p, end, &name_len);
    if (!name) return NULL;
    const uint8_t *q = p;
    while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
    bool is_key = q < end && *q == ':';
    bool wanted = is_key && depth == 1 && strcmp(name, key) == 0;
    free(name);
    if (!wanted) continue;
    q++;
    while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
    if (q >= end || *q != '"') return NULL;
    q++;
    return skillbox__string(&q, end, len);
  }
  return NULL;
}

// `text` (`len` bytes) as a quoted JSON string, in a new buffer (free it).
static inline char *skillbox_json_quote(const char *text, size_t len) {
  char *out = malloc(len * 6 + 3), *o = out;
  if (!out) return NULL;
  *o++ = '"';
  for (size_t i = 0; i < len; i++) {
    uint8_t c = (uint8_t)text[i];
    if (c == '"' || c == '\\') { *o++ = '\\'; *o++ = (char)c; }
    else if (c < 0x20) { o += sprintf(o, "\\u%04x", c); }
    else *o++ = (char)c;
  }
  *o++ = '"';
  *o = '\0';
  return out;
}

#endif
