//! `GET /v1/billing/invoices`: the caller's invoices, newest first, paged through Stripe's own
//! list (the cursor carries the last invoice id, Stripe's `starting_after`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use shared::Base;
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::pagination::{Page, PageQuery, invalid_cursor};
use shared::http::{ApiError, ApiQuery, CurrentUser};
use shared::integrations::stripe::{Invoice, StripeError};

use super::stripe_problem;
use crate::Stripe;

const LIST: &str = "invoices";
/// Stripe lists at most 100 a page.
const STRIPE_MAX: usize = 100;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvoiceView {
    id: String,
    number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    status: Option<String>,
    /// In the currency's smallest unit (cents).
    amount_due: i64,
    amount_paid: i64,
    currency: String,
    created_at: Option<String>,
    period_start: Option<String>,
    period_end: Option<String>,
    /// Stripe's page of the invoice.
    hosted_invoice_url: Option<String>,
    /// The PDF.
    invoice_pdf: Option<String>,
}

impl From<Invoice> for InvoiceView {
    fn from(invoice: Invoice) -> Self {
        use super::subscription::instant;
        InvoiceView {
            id: invoice.id,
            number: invoice.number,
            status: invoice.status,
            amount_due: invoice.amount_due,
            amount_paid: invoice.amount_paid,
            currency: invoice.currency,
            created_at: instant(invoice.created),
            period_start: instant(invoice.period_start),
            period_end: instant(invoice.period_end),
            hosted_invoice_url: invoice.hosted_invoice_url,
            invoice_pdf: invoice.invoice_pdf,
        }
    }
}

/// The caller's invoices, newest first (none before a first purchase).
#[utoipa::path(get, path = "/v1/billing/invoices", tag = "billing", params(PageQuery),
    responses(
        (status = 200, description = "A page of invoices (at most 100)", body = Page<InvoiceView>),
        (status = 502, description = "billing_provider_error: Stripe refused the request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "billing_unavailable: Stripe is unreachable", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    State(stripe): State<Stripe>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<InvoiceView>>, ApiError> {
    let page = query.page(LIST, |position| position.starts_with("in_") && position.len() < 255)?;
    let Some(customer) = app.store.billing().get_billing(&caller.user_id).await?.stripe_customer_id else {
        return Ok(Json(Page::whole(Vec::new())));
    };
    let limit = page.limit.min(STRIPE_MAX);
    let listed = stripe.api.list_invoices(&customer, limit as u32, page.after.as_deref()).await.map_err(|error| {
        match error {
            // A well-formed cursor naming no invoice of this customer's (made up, or another
            // customer's): the client's mistake, not Stripe's.
            StripeError::NotFound { .. } | StripeError::Invalid { .. } if page.after.is_some() => invalid_cursor(),
            other => stripe_problem(other),
        }
    })?;
    let last = listed.data.last().map(|invoice| invoice.id.clone());
    let next = if listed.has_more { last } else { None };
    Ok(Json(Page::new(listed.data.into_iter().map(InvoiceView::from).collect(), LIST, next.as_deref())))
}
