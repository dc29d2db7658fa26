//! Task templates under their owner's partition (`USER#<id>`, `TEMPLATE#<id>`), one item each
//! (the task and its subtasks as nested maps), and the per-user count the template limit is
//! enforced on (`TEMPLATE_COUNTS.templates`): saving adds 1 on condition `templates < limit` and
//! deleting subtracts 1, each in the template's own transaction.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::Tenant;
use super::accounts::UserItem;
use super::{Store, StoreError, WriteError, from_item, key, keys, n, to_item};
use crate::domain::plan::{Limit, LimitReached, PlanLimits};
use crate::domain::task::FieldChange;
use crate::domain::template::Template;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    #[serde(flatten)]
    pub template: Template,
}

/// A refused template write.
pub type TemplateWriteError = WriteError<Template>;

/// One page of templates, newest first.
pub struct TemplatePage {
    pub items: Vec<Template>,
    /// The id of the last template of the page, when more follow.
    pub next: Option<String>,
}

/// Task templates. Reached as `store.templates()`.
#[derive(Clone, Copy)]
pub struct Templates<'a> {
    pub(crate) store: &'a Store,
}

impl Templates<'_> {
    /// The update (for a transaction) that moves the user's template count by `delta`; with
    /// `allowed`, only while the count is under it.
    fn count_templates(self, user_id: &str, delta: i64, allowed: Option<u64>) -> Result<TransactWriteItem, StoreError> {
        self.store.count(keys::user(user_id), keys::TEMPLATE_COUNTS, "templates", delta, allowed)
    }

    /// Saves a new template, counted against the limit, with its activity entry: one transaction.
    pub async fn create_template(
        self,
        user_id: &str,
        template: &Template,
        limits: PlanLimits,
    ) -> Result<(), TemplateWriteError> {
        let item = TemplateItem {
            pk: keys::user(user_id),
            sk: keys::template(&template.id),
            entity: "template".into(),
            template: template.clone(),
        };
        let change = FieldChange {
            field: "name".into(),
            old: serde_json::Value::Null,
            new: serde_json::Value::String(template.name.clone()),
        };
        let actions = vec![
            self.store.put_new(to_item(&item)?)?,
            self.count_templates(user_id, 1, Some(limits.templates))?,
            self.store.activity().record_activity(
                &Tenant::user(user_id),
                "template",
                &template.id,
                "created",
                &[change],
            )?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(1) => {
                Err(TemplateWriteError::LimitReached(LimitReached::of(Limit::Templates, limits)))
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn get_template(self, user_id: &str, template_id: &str) -> Result<Option<Template>, StoreError> {
        let item: Option<TemplateItem> = self.store.get(keys::user(user_id), &keys::template(template_id)).await?;
        Ok(item.map(|item| item.template))
    }

    /// A template and its owner's profile (for the tier) in one BatchGetItem.
    pub async fn get_template_and_user(
        self,
        user_id: &str,
        template_id: &str,
    ) -> Result<(Option<Template>, Option<UserItem>), StoreError> {
        let keys = vec![key(keys::user(user_id), keys::template(template_id)), key(keys::user(user_id), keys::PROFILE)];
        let (mut template, mut user) = (None, None);
        for item in self.store.get_many(keys).await? {
            match item.get(keys::SK).and_then(|sk| sk.as_s().ok()).map(String::as_str) {
                Some(keys::PROFILE) => user = Some(from_item::<UserItem>(item)?),
                Some(_) => template = Some(from_item::<TemplateItem>(item)?.template),
                None => {}
            }
        }
        Ok((template, user))
    }

    /// Newest first, `limit` per page, after the template `after`: one Query (`Store::query_page`).
    pub async fn list_templates(
        self,
        user_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TemplatePage, StoreError> {
        let after = after.map(keys::template);
        let (returned, more) =
            self.store.query_page(keys::user(user_id), keys::TEMPLATE_PREFIX, after.as_deref(), limit, false).await?;
        let items = returned
            .into_iter()
            .map(|item| from_item::<TemplateItem>(item).map(|item| item.template))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if more { items.last().map(|template| template.id.clone()) } else { None };
        Ok(TemplatePage { items, next })
    }

    /// Deletes a template if it exists (and, with `expected_version`, is at that version), with
    /// the count and its activity entry in the same transaction.
    pub async fn delete_template(
        self,
        user_id: &str,
        template_id: &str,
        expected_version: Option<u64>,
    ) -> Result<(), TemplateWriteError> {
        let mut delete = Delete::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::template(template_id))))
            .expression_attribute_names("#pk", keys::PK);
        delete = match expected_version {
            Some(version) => delete
                .condition_expression("attribute_exists(#pk) AND #version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":version", n(version)),
            None => delete.condition_expression("attribute_exists(#pk)"),
        };
        let delete = delete.build().map_err(StoreError::from)?;
        let actions = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.count_templates(user_id, -1, None)?,
            self.store.activity().record_activity(&Tenant::user(user_id), "template", template_id, "deleted", &[])?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) && expected_version.is_some() => {
                match self.get_template(user_id, template_id).await? {
                    Some(current) => Err(TemplateWriteError::VersionConflict(Box::new(current))),
                    None => Err(TemplateWriteError::NotFound),
                }
            }
            Err(error) if error.failed_condition_at(0) => Err(TemplateWriteError::NotFound),
            Err(error) => Err(error.into()),
        }
    }
}
