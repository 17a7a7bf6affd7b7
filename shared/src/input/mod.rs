//! Request bodies as clients send them, and their conversion into domain values
//! (`TryFrom<…In>`), collecting field errors so a client learns about every bad field
//! at once.
//!
//! A body is parsed in two steps. Its shape — JSON, an object, no unknown or missing
//! fields, each value of the right JSON type — is checked while it is read, and the
//! first fault answers 400 `invalid_input`. Values of the right type are then
//! judged field by field, and every refusal is listed in one 422: the handler's own
//! checks, and the fields read as [`Checked`], whose type refuses the value (a
//! choice that does not exist, a priority out of range).

use serde::de::value::MapAccessDeserializer;
use serde::de::{
    Deserialize, DeserializeOwned, DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess,
    Visitor,
};

use crate::domain::Invalid;

mod admin;
mod film;
mod scene;
mod story;
mod webhook;

pub use admin::{ProviderPatchIn, QuotaPatchIn};
pub use film::{
    CaptionsIn, FilmIn, ImageProvider, PlanProvider, SceneTransitionIn, SpeechProvider,
    VideoProvider, VoiceIn,
};
pub use scene::{
    BulkCreate, BulkCreateIn, GenerateScene, GenerateSceneIn, PositionIn, PromptIn, PromptPatchIn,
    ReorderIn, SceneIn, ScenePatchIn,
};
pub use story::{StoryIn, StoryPatchIn, Transition, TransitionIn, Work, WorkIn};
pub use webhook::{EndpointIn, EndpointPatchIn, RotateIn, WebhookEvent};

/// Every field a body got wrong, each with why (a 422 `validation_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join(" "))]
pub struct Refusal(pub Vec<(String, String)>);

impl Refusal {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![(field.into(), message.into())])
    }
}

/// A body field whose domain type refuses some values of the right JSON type:
/// the refusal is kept, for [`FieldErrors::take`] to list with the others, instead
/// of ending the parse. A value of the wrong JSON type is still refused at once.
#[derive(Debug)]
pub enum Checked<T> {
    Valid(T),
    Refused(String),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        match T::deserialize(&value) {
            Ok(v) => Ok(Checked::Valid(v)),
            // serde's own wording for a value of the wrong JSON type.
            Err(e) if e.to_string().starts_with("invalid type") => Err(D::Error::custom(e)),
            Err(e) => Ok(Checked::Refused(e.to_string())),
        }
    }
}

/// Reads a struct only from a JSON object: serde would also read one from an array
/// of its fields, which the OpenAPI document does not allow. The map is read in
/// place, so errors inside it keep their path (`scenes[1].prompt.text`).
struct ObjectVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// A nested member that must be a JSON object.
pub(crate) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(ObjectVisitor(std::marker::PhantomData))
}

struct OptionalObject<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OptionalObject<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        object(d).map(Some)
    }
}

/// As [`object`], or null (with `#[serde(default)]`, also absent).
pub(crate) fn optional_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_option(OptionalObject(std::marker::PhantomData))
}

struct ObjectSeed<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ObjectSeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        object(d)
    }
}

struct Objects<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for Objects<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ObjectSeed(std::marker::PhantomData))? {
            items.push(item);
        }
        Ok(items)
    }
}

/// A list whose items must be JSON objects.
pub(crate) fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_seq(Objects(std::marker::PhantomData))
}

struct OptionalObjects<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OptionalObjects<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of objects or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        objects(d).map(Some)
    }
}

/// As [`objects`], or null (with `#[serde(default)]`, also absent).
pub(crate) fn optional_objects<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_option(OptionalObjects(std::marker::PhantomData))
}

#[derive(Default)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    /// Keeps the value, or records why it was refused.
    pub fn check<T>(&mut self, field: &str, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, sentence(&e.0));
                None
            }
        }
    }

    /// The value of a [`Checked`] field, or why it was refused.
    pub fn take<T>(&mut self, field: &str, value: Checked<T>) -> Option<T> {
        match value {
            Checked::Valid(v) => Some(v),
            Checked::Refused(message) => {
                self.add(field, sentence(&message));
                None
            }
        }
    }

    /// A string of at most `max` characters; `required` also refuses a blank one.
    pub fn text(&mut self, field: &str, value: &str, max: usize, required: bool) {
        if required && value.trim().is_empty() {
            self.add(field, "This field may not be blank.");
        }
        let n = value.chars().count();
        if n > max {
            self.add(
                field,
                format!("Ensure this field has no more than {max} characters (it has {n})."),
            );
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.add(field, "Control characters are not allowed.");
        }
    }

    pub fn finish(self) -> Result<(), Refusal> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Refusal(self.0))
        }
    }
}

/// "must be at least 1 second" → "Must be at least 1 second."
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let Some(first) = c.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(c).collect();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The characters [`FieldErrors::text`] refuses, as a regular-expression class:
/// control characters other than tab, newline and carriage return.
const CONTROL: &str = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F";
/// Control characters and whitespace (Unicode's `White_Space`, which `trim` removes).
const CONTROL_OR_SPACE: &str =
    r"\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// The schema of a string that [`FieldErrors::text`] accepts.
fn text_schema(max: usize, required: bool, nullable: bool) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let pattern = if required {
        format!("^[^{CONTROL}]*[^{CONTROL_OR_SPACE}][^{CONTROL}]*$")
    } else {
        format!("^[^{CONTROL}]*$")
    };
    let schema_type = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .min_length(required.then_some(1))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .build()
}

/// Schema of a string of at most `MAX` characters, no control characters.
pub fn text<const MAX: usize>() -> utoipa::openapi::schema::Object {
    text_schema(MAX, false, false)
}

/// As [`text`], or null.
pub fn text_or_null<const MAX: usize>() -> utoipa::openapi::schema::Object {
    text_schema(MAX, false, true)
}

/// As [`text`], and not blank.
pub fn nonblank<const MAX: usize>() -> utoipa::openapi::schema::Object {
    text_schema(MAX, true, false)
}

/// As [`nonblank`], or null.
pub fn nonblank_or_null<const MAX: usize>() -> utoipa::openapi::schema::Object {
    text_schema(MAX, true, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings around every character up to U+3100 (all the control and space
    /// characters there are), alone, after a letter and before a space.
    fn samples() -> Vec<String> {
        let mut all: Vec<String> = ["", " ", "ok", "\n\t\r", "a\nb"]
            .into_iter()
            .map(String::from)
            .collect();
        for c in (0..0x3100).filter_map(char::from_u32) {
            all.extend([c.to_string(), format!("a{c}"), format!("{c} ")]);
        }
        all
    }

    #[test]
    fn the_documented_patterns_accept_what_the_checks_accept() {
        for required in [false, true] {
            let schema = text_schema(100, required, false);
            let pattern = regex::Regex::new(schema.pattern.as_deref().unwrap()).unwrap();
            for s in samples() {
                let mut errors = FieldErrors::default();
                errors.text("f", &s, 100, required);
                assert_eq!(
                    pattern.is_match(&s),
                    errors.0.is_empty(),
                    "{s:?} (required: {required})"
                );
            }
        }
    }
}
