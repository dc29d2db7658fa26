//! Unknown names are refused, as Stripe refuses unknown parameters: a client that sends
//! `{"due": "2027-01-01"}` to a route that knows `due_at` and `due_date` gets a 422 naming `due`
//! and the closest known name, never a 201 that silently dropped its date.
//!
//! `serde_ignored` reports every key a type did not take (at any depth); the names a struct does
//! know are read from its own `Deserialize` (the field list serde hands `deserialize_struct`).

use serde::de::{self, DeserializeOwned, Visitor};
use serde::forward_to_deserialize_any;

use super::problem::FieldError;

/// The problems of the names in `unknown` (paths such as `due` or `recurrence.freq`) for a `T`.
pub fn unknown_field_errors<T: DeserializeOwned>(unknown: Vec<String>) -> Vec<FieldError> {
    let known = field_names::<T>();
    unknown
        .into_iter()
        .map(|path| {
            let suggestion = if path.contains(['.', '[']) { None } else { closest(&path, known) };
            let message = match suggestion {
                Some(name) => format!("is not a field of this request; did you mean {name}?"),
                None => "is not a field of this request".to_string(),
            };
            FieldError::new(path, message)
        })
        .collect()
}

/// The field names of a struct `T` (empty for anything else).
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut introspect = Introspect { fields: &[] };
    let _ = T::deserialize(&mut introspect);
    introspect.fields
}

/// The known name nearest to `name`: one that starts with it or it starts with, or within a few
/// edits; none when nothing is near.
fn closest(name: &str, known: &[&'static str]) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    known
        .iter()
        .map(|candidate| {
            let distance = if candidate.starts_with(&name) || name.starts_with(candidate) {
                0
            } else {
                edit_distance(&name, candidate)
            };
            (distance, *candidate)
        })
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// A deserializer that only records the field list a struct asks for, then stops.
struct Introspect {
    fields: &'static [&'static str],
}

impl<'de> de::Deserializer<'de> for &mut Introspect {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.fields = fields;
        Err(de::Error::custom("fields read"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct NewTask {
        title: String,
        due_at: Option<String>,
        due_date: Option<String>,
        estimate_minutes: Option<u32>,
    }

    #[test]
    fn a_struct_names_its_fields() {
        assert_eq!(field_names::<NewTask>(), ["title", "due_at", "due_date", "estimate_minutes"]);
        assert!(field_names::<serde_json::Value>().is_empty());
    }

    #[test]
    fn an_unknown_name_gets_the_closest_known_one() {
        let errors = unknown_field_errors::<NewTask>(vec!["due".into(), "titel".into(), "colour".into()]);
        assert_eq!(errors[0].field, "due");
        assert!(errors[0].message.ends_with("did you mean due_at?"), "{}", errors[0].message);
        assert!(errors[1].message.ends_with("did you mean title?"), "{}", errors[1].message);
        assert_eq!(errors[2].message, "is not a field of this request", "nothing is near colour");
    }
}
