//! `response_format: {type: "json_schema", json_schema: {…}}` checked as OpenAI's
//! Structured Outputs checks it: `name` of letters, digits, `_` and `-` (at most
//! 64), `strict` a boolean, `schema` an object; and with `strict: true`, the
//! subset strict mode accepts: an object at the root, every object (nested ones,
//! `items`, `anyOf` branches and `$defs` included) closed with
//! `additionalProperties: false` and listing every property in `required`, and
//! none of `allOf`, `not`, `if`/`then`/`else`, `dependentRequired`,
//! `dependentSchemas`. Errors name the offending place as OpenAI does, e.g.
//! `In context=('properties', 'scenes', 'items'), …`.

use serde_json::{Map, Value};

use super::openai::ApiError;

/// Keywords strict mode refuses.
const NOT_PERMITTED: [&str; 7] = [
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
];

/// Checks the `json_schema` member of `response_format`.
pub(crate) fn check(format: &Value) -> Result<(), ApiError> {
    const AT: &str = "response_format.json_schema";
    let Some(fields) = format.as_object() else {
        return Err(ApiError::wrong_type(AT, "an object", format));
    };
    let name = match fields.get("name") {
        None | Some(Value::Null) => return Err(ApiError::missing(&format!("{AT}.name"))),
        Some(Value::String(name)) => name.as_str(),
        Some(other) => {
            return Err(ApiError::wrong_type(
                &format!("{AT}.name"),
                "a string",
                other,
            ));
        }
    };
    let len = name.chars().count();
    if len > 64 {
        return Err(ApiError::invalid(
            format!(
                "Invalid '{AT}.name': string too long. Expected a string with maximum length \
                 64, but got a string with length {len} instead."
            ),
            Some(&format!("{AT}.name")),
            Some("string_above_max_length"),
        ));
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || !name.chars().all(valid) {
        return Err(ApiError::invalid(
            format!(
                "Invalid '{AT}.name': string does not match pattern. Expected a string that \
                 matches the pattern '^[a-zA-Z0-9_-]+$'."
            ),
            Some(&format!("{AT}.name")),
            Some("invalid_value"),
        ));
    }
    let strict = match fields.get("strict") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(strict)) => *strict,
        Some(other) => {
            return Err(ApiError::wrong_type(
                &format!("{AT}.strict"),
                "a boolean",
                other,
            ));
        }
    };
    let schema = match fields.get("schema") {
        None | Some(Value::Null) => return Err(ApiError::missing(&format!("{AT}.schema"))),
        Some(Value::Object(schema)) => schema,
        Some(other) => {
            return Err(ApiError::wrong_type(
                &format!("{AT}.schema"),
                "an object",
                other,
            ));
        }
    };
    if !strict {
        return Ok(());
    }
    strict_schema(schema).map_err(|problem| {
        ApiError::invalid(
            format!("Invalid schema for response_format '{name}': {problem}"),
            Some("response_format"),
            None,
        )
    })
}

/// One step into a schema: a member name or an array index.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The path as a Python tuple, as OpenAI prints it: `()`, `('items',)`,
/// `('properties', 'a', 'anyOf', 0)`.
fn context(path: &[Step]) -> String {
    let items: Vec<String> = path
        .iter()
        .map(|s| match s {
            Step::Key(k) => format!("'{k}'"),
            Step::Index(i) => i.to_string(),
        })
        .collect();
    match items.len() {
        1 => format!("context=({},)", items[0]),
        _ => format!("context=({})", items.join(", ")),
    }
}

fn strict_schema(root: &Map<String, Value>) -> Result<(), String> {
    let kind = root.get("type");
    if kind != Some(&Value::String("object".into())) {
        let shown = match kind {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "None".into(),
        };
        return Err(format!(
            "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{shown}\"'."
        ));
    }
    if root.contains_key("anyOf") {
        return Err("In context=(), the root schema must not be 'anyOf'.".into());
    }
    walk(root, &mut Vec::new())
}

fn is_object_schema(node: &Map<String, Value>) -> bool {
    match node.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => node.contains_key("properties"),
    }
}

fn walk(node: &Map<String, Value>, path: &mut Vec<Step>) -> Result<(), String> {
    if let Some(keyword) = NOT_PERMITTED.iter().find(|k| node.contains_key(**k)) {
        return Err(format!(
            "In {}, '{keyword}' is not permitted.",
            context(path)
        ));
    }
    if is_object_schema(node) {
        if node.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Err(format!(
                "In {}, 'additionalProperties' is required to be supplied and to be false.",
                context(path)
            ));
        }
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let properties = node.get("properties").and_then(Value::as_object);
        if let Some(missing) = properties
            .into_iter()
            .flat_map(|p| p.keys())
            .find(|k| !required.contains(&k.as_str()))
        {
            return Err(format!(
                "In {}, 'required' is required to be supplied and to be an array including \
                 every key in properties. Missing '{missing}'.",
                context(path)
            ));
        }
    }
    for map_keyword in ["properties", "$defs", "definitions"] {
        if let Some(children) = node.get(map_keyword).and_then(Value::as_object) {
            for (name, child) in children {
                let steps = [Step::Key(map_keyword.into()), Step::Key(name.clone())];
                descend(child, path, &steps)?;
            }
        }
    }
    for list_keyword in ["anyOf", "prefixItems"] {
        if let Some(children) = node.get(list_keyword).and_then(Value::as_array) {
            for (i, child) in children.iter().enumerate() {
                descend(
                    child,
                    path,
                    &[Step::Key(list_keyword.into()), Step::Index(i)],
                )?;
            }
        }
    }
    match node.get("items") {
        Some(Value::Array(children)) => {
            for (i, child) in children.iter().enumerate() {
                descend(child, path, &[Step::Key("items".into()), Step::Index(i)])?;
            }
        }
        Some(child) => descend(child, path, &[Step::Key("items".into())])?,
        None => {}
    }
    Ok(())
}

/// Walks `child`, found at `steps` below `path`.
fn descend(child: &Value, path: &mut Vec<Step>, steps: &[Step]) -> Result<(), String> {
    let Some(child) = child.as_object() else {
        return Ok(());
    };
    let depth = path.len();
    path.extend_from_slice(steps);
    let result = walk(child, path);
    path.truncate(depth);
    result
}
