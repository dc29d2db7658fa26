//! One UpdateItem built from parts (SET, ADD, REMOVE, DELETE and conditions), so a write can be
//! composed step by step: a task's fields, then its subtask counts, then the condition that guards
//! them. Placeholder names are generated; conditions name their own placeholders.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::{Item, StoreError};

#[derive(Debug, Default, Clone)]
pub struct ItemUpdate {
    sets: Vec<String>,
    adds: Vec<String>,
    removes: Vec<String>,
    deletes: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl ItemUpdate {
    pub fn new() -> Self {
        Self::default()
    }

    fn placeholders(&mut self, attribute: &str, value: Option<AttributeValue>) -> (String, String) {
        let index = self.names.len();
        let name = format!("#u{index}");
        self.names.insert(name.clone(), attribute.to_string());
        let placeholder = format!(":u{index}");
        if let Some(value) = value {
            self.values.insert(placeholder.clone(), value);
        }
        (name, placeholder)
    }

    pub fn set(mut self, attribute: &str, value: AttributeValue) -> Self {
        let (name, placeholder) = self.placeholders(attribute, Some(value));
        self.sets.push(format!("{name} = {placeholder}"));
        self
    }

    /// A SET clause written out (`name = list_append(...)`), with its own value placeholders;
    /// attribute names in it are plain (not reserved words).
    pub fn set_expression(
        mut self,
        expression: &str,
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        self.sets.push(expression.to_string());
        self.values.extend(values.into_iter().map(|(name, value)| (name.to_string(), value)));
        self
    }

    /// Adds to a number, or adds members to a set; a missing attribute starts from zero / empty.
    pub fn add(mut self, attribute: &str, value: AttributeValue) -> Self {
        let (name, placeholder) = self.placeholders(attribute, Some(value));
        self.adds.push(format!("{name} {placeholder}"));
        self
    }

    /// Adds `delta` to a counter on condition that the sum stays within `limit` (a missing
    /// counter is zero): the one shape of every limit enforced in the table.
    pub fn add_within(mut self, attribute: &str, delta: i64, limit: u64) -> Self {
        let (name, placeholder) = self.placeholders(attribute, Some(super::n(delta)));
        self.adds.push(format!("{name} {placeholder}"));
        let room = format!("{placeholder}_room");
        self.values.insert(room.clone(), super::n(i64::try_from(limit).unwrap_or(i64::MAX) - delta));
        self.conditions.push(format!("(attribute_not_exists({name}) OR {name} <= {room})"));
        self
    }

    /// Takes members out of a set.
    pub fn delete_members(mut self, attribute: &str, members: AttributeValue) -> Self {
        let (name, placeholder) = self.placeholders(attribute, Some(members));
        self.deletes.push(format!("{name} {placeholder}"));
        self
    }

    pub fn remove(mut self, attribute: &str) -> Self {
        let (name, _) = self.placeholders(attribute, None);
        self.removes.push(name);
        self
    }

    /// Adds a condition (ANDed with the others). `names` and `values` are its own placeholders.
    pub fn condition(
        mut self,
        expression: &str,
        names: &[(&str, &str)],
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        self.conditions.push(format!("({expression})"));
        self.names.extend(names.iter().map(|(name, attribute)| (name.to_string(), attribute.to_string())));
        self.values.extend(values.into_iter().map(|(name, value)| (name.to_string(), value)));
        self
    }

    fn expression(&self) -> String {
        let mut clauses = Vec::new();
        for (keyword, parts) in
            [("SET", &self.sets), ("ADD", &self.adds), ("REMOVE", &self.removes), ("DELETE", &self.deletes)]
        {
            if !parts.is_empty() {
                clauses.push(format!("{keyword} {}", parts.join(", ")));
            }
        }
        clauses.join(" ")
    }

    /// Runs the update alone (one UpdateItem): the item as it was before, or `None` when a
    /// condition did not hold.
    pub(crate) async fn apply(self, store: &super::Store, key: Item) -> Result<Option<Item>, StoreError> {
        let mut update = store
            .client
            .update_item()
            .table_name(&store.table)
            .set_key(Some(key))
            .update_expression(self.expression())
            .set_expression_attribute_names(Some(self.names))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld);
        if !self.values.is_empty() {
            update = update.set_expression_attribute_values(Some(self.values));
        }
        if !self.conditions.is_empty() {
            update = update.condition_expression(self.conditions.join(" AND "));
        }
        match update.send().await {
            Ok(output) => Ok(Some(output.attributes.unwrap_or_default())),
            Err(error)
                if error.as_service_error().is_some_and(|service| service.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(super::dynamo_error(error)),
        }
    }

    /// The update as an action of a transaction.
    pub fn into_action(self, table: &str, key: Item) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.expression())
            .set_expression_attribute_names(Some(self.names));
        if !self.values.is_empty() {
            update = update.set_expression_attribute_values(Some(self.values));
        }
        if !self.conditions.is_empty() {
            update = update.condition_expression(self.conditions.join(" AND "));
        }
        let update = update.build().map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_join_into_one_expression_with_distinct_placeholders() {
        let update = ItemUpdate::new()
            .set("title", AttributeValue::S("a".into()))
            .add("open_subtasks", AttributeValue::N("-1".into()))
            .remove("ttl")
            .condition("#v = :v", &[("#v", "version")], [(":v", AttributeValue::N("3".into()))]);
        assert_eq!(update.expression(), "SET #u0 = :u0 ADD #u1 :u1 REMOVE #u2");
        assert_eq!(update.names["#u2"], "ttl");
        assert_eq!(update.names["#v"], "version");
        assert_eq!(update.conditions, ["(#v = :v)"]);
    }

    #[test]
    fn a_bounded_add_leaves_room_for_its_own_delta() {
        let update = ItemUpdate::new().add_within("bytes", 300, 1000);
        assert_eq!(update.expression(), "ADD #u0 :u0");
        assert_eq!(update.values[":u0_room"], AttributeValue::N("700".into()));
        assert_eq!(update.conditions, ["(attribute_not_exists(#u0) OR #u0 <= :u0_room)"]);
    }
}
