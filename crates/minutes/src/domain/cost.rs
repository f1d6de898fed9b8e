//! Pricing provider usage and estimating a meeting before it runs. Pure functions over the
//! price tables (`config/pricing.rs`); amounts are integer micros, rounded half up once per
//! ledger row.
use serde::Serialize;

use crate::config::{Micros, PricingConfig};

/// What one provider call (or one step's calls) consumed, in the unit the provider bills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Usage {
    AudioSeconds(f64),
    Calls(u64),
    Tokens { input: u64, output: u64 },
}

impl Usage {
    /// The ledger's `api_type` column.
    pub fn api_type(self) -> &'static str {
        match self {
            Usage::AudioSeconds(_) => "asr",
            Usage::Calls(_) => "voiceprint",
            Usage::Tokens { .. } => "llm",
        }
    }

    pub fn units(self) -> f64 {
        match self {
            Usage::AudioSeconds(s) => s,
            Usage::Calls(n) => n as f64,
            Usage::Tokens { input, output } => (input + output) as f64,
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Usage::AudioSeconds(_) => "second",
            Usage::Calls(_) => "call",
            Usage::Tokens { .. } => "token",
        }
    }
}

/// An amount and whether the price table had a row for it (`false` = counted as 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Priced {
    pub amount: Micros,
    pub priced: bool,
}

fn div_round(numerator: i128, denominator: i128) -> i64 {
    ((numerator + denominator / 2) / denominator) as i64
}

/// What `usage` of `provider`'s `model` costs under `pricing`.
pub fn price(pricing: &PricingConfig, provider: &str, model: &str, usage: Usage) -> Priced {
    let found = match usage {
        Usage::AudioSeconds(secs) => pricing.asr(provider).map(|p| {
            // Milliseconds keep sub-second audio billable without a float amount.
            let ms = (secs.max(0.0) * 1000.0).round() as i128;
            div_round(ms * i128::from(p.0), 1000)
        }),
        Usage::Calls(n) => pricing
            .voiceprint(provider)
            .map(|p| (i128::from(n) * i128::from(p.0)) as i64),
        Usage::Tokens { input, output } => pricing.llm(provider, model).map(|p| {
            div_round(
                i128::from(input) * i128::from(p.input_per_1k.0)
                    + i128::from(output) * i128::from(p.output_per_1k.0),
                1000,
            )
        }),
    };
    Priced {
        amount: Micros(found.unwrap_or(0)),
        priced: found.is_some(),
    }
}

/// The engines a task would run through, as configured now.
#[derive(Debug, Clone)]
pub struct Plan {
    pub asr_provider: String,
    /// `None` when identification does not run.
    pub voiceprint_provider: Option<String>,
    /// Voiceprint calls per speaker (samples per label).
    pub calls_per_speaker: u64,
    pub llm_provider: String,
    pub llm_model: String,
    /// Artifacts generated automatically per task.
    pub artifacts: u64,
}

/// One stage's share of an estimate or of the actual bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageCost {
    pub stage: &'static str,
    pub api_type: &'static str,
    pub provider: String,
    pub model: String,
    pub units: f64,
    pub unit: &'static str,
    pub amount: Micros,
    pub priced: bool,
}

/// What a meeting of `audio_seconds` would cost: one row per billed stage.
pub fn estimate(pricing: &PricingConfig, plan: &Plan, audio_seconds: f64) -> Vec<StageCost> {
    let a = &pricing.estimate;
    let mut rows = Vec::new();
    let mut row = |stage, provider: &str, model: &str, usage: Usage| {
        let p = price(pricing, provider, model, usage);
        rows.push(StageCost {
            stage,
            api_type: usage.api_type(),
            provider: provider.to_string(),
            model: model.to_string(),
            units: usage.units(),
            unit: usage.unit(),
            amount: p.amount,
            priced: p.priced,
        });
    };
    row(
        "transcribe",
        &plan.asr_provider,
        "",
        Usage::AudioSeconds(audio_seconds),
    );
    if let Some(provider) = &plan.voiceprint_provider {
        row(
            "identify_speakers",
            provider,
            "",
            Usage::Calls(a.speakers * plan.calls_per_speaker),
        );
    }
    let transcript_tokens =
        (audio_seconds.max(0.0) * a.input_tokens_per_audio_second as f64).ceil();
    row(
        "generate_artifact",
        &plan.llm_provider,
        &plan.llm_model,
        Usage::Tokens {
            input: plan.artifacts * (transcript_tokens as u64 + a.prompt_overhead_tokens),
            output: plan.artifacts * a.output_tokens_per_artifact,
        },
    );
    rows
}

