//! The OpenAPI 3.1 document of the whole API, generated from the code: each function's
//! `ApiDoc` (its handlers' `#[utoipa::path]` and their types' schemas), merged in registry order,
//! with what the route tables know added: the `Idempotency-Key` header on the routes that take it,
//! and `additionalProperties: false` on every request body, since unknown names are refused.
//!
//! `make openapi` writes it to docs/openapi.json, which api-auth serves at `GET /v1/openapi.json`;
//! a test fails when the file is not what the code generates.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use utoipa::Modify;
use utoipa::openapi::{InfoBuilder, OpenApiBuilder};

use crate::functions::HTTP_FUNCTIONS;

/// Where the document is kept, relative to the workspace root.
pub const DOCUMENT_PATH: &str = "docs/openapi.json";

pub fn document() -> Value {
    let info = InfoBuilder::new()
        .title("Flowday API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The HTTP API of Flowday's backend. Conventions (errors, paging, ETags, idempotency): docs/api.md.",
        ))
        .build();
    let mut document = OpenApiBuilder::new().info(info).build();
    let mut seen = std::collections::BTreeMap::new();
    for function in HTTP_FUNCTIONS {
        let part = (function.openapi)();
        refuse_schema_clashes(&mut seen, function.binary, &part);
        document.merge(part);
    }
    shared::http::openapi::Security.modify(&mut document);
    let mut document = serde_json::to_value(&document).expect("the document serialises");
    add_idempotency_keys(&mut document);
    close_request_bodies(&mut document);
    name_operations(&mut document);
    document
}

/// Merging keeps the first schema of a name: two functions' different types of one name would
/// describe one of them wrongly (the contract test found api-billing's and api-planning's
/// `PlanView`). Such a clash fails the document's generation, naming both.
fn refuse_schema_clashes(
    seen: &mut std::collections::BTreeMap<String, (&'static str, Value)>,
    binary: &'static str,
    part: &utoipa::openapi::OpenApi,
) {
    let Some(components) = &part.components else { return };
    for (name, schema) in &components.schemas {
        let schema = serde_json::to_value(schema).expect("a schema serialises");
        match seen.get(name) {
            Some((owner, known)) if *known != schema => {
                panic!("schema {name} of {binary} differs from {owner}'s schema of the same name: rename one")
            }
            Some(_) => {}
            None => {
                seen.insert(name.clone(), (binary, schema));
            }
        }
    }
}

/// Operation ids from method and path (`postV1NotificationsIdRead`): unique across functions,
/// whose handlers share names such as `list` and `delete`.
fn name_operations(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for (path, item) in paths.iter_mut() {
        for (method, operation) in item.as_object_mut().into_iter().flat_map(|item| item.iter_mut()) {
            let mut id = method.clone();
            for word in path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|word| !word.is_empty()) {
                let mut chars = word.chars();
                id.extend(chars.next().map(|first| first.to_ascii_uppercase()));
                id.extend(chars);
            }
            operation["operationId"] = json!(id);
        }
    }
}

/// The document as written to docs/openapi.json (pretty, with a final newline).
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).expect("the document serialises");
    text.push('\n');
    text
}

fn add_idempotency_keys(document: &mut Value) {
    let header = json!({
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "A repeat with the same key and body replays the first answer (keys live 24 hours)",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255}
    });
    for function in HTTP_FUNCTIONS {
        for route in (function.paths)().into_iter().filter(|route| route.idempotent) {
            let mut header = header.clone();
            header["required"] = json!(route.key_required);
            let method = route.method.as_str().to_ascii_lowercase();
            let operation = document.get_mut("paths").and_then(|paths| paths.get_mut(route.path));
            if let Some(operation) = operation.and_then(|item| item.get_mut(&method)) {
                let parameters = operation.as_object_mut().expect("an operation is an object");
                let list = parameters.entry("parameters").or_insert_with(|| json!([]));
                list.as_array_mut().expect("parameters are a list").push(header);
            }
        }
    }
}

