//! Structs read from JSON objects only. serde's derived structs also accept an array of their
//! fields in declaration order, so `"match": [null, null]` would read as a rule matching every
//! request; no client writing a policy means that, and the OpenAPI document says "object".
//!
//! A struct opts in by deriving with `#[serde(remote = "Self")]`, which makes the derived code an
//! inherent `deserialize`, and implementing the trait with [`object_only!`], which calls it through
//! [`ObjectOnly`].

use serde::de::{Deserializer, Visitor};

/// A deserializer that reads a struct as a map: an array where a struct belongs is a type error.
pub(super) struct ObjectOnly<D>(pub(super) D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// Implements `Serialize` and `Deserialize` for a struct derived with `#[serde(remote = "Self")]`,
/// deserializing it from an object only.
macro_rules! object_only {
    ($($name:ident),+ $(,)?) => {$(
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $name::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $name::deserialize($crate::engine::model::object_only::ObjectOnly(deserializer))
            }
        }
    )+};
}

pub(super) use object_only;
