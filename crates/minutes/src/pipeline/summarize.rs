//! Calling the model for an artifact: one call when the transcript fits the prompt budget, and
//! map-reduce when it does not — every part of the meeting is summarised (the coverage is
//! recorded), then the partial minutes are merged, so a 3-hour meeting is never truncated.
use serde_json::{json, Map, Value};

use super::prompt::{prompt_hash, render, SYSTEM_PROMPT};
use super::StageError;
use crate::app::App;
use crate::domain::artifact::{validate_content, ArtifactType};
use crate::providers::{GenerateOutput, GenerateRequest, SourceLine, TokenUsage};

/// What the model produced for one artifact, with everything needed for lineage and cost.
pub(super) struct Generated {
    pub content: Value,
    pub model: String,
    pub usage: TokenUsage,
    /// Token usage per provider and model that answered (a fallback can split a map-reduce).
    pub billed: Vec<LlmUse>,
    /// The provider of the last answer (the one that wrote the artifact).
    pub provider: String,
    pub fallback_errors: Vec<String>,
    pub prompt_hash: String,
    /// `{"strategy": "single"}` or the map-reduce coverage record.
    pub strategy: Value,
}

/// Tokens one provider's model used for an artifact.
pub(super) struct LlmUse {
    pub provider: String,
    pub model: String,
    pub usage: TokenUsage,
}

/// Adds `out`'s usage to its provider's and model's row.
fn bill(billed: &mut Vec<LlmUse>, out: &GenerateOutput) {
    match billed
        .iter_mut()
        .find(|b| b.provider == out.provider && b.model == out.model)
    {
        Some(b) => add(&mut b.usage, out.usage),
        None => billed.push(LlmUse {
            provider: out.provider.clone(),
            model: out.model.clone(),
            usage: out.usage,
        }),
    }
}

/// One transcript line (`[seg_0001] name: text`) and the segment it comes from, if any.
pub(super) struct Line {
    pub text: String,
    pub segment_id: Option<String>,
    /// The speaker's display name and the spoken text alone (for engines that read lines).
    pub speaker: String,
    pub content: String,
}

const MAP_HEADER: &str =
    "This is part {part} of {parts} of a longer meeting (segments {first} to {last}). \
Write the minutes of this part only; keep every decision and action item with its segment ids.";

const REDUCE_PROMPT: &str = "Below are partial minutes of consecutive parts of one {meeting_type} meeting, \
in order. Merge them into the {artifact_type} of the whole meeting in {output_language}: one title, \
the union of participants, a summary of the whole meeting, and every decision, action item, risk and \
open question from every part (merge duplicates, keep their segment ids).\n\n{partials}";

pub(super) async fn summarize(
    app: &App,
    template_body: &str,
    values: &Map<String, Value>,
    artifact_type: ArtifactType,
    lines: &[Line],
) -> Result<Generated, StageError> {
    let budget = app.config.llm.max_transcript_chars.max(1000);
    let total: usize = lines.iter().map(|l| l.text.chars().count() + 1).sum();
    if total <= budget || !app.llm.needs_chunking() {
        let user = render(template_body, &with_transcript(values, lines));
        let out = call(app, &user, artifact_type, values, lines).await?;
        let mut billed = Vec::new();
        bill(&mut billed, &out);
        return Ok(Generated {
            prompt_hash: prompt_hash(SYSTEM_PROMPT, &user, &artifact_type.json_schema()),
            content: out.content,
            model: out.model,
            usage: out.usage,
            billed,
            provider: out.provider,
            fallback_errors: out.fallback_errors,
            strategy: json!({"strategy": "single"}),
        });
    }
    let chunks = chunk(lines, budget);
    let mut usage = TokenUsage::default();
    let mut prompts = String::new();
    let mut partials = Vec::with_capacity(chunks.len());
    let mut ranges = Vec::with_capacity(chunks.len());
    let mut model = String::new();
    let mut billed = Vec::new();
    let mut provider = String::new();
    let mut fallback_errors = Vec::new();
    for (i, part) in chunks.iter().enumerate() {
        let ids: Vec<String> = part.iter().filter_map(|l| l.segment_id.clone()).collect();
        let (first, last) = (
            ids.first().cloned().unwrap_or_default(),
            ids.last().cloned().unwrap_or_default(),
        );
        let mut v = with_transcript(values, part);
        let header = MAP_HEADER
            .replace("{part}", &(i + 1).to_string())
            .replace("{parts}", &chunks.len().to_string())
            .replace("{first}", &first)
            .replace("{last}", &last);
        v.insert(
            "meeting_description".into(),
            json!(format!(
                "{header} {}",
                str_of(values, "meeting_description")
            )),
        );
        let user = render(template_body, &v);
        let out = call(app, &user, ArtifactType::MeetingMinutes, values, part).await?;
        // Coverage: a part whose answer is unusable fails the generation instead of being skipped.
        let partial = validate_content(ArtifactType::MeetingMinutes, &out.content, &ids)
            .map_err(|e| invalid(format!("part {} of {}: {e}", i + 1, chunks.len())))?;
        add(&mut usage, out.usage);
        bill(&mut billed, &out);
        fallback_errors.extend(out.fallback_errors);
        prompts.push_str(&user);
        model = out.model;
        partials.push(partial.content);
        ranges.push(json!([first, last]));
    }
    let mut rounds = 0;
    // Merge in groups that fit the budget until one answer remains.
    while partials.len() > 1 || rounds == 0 {
        rounds += 1;
        let mut merged = Vec::new();
        for group in group_by_budget(&partials, budget) {
            let target = if partials.len() <= group.len() {
                artifact_type
            } else {
                ArtifactType::MeetingMinutes
            };
            let mut v = values.clone();
            v.insert("artifact_type".into(), json!(target.as_str()));
            v.insert(
                "partials".into(),
                json!(group
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("\n\n")),
            );
            let user = render(REDUCE_PROMPT, &v);
            let out = call(app, &user, target, values, &[]).await?;
            add(&mut usage, out.usage);
            bill(&mut billed, &out);
            fallback_errors.extend(out.fallback_errors);
            prompts.push_str(&user);
            model = out.model;
            provider = out.provider;
            merged.push(out.content);
        }
        partials = merged;
        if rounds > 8 {
            return Err(invalid("the partial minutes do not converge".into()));
        }
    }
    Ok(Generated {
        content: partials.remove(0),
        model,
        usage,
        billed,
        provider,
        fallback_errors,
        prompt_hash: prompt_hash(SYSTEM_PROMPT, &prompts, &artifact_type.json_schema()),
        strategy: json!({"strategy": "map_reduce", "chunks": chunks.len(), "chunk_ranges": ranges,
                         "reduce_rounds": rounds, "budget_chars": budget}),
    })
}