/// Request bodies refuse names they do not know. A schema only requests use is closed
/// (`additionalProperties: false`, nested objects too); one that answers use as well gets a closed
/// copy, `<Name>Input`, which the requests refer to instead.
fn close_request_bodies(document: &mut Value) {
    merge_all_of(document);
    let requests = reachable(document, "requestBody");
    let answers = reachable(document, "responses");
    let shared: BTreeSet<String> = requests.intersection(&answers).cloned().collect();
    let schemas = document["components"]["schemas"].as_object_mut().expect("component schemas");
    for name in &requests {
        let Some(schema) = schemas.get(name) else { continue };
        let mut closed = schema.clone();
        close(&mut closed);
        rename_refs(&mut closed, &shared);
        let target = if shared.contains(name) { format!("{name}Input") } else { name.clone() };
        schemas.insert(target, closed);
    }
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for operation in
        paths.values_mut().flat_map(|item| item.as_object_mut().into_iter().flat_map(|item| item.values_mut()))
    {
        if let Some(body) = operation.get_mut("requestBody") {
            rename_refs(body, &shared);
            let content = body.get_mut("content").and_then(Value::as_object_mut);
            for media in content.into_iter().flat_map(|content| content.values_mut()) {
                media.get_mut("schema").into_iter().for_each(close);
            }
        }
    }
}

/// Every component schema reachable from the operations' `part` (`requestBody` or `responses`).
fn reachable(document: &Value, part: &str) -> BTreeSet<String> {
    let mut pending = Vec::new();
    for item in document["paths"].as_object().into_iter().flat_map(|paths| paths.values()) {
        for operation in item.as_object().into_iter().flat_map(|item| item.values()) {
            collect_refs(&operation[part], &mut pending);
        }
    }
    let mut found = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if found.insert(name.clone()) {
            collect_refs(&document["components"]["schemas"][&name], &mut pending);
        }
    }
    found
}

fn rename_refs(value: &mut Value, shared: &BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(name) = reference.strip_prefix("#/components/schemas/")
                && shared.contains(name)
            {
                *reference = format!("#/components/schemas/{name}Input");
            }
            object.values_mut().for_each(|inner| rename_refs(inner, shared));
        }
        Value::Array(items) => items.iter_mut().for_each(|inner| rename_refs(inner, shared)),
        _ => {}
    }
}

/// A flattened struct comes out as `allOf` of objects; one object with every property says the
/// same, and can be closed (and generated from) as a whole.
fn merge_all_of(document: &mut Value) {
    let schemas = document["components"]["schemas"].clone();
    let mut merge = |schema: &mut Value| merge_one(schema, &schemas);
    if let Some(components) = document["components"]["schemas"].as_object_mut() {
        components.values_mut().for_each(&mut merge);
    }
    for item in document["paths"].as_object_mut().into_iter().flat_map(|paths| paths.values_mut()) {
        for operation in item.as_object_mut().into_iter().flat_map(|item| item.values_mut()) {
            let content = operation.get_mut("requestBody").and_then(|body| body.get_mut("content"));
            for media in content.and_then(Value::as_object_mut).into_iter().flat_map(|content| content.values_mut()) {
                media.get_mut("schema").into_iter().for_each(&mut merge);
            }
        }
    }
}

fn merge_one(schema: &mut Value, schemas: &Value) {
    let Some(parts) = schema.get("allOf").and_then(Value::as_array).cloned() else { return };
    let mut properties = serde_json::Map::new();
    let mut required: Vec<Value> = Vec::new();
    for part in parts {
        let part = match part["$ref"].as_str().and_then(|reference| reference.strip_prefix("#/components/schemas/")) {
            Some(name) => schemas[name].clone(),
            None => part,
        };
        if part.get("allOf").is_some() || part["type"] != "object" {
            return; // Not a plain object: left as it is.
        }
        properties.extend(part["properties"].as_object().cloned().unwrap_or_default());
        required.extend(part["required"].as_array().cloned().unwrap_or_default());
    }
    let description = schema.get("description").cloned();
    *schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    if let Some(description) = description {
        schema["description"] = description;
    }
}

fn close(schema: &mut Value) {
    if let Some(object) = schema.as_object_mut() {
        if object.get("type") == Some(&json!("object")) && !object.contains_key("additionalProperties") {
            object.insert("additionalProperties".into(), json!(false));
        }
        if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
            properties.values_mut().for_each(close);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = object.get_mut(key).and_then(Value::as_array_mut) {
                options.iter_mut().for_each(close);
            }
        }
    }
}

fn collect_refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref")
                && let Some(name) = reference.strip_prefix("#/components/schemas/")
            {
                found.push(name.to_string());
            }
            object.values().for_each(|inner| collect_refs(inner, found));
        }
        Value::Array(items) => items.iter().for_each(|inner| collect_refs(inner, found)),
        _ => {}
    }
}
