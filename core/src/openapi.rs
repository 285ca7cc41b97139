//! Schemas for the two wire shapes utoipa's derive describes in a way client generators refuse.
//!
//! serde writes an internally tagged newtype variant (`{"kind": "…", …the inner struct's
//! fields}`) and a struct that flattens a tagged enum (`{"id": …, "kind": "…", "data": …}`) as
//! one flat object. utoipa derives an `allOf` of the parts for both: valid, but
//! openapi-python-client takes neither a union member that is an `allOf` nor an `allOf` over a
//! union, and drops the schema with every model that uses it (`MessageView`, `MessagePage`,
//! `NotificationPage`). These helpers build the flat objects serde writes from the derived
//! schemas of the parts, so the description still follows the types.
//!
//! Inline variants cannot carry an OpenAPI `discriminator` (its mapping names schemas), and
//! utoipa only writes one for untagged enums of references; a tag with a single-value `enum` in
//! each variant is what tells them apart.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};

/// The variant of an internally tagged enum whose data is `schema` (an object), as serde writes
/// it: `schema` with the required property `tag`, whose only value is `value`.
pub(crate) fn tagged(schema: RefOr<Schema>, tag: &str, value: &str) -> RefOr<Schema> {
    let tag_schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]));
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.properties.insert(tag.to_owned(), tag_schema.into());
            object.required.push(tag.to_owned());
            RefOr::T(Schema::Object(object))
        }
        // Anything but an inline object (a reference, say): the shape utoipa derives, valid
        // if less welcome to generators. The tests of the types described here pin the flat
        // shape, so this is never what is served.
        other => AllOfBuilder::new()
            .item(other)
            .item(ObjectBuilder::new().property(tag, tag_schema).required(tag))
            .into(),
    }
}

/// The schema of a struct that flattens the tagged enum `union` beside its own `fields` (an
/// object): each variant becomes one object that has the struct's fields too. The struct's
/// description is `fields`' own.
pub(crate) fn flattened(union: RefOr<Schema>, fields: RefOr<Schema>) -> RefOr<Schema> {
    match (union, fields) {
        (RefOr::T(Schema::OneOf(mut one_of)), RefOr::T(Schema::Object(fields)))
            if one_of.items.iter().all(is_inline_object) =>
        {
            for item in &mut one_of.items {
                if let RefOr::T(Schema::Object(variant)) = item {
                    for (name, schema) in &fields.properties {
                        variant.properties.insert(name.clone(), schema.clone());
                    }
                    variant.required.extend(fields.required.iter().cloned());
                }
            }
            one_of.description = fields.description;
            RefOr::T(Schema::OneOf(one_of))
        }
        // As in `tagged`: utoipa's own shape for anything else.
        (union, fields) => AllOfBuilder::new().item(union).item(fields).into(),
    }
}

fn is_inline_object(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(_)))
}

/// Checks for the tests of the hand-described types: that a value as serde writes it is one of
/// the schema's flat variants.
#[cfg(test)]
pub(crate) mod check {
    #![allow(clippy::unwrap_used)]

    use serde_json::Value;

    /// The variant of the `oneOf` in `schema` whose `tag` is `wire`'s, after checking that every
    /// variant is a plain object (no `allOf`, no reference) and that `wire` has each required
    /// field and no field the variant does not describe.
    pub(crate) fn variant_for(schema: &Value, tag: &str, wire: &Value) -> Value {
        let variants = schema["oneOf"].as_array().expect("a oneOf");
        for variant in variants {
            assert_eq!(variant["type"], "object", "a plain object: {variant}");
        }
        let value = &wire[tag];
        let variant = variants
            .iter()
            .find(|variant| variant["properties"][tag]["enum"] == Value::Array(vec![value.clone()]))
            .unwrap_or_else(|| panic!("a variant for {tag} = {value}: {schema}"));
        let wire = wire.as_object().unwrap();
        for required in variant["required"].as_array().unwrap() {
            assert!(
                wire.contains_key(required.as_str().unwrap()),
                "{required} is sent: {wire:?}"
            );
        }
        for key in wire.keys() {
            assert!(
                variant["properties"].get(key).is_some(),
                "{key} is described: {variant}"
            );
        }
        variant.clone()
    }
}
