//! A tool's input JSON Schema, bounded. Validation runs on the host before
//! any deadline or fuel applies, so its cost is bounded by construction:
//!
//! - at load, a schema may hold at most [`MAX_SCHEMA_BYTES`], nest at most
//!   [`MAX_DEPTH`] levels (in its JSON, and in references followed), and
//!   unfold into at most [`MAX_PARTS`] subschemas once every `$ref` is
//!   followed (a reference back into itself counts once): nested `$ref`s
//!   under `allOf` would otherwise multiply;
//! - patterns use a regex engine that runs in linear time, never one that
//!   backtracks;
//! - per call, the input's values times the schema's parts may be at most
//!   [`MAX_CHECKS`]: the most work one validation may take.

use std::sync::Arc;

use serde_json::Value;

/// Largest schema, as JSON.
pub(crate) const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Deepest nesting of a schema's JSON.
pub(crate) const MAX_DEPTH: usize = 32;
/// Most subschemas a schema unfolds into, every `$ref` followed.
pub(crate) const MAX_PARTS: usize = 10_000;
/// Most (input value, schema part) pairs one validation may visit: about
/// half a second of work at worst.
pub(crate) const MAX_CHECKS: u64 = 20_000_000;
/// Largest compiled pattern (the regex crate's size limit).
const MAX_PATTERN_BYTES: usize = 1 << 20;

/// A tool's input schema, compiled once when the manifest is loaded.
#[derive(Clone)]
pub struct InputSchema {
    pub json: Value,
    /// Subschemas, every `$ref` followed: what checking one value costs.
    parts: u64,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.json.fmt(f)
    }
}

impl InputSchema {
    /// Check `json` against the bounds above, then compile it; the error
    /// says which bound, or what is wrong with the schema.
    pub fn new(json: Value) -> Result<InputSchema, String> {
        let bytes = serde_json::to_vec(&json).map_or(usize::MAX, |b| b.len());
        if bytes > MAX_SCHEMA_BYTES {
            return Err(format!(
                "is {bytes} bytes as JSON; a schema may be at most {MAX_SCHEMA_BYTES}"
            ));
        }
        if depth(&json) > MAX_DEPTH {
            return Err(format!("nests deeper than {MAX_DEPTH} levels"));
        }
        let parts = Unfolding::new(&json).count()?;
        let validator = jsonschema::options()
            .with_pattern_options(jsonschema::PatternOptions::regex().size_limit(MAX_PATTERN_BYTES))
            .build(&json)
            .map_err(|e| format!("is not a valid JSON Schema: {e}"))?;
        Ok(InputSchema {
            json,
            parts,
            validator: Arc::new(validator),
        })
    }

    /// Every way `input` fails the schema (the first `max`), one line
    /// each; empty when valid. Refused unchecked when checking would cost
    /// more than [`MAX_CHECKS`].
    pub fn violations(&self, input: &Value, max: usize) -> Result<Vec<String>, String> {
        let checks = values(input).saturating_mul(self.parts);
        if checks > MAX_CHECKS {
            return Err(format!(
                "the input holds {} values; checking them against this tool's schema ({} \
                 parts) is more work than the host allows ({MAX_CHECKS} checks)",
                values(input),
                self.parts
            ));
        }
        if self.validator.is_valid(input) {
            return Ok(Vec::new());
        }
        let lines = self.validator.iter_errors(input).take(max).map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        });
        Ok(lines.collect())
    }
}

/// How deep `value` nests.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// How many values `value` holds, itself included.
fn values(value: &Value) -> u64 {
    match value {
        Value::Array(items) => 1 + items.iter().map(values).sum::<u64>(),
        Value::Object(map) => 1 + map.values().map(values).sum::<u64>(),
        _ => 1,
    }
}

/// Counting the subschemas of a schema with every local `$ref` followed,
/// stopping as soon as there are too many.
struct Unfolding<'a> {
    root: &'a Value,
    /// The references being followed, to count a cycle once.
    following: Vec<&'a str>,
    parts: u64,
}

impl<'a> Unfolding<'a> {
    fn new(root: &'a Value) -> Self {
        Unfolding {
            root,
            following: Vec::new(),
            parts: 0,
        }
    }