/// One model call; `lines` are the transcript lines `user` was rendered from (none when merging).
async fn call(
    app: &App,
    user: &str,
    artifact_type: ArtifactType,
    values: &Map<String, Value>,
    lines: &[Line],
) -> Result<GenerateOutput, StageError> {
    let known = |key| Some(str_of(values, key).to_string()).filter(|v| !v.is_empty());
    let request = GenerateRequest {
        system: SYSTEM_PROMPT.to_string(),
        user: user.to_string(),
        schema_name: artifact_type.as_str().to_string(),
        schema: artifact_type.json_schema(),
        transcript: lines
            .iter()
            .map(|l| SourceLine {
                segment_id: l.segment_id.clone(),
                speaker: l.speaker.clone(),
                text: l.content.clone(),
            })
            .collect(),
        output_language: known("output_language"),
        meeting_type: known("meeting_type"),
    };
    app.llm
        .generate(&request)
        .await
        .map_err(|e| StageError::provider("llm", &e))
}

pub(super) fn invalid(detail: String) -> StageError {
    StageError {
        code: "summary_invalid".into(),
        message:
            "the language model's answer did not match the artifact schema; no version was created"
                .into(),
        detail,
        retryable: true,
        retry_after: None,
    }
}

fn with_transcript(values: &Map<String, Value>, lines: &[Line]) -> Map<String, Value> {
    let mut v = values.clone();
    v.insert(
        "transcript".into(),
        json!(lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")),
    );
    v
}

fn str_of<'a>(values: &'a Map<String, Value>, key: &str) -> &'a str {
    values.get(key).and_then(Value::as_str).unwrap_or("")
}

fn add(total: &mut TokenUsage, more: TokenUsage) {
    total.prompt_tokens += more.prompt_tokens;
    total.completion_tokens += more.completion_tokens;
}

/// Consecutive lines in chunks of at most `budget` characters (a longer single line is its own chunk).
fn chunk(lines: &[Line], budget: usize) -> Vec<&[Line]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, l) in lines.iter().enumerate() {
        let len = l.text.chars().count() + 1;
        if size + len > budget && i > start {
            out.push(&lines[start..i]);
            start = i;
            size = 0;
        }
        size += len;
    }
    if start < lines.len() {
        out.push(&lines[start..]);
    }
    out
}

/// Groups partial answers so each merge prompt stays within the budget (at least two per group,
/// so every round shrinks the list).
fn group_by_budget(partials: &[Value], budget: usize) -> Vec<Vec<Value>> {
    let mut groups: Vec<Vec<Value>> = Vec::new();
    let mut size = 0;
    for p in partials {
        let len = p.to_string().chars().count();
        match groups.last_mut() {
            Some(g) if g.len() < 2 || size + len <= budget => {
                g.push(p.clone());
                size += len;
            }
            _ => {
                groups.push(vec![p.clone()]);
                size = len;
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize, len: usize) -> Line {
        Line {
            text: "x".repeat(len),
            segment_id: Some(format!("seg_{i:04}")),
            speaker: String::new(),
            content: String::new(),
        }
    }

    #[test]
    fn chunks_cover_every_line_in_order_within_budget() {
        let lines: Vec<Line> = (0..50).map(|i| line(i, 30)).collect();
        let chunks = chunk(&lines, 200);
        let flat: Vec<&str> = chunks
            .iter()
            .flat_map(|c| c.iter().map(|l| l.segment_id.as_deref().unwrap()))
            .collect();
        assert_eq!(flat.len(), 50);
        assert_eq!(flat[0], "seg_0000");
        assert_eq!(flat[49], "seg_0049");
        assert!(chunks
            .iter()
            .all(|c| c.iter().map(|l| l.text.len() + 1).sum::<usize>() <= 200));
        let long = vec![line(0, 500), line(1, 10)];
        assert_eq!(chunk(&long, 200).len(), 2);
    }

    #[test]
    fn merge_groups_always_shrink() {
        let partials: Vec<Value> = (0..7).map(|i| json!({"n": "y".repeat(100 + i)})).collect();
        let groups = group_by_budget(&partials, 10);
        assert!(groups.len() < partials.len());
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 7);
    }
}
