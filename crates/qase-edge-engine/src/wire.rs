//! Serde helpers for the JSON the Worker writes and its clients read back
//! (`qase-hook`, through [`crate::api::answers`]): shared by the types of
//! every capability that appear in an answer.

use serde::{Deserialize, Deserializer};

/// Reads an `Option` field that the answer always carries (as `null` when
/// empty): without it serde would read a missing field as `None`, and a
/// renamed field would pass unnoticed.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}