    fn count(mut self) -> Result<u64, String> {
        self.visit(self.root)?;
        Ok(self.parts)
    }

    fn visit(&mut self, value: &'a Value) -> Result<(), String> {
        let children: Box<dyn Iterator<Item = &'a Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => return Ok(()),
        };
        self.parts += 1;
        if self.parts > MAX_PARTS as u64 {
            return Err(format!(
                "unfolds into more than {MAX_PARTS} subschemas once its references are \
                 followed"
            ));
        }
        if let Some(target) = reference(value)
            && !self.following.contains(&target)
            && let Some(resolved) = self.resolve(target)
        {
            if self.following.len() == MAX_DEPTH {
                return Err(format!("has references nested deeper than {MAX_DEPTH}"));
            }
            self.following.push(target);
            self.visit(resolved)?;
            self.following.pop();
        }
        for child in children {
            self.visit(child)?;
        }
        Ok(())
    }

    /// The subschema a local reference points to (`#`, `#/$defs/x`).
    fn resolve(&self, target: &str) -> Option<&'a Value> {
        let pointer = target.strip_prefix('#')?;
        let pointer = percent_encoding::percent_decode_str(pointer)
            .decode_utf8()
            .ok()?;
        self.root.pointer(&pointer)
    }
}

/// Where a schema object refers to, if it does: `$ref`, or a dynamic or
/// recursive reference, which can only lead back into the schema.
fn reference(value: &Value) -> Option<&str> {
    let map = value.as_object()?;
    if let Some(target) = map.get("$ref").and_then(Value::as_str) {
        return Some(target);
    }
    ["$dynamicRef", "$recursiveRef"]
        .iter()
        .any(|key| map.contains_key(*key))
        .then_some("#")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `levels` definitions, each all of the next one twice: 2^levels
    /// subschemas once unfolded, from a few hundred bytes.
    fn doubling(levels: usize) -> Value {
        let mut defs = serde_json::Map::new();
        for i in 0..levels {
            let next = format!("#/$defs/d{}", i + 1);
            defs.insert(
                format!("d{i}"),
                json!({"allOf": [{"$ref": next}, {"$ref": next}]}),
            );
        }
        defs.insert(format!("d{levels}"), json!({"type": "string"}));
        json!({"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/d0"}}})
    }

    #[test]
    fn a_schema_that_multiplies_is_refused_at_load() {
        assert!(InputSchema::new(doubling(6)).is_ok());
        let error = InputSchema::new(doubling(30)).unwrap_err();
        assert!(error.contains("more than 10000 subschemas"), "{error}");
    }

    #[test]
    fn a_recursive_schema_counts_its_cycle_once() {
        let tree = json!({
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}
        });
        let schema = InputSchema::new(tree).unwrap();
        let input = json!({"children": [{"children": []}, {"children": [{"children": 5}]}]});
        let violations = schema.violations(&input, 5).unwrap();
        assert_eq!(violations.len(), 1, "{violations:?}");
    }

    #[test]
    fn depth_size_and_work_are_bounded() {
        let mut deep = json!({"type": "string"});
        for _ in 0..40 {
            deep = json!({"type": "object", "properties": {"a": deep}});
        }
        assert!(InputSchema::new(deep).unwrap_err().contains("deeper"));
        let mut chain = serde_json::Map::new();
        for i in 0..40 {
            chain.insert(
                format!("d{i}"),
                json!({"$ref": format!("#/$defs/d{}", i + 1)}),
            );
        }
        let chain =
            json!({"type": "object", "$defs": chain, "properties": {"a": {"$ref": "#/$defs/d0"}}});
        assert!(
            InputSchema::new(chain)
                .unwrap_err()
                .contains("references nested")
        );
        let big = json!({"type": "object", "description": "x".repeat(MAX_SCHEMA_BYTES)});
        assert!(InputSchema::new(big).unwrap_err().contains("bytes"));
        let schema = InputSchema::new(doubling(8)).unwrap();
        let input = json!({"x": vec!["a"; 10_000]});
        let error = schema.violations(&input, 5).unwrap_err();
        assert!(error.contains("more work"), "{error}");
    }
}
