//! Row types of the cost ledger: priced usage rows, their history and totals, and a user's bill.
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::ClaimedJob;

/// One row of the cost ledger.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct CostRecord {
    pub id: i64,
    pub task_id: Option<String>,
    pub stage: String,
    pub provider: String,
    pub model: String,
    pub api_type: String,
    pub units: f64,
    pub unit: String,
    pub amount_micros: i64,
    /// Whether the price table had a row for this provider/model (else the amount is 0).
    pub priced: bool,
    pub currency: String,
    pub job_id: Option<String>,
    pub attempt: i64,
    pub created_at: DateTime<Utc>,
}

/// Which ledger rows `cost_history` reads.
#[derive(Debug, Clone)]
pub struct CostRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub limit: i64,
    pub offset: i64,
}

/// The sum of one provider/model/unit's rows.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct CostTotal {
    pub api_type: String,
    pub provider: String,
    pub model: String,
    pub unit: String,
    pub currency: String,
    pub units: f64,
    pub amount_micros: i64,
    pub calls: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostHistory {
    pub rows: Vec<CostRecord>,
    pub total_count: i64,
    pub totals: Vec<CostTotal>,
}

/// One row of a user's bill (`GET /billing`): what the ledger billed for one of their tasks in
/// one currency, and when it last billed it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskBill {
    pub task_id: String,
    pub task_name: Option<String>,
    pub meeting_type: String,
    pub currency: String,
    pub amount_micros: i64,
    pub last_billed_at: DateTime<Utc>,
    /// The same rows per api type (`asr`, `voiceprint`, `llm`), in that name order.
    pub breakdown: Vec<BillPart>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BillPart {
    pub api_type: String,
    pub amount_micros: i64,
    pub calls: i64,
}

/// A priced usage row for the ledger, written in the same transaction as the step it bills.
#[derive(Debug, Clone)]
pub struct NewCost {
    pub provider: String,
    pub stage: &'static str,
    pub model: String,
    pub usage: crate::domain::cost::Usage,
    pub amount: crate::config::Micros,
    pub priced: bool,
    pub currency: String,
    /// The job whose completion bills this (one row per usage per job, ever).
    pub job_id: Option<String>,
    pub attempt: i64,
    pub metadata: Value,
}

impl NewCost {
    /// Prices `usage` with the configured tables; the job is filled in by `bill_to`.
    pub fn priced(
        pricing: &crate::config::PricingConfig,
        stage: &'static str,
        provider: &str,
        model: &str,
        usage: crate::domain::cost::Usage,
        metadata: Value,
    ) -> NewCost {
        let p = crate::domain::cost::price(pricing, provider, model, usage);
        NewCost {
            provider: provider.to_string(),
            stage,
            model: model.to_string(),
            usage,
            amount: p.amount,
            priced: p.priced,
            currency: pricing.currency.clone(),
            job_id: None,
            attempt: 1,
            metadata,
        }
    }

    /// Marks the row as billed by `job`'s current attempt.
    pub fn bill_to(&mut self, job: &ClaimedJob) {
        self.job_id = Some(job.id.clone());
        self.attempt = job.attempts;
    }
}
