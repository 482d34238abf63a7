//! Custom field events: `custom_field.created`, `custom_field.updated`, `custom_field.deleted`.

use serde::{Deserialize, Serialize};

use super::open_enum;

/// A custom field, as all three `custom_field.*` events carry it.
///
/// The current docs give all three the full field set; the legacy docs sent
/// only `id` for `updated` and `deleted`, so every field but `id` is optional.
/// The keys mix camelCase and snake_case exactly as Qase sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CustomField {
    /// The custom field id.
    pub id: u64,
    /// The custom field title.
    #[serde(default)]
    pub title: Option<String>,
    /// Whether the field must be filled on the case create/update page.
    #[serde(default, rename = "isRequired")]
    pub is_required: Option<bool>,
    /// Whether the field is shown in filters.
    #[serde(default, rename = "isFilterable")]
    pub is_filterable: Option<bool>,
    /// Whether the field is visible in preview and on the case page.
    #[serde(default, rename = "isVisible")]
    pub is_visible: Option<bool>,
    /// The default value, as a string.
    #[serde(default)]
    pub default_value: Option<String>,
    /// The options of a selectbox, JSON-encoded in a string (`"[]"`).
    #[serde(default)]
    pub value: Option<String>,
    /// The field type.
    #[serde(default, rename = "type")]
    pub field_type: Option<CustomFieldType>,
    /// What the field belongs to.
    #[serde(default)]
    pub entity: Option<CustomFieldEntity>,
}

open_enum! {
    /// A custom field's type.
    CustomFieldType {
        /// `number`
        Number => "number",
        /// `string`
        String => "string",
        /// `text`
        Text => "text",
        /// `selectbox`
        Selectbox => "selectbox",
        /// `checkbox`
        Checkbox => "checkbox",
    }
}

open_enum! {
    /// What a custom field belongs to.
    CustomFieldEntity {
        /// `case`
        Case => "case",
        /// `defect`
        Defect => "defect",
        /// `run`
        Run => "run",
    }
}