/// The sum of the rows' amounts.
pub fn total(rows: &[StageCost]) -> Micros {
    Micros(rows.iter().map(|r| r.amount.0).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn pricing() -> PricingConfig {
        Config::load(None).expect("defaults load").pricing
    }

    #[test]
    fn each_usage_is_priced_from_its_table_and_rounded_half_up_once() {
        let p = pricing();
        // 0.00005/s × 3600 s = 0.18
        let asr = price(&p, "volcano", "", Usage::AudioSeconds(3600.0));
        assert_eq!(
            asr,
            Priced {
                amount: Micros(180_000),
                priced: true
            }
        );
        // 0.00005/s × 0.0101 s = 0.000000505 → 0.5 micros rounds up to 1
        assert_eq!(
            price(&p, "volcano", "", Usage::AudioSeconds(0.0101)).amount,
            Micros(1)
        );
        assert_eq!(
            price(&p, "iflytek", "", Usage::Calls(9)).amount,
            Micros(18_000)
        );
        // (2000 × 0.0035 + 500 × 0.0105) / 1000 = 0.01225
        let llm = price(
            &p,
            "gemini",
            "gemini-2.5-flash",
            Usage::Tokens {
                input: 2000,
                output: 500,
            },
        );
        assert_eq!(llm.amount, Micros(12_250));
        let unknown = price(&p, "someone-else", "", Usage::AudioSeconds(60.0));
        assert_eq!(
            unknown,
            Priced {
                amount: Micros(0),
                priced: false
            }
        );
    }

    #[test]
    fn a_model_row_wins_over_its_providers_row() {
        let mut p = pricing();
        p.llm.insert(
            "gemini/gemini-2.5-pro".into(),
            crate::config::TokenPrice {
                input_per_1k: Micros(10_000),
                output_per_1k: Micros(40_000),
            },
        );
        let pro = price(
            &p,
            "gemini",
            "gemini-2.5-pro",
            Usage::Tokens {
                input: 1000,
                output: 1000,
            },
        );
        assert_eq!(pro.amount, Micros(50_000));
        let flash = price(
            &p,
            "gemini",
            "gemini-2.5-flash",
            Usage::Tokens {
                input: 1000,
                output: 1000,
            },
        );
        assert_eq!(flash.amount, Micros(14_000));
    }

    #[test]
    fn an_estimate_has_a_row_per_billed_stage_and_sums_exactly() {
        let p = pricing();
        let plan = Plan {
            asr_provider: "volcano".into(),
            voiceprint_provider: Some("iflytek".into()),
            calls_per_speaker: 3,
            llm_provider: "gemini".into(),
            llm_model: "gemini-2.5-flash".into(),
            artifacts: 1,
        };
        let rows = estimate(&p, &plan, 600.0);
        let stages: Vec<_> = rows.iter().map(|r| r.stage).collect();
        assert_eq!(
            stages,
            ["transcribe", "identify_speakers", "generate_artifact"]
        );
        assert_eq!(rows[0].amount, Micros(30_000)); // 600 s × 0.00005
        assert_eq!(rows[1].amount, Micros(18_000)); // 3 speakers × 3 calls × 0.002
                                                    // input 600 × 10 + 1500 = 7500 tokens × 0.0035/1K; output 1500 × 0.0105/1K
        assert_eq!(rows[2].amount, Micros(26_250 + 15_750));
        assert_eq!(total(&rows), Micros(90_000));
        let without = Plan {
            voiceprint_provider: None,
            ..plan
        };
        assert_eq!(estimate(&p, &without, 600.0).len(), 2);
    }
}
