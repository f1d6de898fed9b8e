//! `GET /billing`: the original frontend's billing page, from the cost ledger. One consumption
//! row per task of the caller that the ledger billed; there are no top-ups in this product, so
//! there are no `recharge` rows.
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiResult;
use super::extract::{page, Json, Query};
use super::views::ts;
use super::AppState;
use crate::config::Micros;
use crate::store::TaskBill;

/// Most rows one page holds.
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize)]
pub struct BillingQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// A charge as the user's balance sees it: negative. The frontend reads `amount` as a number of
/// currency units (4 decimals, display only); `amount_micros` is exact.
fn charge(micros: i64) -> (f64, i64) {
    // `+ 0.0` turns the -0.0 of an unpriced (free) task into 0.
    (-Micros(micros).display_units() + 0.0, -micros)
}

fn item(bill: &TaskBill, currency: &str) -> Value {
    // One row per task; rows priced in an older price table's currency get their own id.
    let id = if bill.currency == currency {
        format!("bill_{}", bill.task_id)
    } else {
        format!("bill_{}_{}", bill.task_id, bill.currency)
    };
    let (amount, amount_micros) = charge(bill.amount_micros);
    let breakdown: Vec<Value> = bill
        .breakdown
        .iter()
        .map(|p| {
            let (amount, amount_micros) = charge(p.amount_micros);
            json!({"api_type": p.api_type, "amount": amount, "amount_micros": amount_micros, "calls": p.calls})
        })
        .collect();
    json!({
        "id": id,
        "type": "consumption",
        "amount": amount,
        "amount_micros": amount_micros,
        "currency": bill.currency,
        "created_at": ts(&bill.last_billed_at),
        "remark": bill.task_name.clone().unwrap_or_else(|| bill.meeting_type.clone()),
        "task_id": bill.task_id,
        "breakdown": breakdown,
    })
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<BillingQuery>,
) -> ApiResult<Json<Value>> {
    let (limit, offset) = page(q.limit, q.offset);
    let limit = limit.min(MAX_LIMIT);
    let bills = app.store.task_bills(&caller.owner(), limit, offset).await?;
    let currency = &app.config.pricing.currency;
    Ok(Json(json!({
        "items": bills.iter().map(|b| item(b, currency)).collect::<Vec<_>>(),
        "currency": currency,
        "limit": limit,
        "offset": offset,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_negative_and_free_tasks_are_zero() {
        assert_eq!(charge(30_875), (-0.0309, -30_875));
        let (free, micros) = charge(0);
        assert_eq!(micros, 0);
        assert!(free == 0.0 && free.is_sign_positive(), "{free}");
    }
}
