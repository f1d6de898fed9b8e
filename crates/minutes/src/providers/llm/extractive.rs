//! `llm.provider = local`: a deterministic offline minutes writer. It writes no new prose: it
//! picks sentences from the transcript (TextRank over content words, jieba for Chinese), finds
//! decisions, action items (owner, task, due), risks and open questions with rules in English
//! and Chinese, and fills the same JSON schemas as the LLM path, citing the segments it used.
mod due;
mod lexicon;
mod rank;
mod rules;
mod sentences;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde_json::Value;

use crate::domain::artifact::{
    ActionItem, ActionItems, ArtifactType, Decision, MeetingMinutes, NoteSection, SummaryNotes,
};
use crate::providers::{
    GenerateOutput, GenerateRequest, LanguageModel, ProviderError, SourceLine, TokenUsage,
};
use sentences::Sentence;

/// The `model` recorded in artifact lineage; bump it when the output for a transcript changes.
pub const MODEL: &str = "extractive-v1";
const PROVIDER: &str = "local";

const MAX_SUMMARY_SENTENCES: usize = 5;
const MAX_KEY_POINTS: usize = 6;
const MAX_DECISIONS: usize = 12;
const MAX_ACTIONS: usize = 20;
const MAX_RISKS: usize = 10;
const MAX_QUESTIONS: usize = 10;
const TITLE_KEYWORDS: usize = 3;

/// The offline generator; stateless (jieba's dictionary is shared and loads on first use).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractiveGenerator;

impl ExtractiveGenerator {
    pub fn new() -> Self {
        ExtractiveGenerator
    }
}

#[async_trait]
impl LanguageModel for ExtractiveGenerator {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn model(&self) -> &str {
        MODEL
    }

    /// It reads `GenerateRequest::transcript` itself, so it takes the whole meeting at once.
    fn needs_chunking(&self) -> bool {
        false
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<GenerateOutput, ProviderError> {
        let artifact_type =
            ArtifactType::parse(&req.schema_name).ok_or_else(|| ProviderError::Rejected {
                provider: PROVIDER.into(),
                detail: format!("no extractive form for `{}`", req.schema_name),
            })?;
        let lines = req.transcript.clone();
        let language = req.output_language.clone();
        let meeting_type = req.meeting_type.clone();
        // Segmentation and ranking are CPU work; keep them off the async workers.
        let content = crate::telemetry::spawn_blocking(move || {
            compose(
                artifact_type,
                &lines,
                language.as_deref(),
                meeting_type.as_deref(),
            )
        })
        .await
        .map_err(|e| ProviderError::Unavailable {
            provider: PROVIDER.into(),
            detail: format!("the extractive generator stopped: {e}"),
        })?
        .map_err(|e| ProviderError::InvalidResponse {
            provider: PROVIDER.into(),
            detail: e.to_string(),
        })?;
        Ok(GenerateOutput {
            provider: PROVIDER.to_string(),
            content,
            model: MODEL.to_string(),
            usage: TokenUsage::default(),
            fallback_errors: Vec::new(),
        })
    }
}

/// The artifact body for `lines`; the same input always gives the same output.
pub fn compose(
    artifact_type: ArtifactType,
    lines: &[SourceLine],
    output_language: Option<&str>,
    meeting_type: Option<&str>,
) -> Result<Value, serde_json::Error> {
    let x = extract(lines, output_language, meeting_type);
    match artifact_type {
        ArtifactType::MeetingMinutes => serde_json::to_value(MeetingMinutes {
            title: x.title,
            date: None,
            participants: x.participants,
            summary: x.summary,
            key_points: x.key_points,
            decisions: x.decisions,
            action_items: x.actions,
            risks: x.risks,
            open_questions: x.open_questions,
        }),
        ArtifactType::ActionItems => serde_json::to_value(ActionItems { items: x.actions }),
        ArtifactType::SummaryNotes => {
            let sections = note_sections(&x);
            serde_json::to_value(SummaryNotes {
                title: x.title,
                summary: x.summary,
                sections,
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Lang {
    En,
    Zh,
}

/// Fixed wording in the output language.
struct Labels {
    meeting: &'static str,
    empty: &'static str,
    key_points: &'static str,
    decisions: &'static str,
    actions: &'static str,
    risks: &'static str,
}

impl Lang {
    fn labels(self) -> Labels {
        match self {
            Lang::En => Labels {
                meeting: "Meeting",
                empty: "The transcript has no content to summarise.",
                key_points: "Key points",
                decisions: "Decisions",
                actions: "Action items",
                risks: "Risks and open questions",
            },
            Lang::Zh => Labels {
                meeting: "会议",
                empty: "转写内容为空，没有可总结的内容。",
                key_points: "要点",
                decisions: "决定",
                actions: "待办事项",
                risks: "风险与待定问题",
            },
        }
    }
}

/// Everything taken from one transcript, shared by the three artifact types.
struct Extracted {
    lang: Lang,
    title: String,
    participants: Vec<String>,
    summary: String,
    key_points: Vec<String>,
    decisions: Vec<Decision>,
    actions: Vec<ActionItem>,
    risks: Vec<String>,
    open_questions: Vec<String>,
}

fn extract(
    lines: &[SourceLine],
    output_language: Option<&str>,
    meeting_type: Option<&str>,
) -> Extracted {
    let sentences = sentences::sentences(lines);
    let lang = language(output_language, &sentences);
    let labels = lang.labels();
    let participants = participants(lines);
    let scores = rank::sentence_scores(&sentences);

    let mut used = vec![false; sentences.len()];
    let mut decisions: Vec<(usize, Decision)> = Vec::new();
    let mut actions: Vec<(usize, ActionItem)> = Vec::new();
    let mut risks: Vec<(usize, String)> = Vec::new();
    let mut questions: Vec<(usize, String)> = Vec::new();
    for (i, s) in sentences.iter().enumerate() {
        let cite: Vec<String> = s.segment_id.iter().cloned().collect();
        let action = rules::action(s, &participants);
        let decision = rules::is_decision(s);
        if let Some(a) = &action {
            let item = ActionItem {
                owner: a.owner.clone(),
                task: a.task.clone(),
                due: a.due.clone(),
                segment_ids: cite.clone(),
            };
            merge(&mut actions, i, item, |x| {
                format!("{}|{}", x.owner.as_deref().unwrap_or(""), x.task)
            });
        }
        if decision {
            let item = Decision {
                text: rules::bullet(&s.text),
                segment_ids: cite.clone(),
            };
            merge(&mut decisions, i, item, |x| x.text.clone());
        }
        if action.is_none() && !decision {
            if rules::is_open_question(s) {
                push_unique(&mut questions, i, rules::bullet(&s.text));
            } else if rules::is_risk(s) {
                push_unique(&mut risks, i, rules::bullet(&s.text));
            } else {
                continue;
            }
        }
        used[i] = true;
    }

    // Greetings and fillers have one or two content words; prefer richer sentences when
    // there are enough of them.
    let rich = sentences.iter().filter(|s| s.words.len() >= 3).count();
    let min_words = if rich >= 3 { 3 } else { 2 };
    // A sentence said again verbatim is summarised once.
    let mut seen = std::collections::BTreeSet::new();
    let first: Vec<bool> = sentences
        .iter()
        .map(|s| seen.insert(norm(&s.text)))
        .collect();
    let eligible =
        |i: usize| first[i] && sentences[i].words.len() >= min_words && !sentences[i].is_question();
    let candidates = (0..sentences.len()).filter(|&i| eligible(i)).count();
    let k = candidates.div_ceil(6).clamp(1, MAX_SUMMARY_SENTENCES);
    let mut chosen = rank::top(&scores, eligible, k);
    if chosen.is_empty() {
        chosen = (0..sentences.len().min(3)).collect();
    }
    let summary = join(lang, chosen.iter().map(|&i| sentences[i].text.as_str()));
    let key = rank::top(
        &scores,
        |i| eligible(i) && !used[i] && !chosen.contains(&i),
        MAX_KEY_POINTS,
    );
    let key = if key.is_empty() { chosen } else { key };

    let exclude: Vec<String> = participants
        .iter()
        .flat_map(|p| {
            let lower = p.to_lowercase();
            let mut v: Vec<String> = lower.split_whitespace().map(str::to_string).collect();
            v.push(lower);
            v
        })
        .collect();
    let keywords = rank::keywords(&sentences, &exclude, TITLE_KEYWORDS);
    let label = meeting_label(lang, meeting_type, labels.meeting);
    let title = match (keywords.is_empty(), lang) {
        (true, _) => label,
        (false, Lang::En) => format!("{label}: {}", keywords.join(", ")),
        (false, Lang::Zh) => format!("{label}：{}", keywords.join("、")),
    };
    Extracted {
        lang,
        title,
        summary: if summary.trim().is_empty() {
            labels.empty.to_string()
        } else {
            summary
        },
        participants,
        key_points: key
            .iter()
            .map(|&i| rules::bullet(&sentences[i].text))
            .collect(),
        decisions: keep_best(decisions, &scores, MAX_DECISIONS),
        actions: keep_best(actions, &scores, MAX_ACTIONS),
        risks: keep_best(risks, &scores, MAX_RISKS),
        open_questions: keep_best(questions, &scores, MAX_QUESTIONS),
    }
}

/// The output language when the task names one (`zh-*` → Chinese, anything else English),
/// else the transcript's: Chinese when at least 30 % of its letters are Chinese characters.
fn language(output_language: Option<&str>, sentences: &[Sentence]) -> Lang {
    match output_language.map(|l| l.trim().to_ascii_lowercase()) {
        Some(l) if l.starts_with("zh") => Lang::Zh,
        Some(l) if !l.is_empty() => Lang::En,
        _ if sentences::han_share(sentences) >= 0.3 => Lang::Zh,
        _ => Lang::En,
    }
}

/// Speaker names in order of first appearance.
fn participants(lines: &[SourceLine]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lines {
        let name = l.speaker.trim();
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// The meeting type as a title label: `sprint` → "Sprint meeting" / "迭代会议".
fn meeting_label(lang: Lang, meeting_type: Option<&str>, generic: &str) -> String {
    let t = meeting_type.unwrap_or("").trim();
    let lower = t.to_ascii_lowercase();
    if t.is_empty() || matches!(lower.as_str(), "general" | "meeting" | "other" | "default") {
        return generic.to_string();
    }
    let han = t.chars().any(sentences::is_han);
    match lang {
        Lang::En if han => t.to_string(),
        Lang::En => {
            let words = t.replace(['_', '-'], " ");
            let mut chars = words.chars();
            let cap: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            if lower.contains("meeting") {
                cap
            } else {
                format!("{cap} meeting")
            }
        }
        Lang::Zh => {
            let known = match lower.replace(['_', '-', ' '], "").as_str() {
                "sprint" => "迭代",
                "standup" | "daily" => "站会",
                "weekly" => "周会",
                "review" => "评审",
                "retro" | "retrospective" => "复盘",
                "planning" => "规划",
                "interview" => "面试",
                "1on1" | "oneonone" => "一对一",
                "incident" | "postmortem" => "故障复盘",
                "project" => "项目",
                "training" => "培训",
                "brainstorm" => "头脑风暴",
                "client" | "customer" | "sales" => "客户",
                _ => "",
            };
            let label = if !known.is_empty() {
                known.to_string()
            } else if han {
                t.to_string()
            } else {
                format!("{t} ")
            };
            if label.ends_with('会') || label.ends_with("会议") {
                label
            } else {
                format!("{label}会议")
            }
        }
    }
}

/// Sentences as one paragraph, each closed by a full stop in the output language's style.
fn join<'a>(lang: Lang, texts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for t in texts {
        let t = t.trim();
        if lang == Lang::En && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
        if !t.ends_with(['.', '!', '?', '。', '！', '？', '…']) {
            out.push(if lang == Lang::Zh { '。' } else { '.' });
        }
    }
    out
}

fn norm(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Adds `item`, or merges its citations into an earlier item with the same key.
fn merge<T: Cited>(items: &mut Vec<(usize, T)>, at: usize, item: T, key: impl Fn(&T) -> String) {
    let k = norm(&key(&item));
    match items.iter_mut().find(|(_, x)| norm(&key(x)) == k) {
        Some((_, existing)) => {
            for id in item.ids().to_vec() {
                if !existing.ids().contains(&id) {
                    existing.ids_mut().push(id);
                }
            }
        }
        None => items.push((at, item)),
    }
}

fn push_unique(items: &mut Vec<(usize, String)>, at: usize, text: String) {
    let k = norm(&text);
    if !k.is_empty() && !items.iter().any(|(_, x)| norm(x) == k) {
        items.push((at, text));
    }
}

trait Cited {
    fn ids(&self) -> &[String];
    fn ids_mut(&mut self) -> &mut Vec<String>;
}

impl Cited for Decision {
    fn ids(&self) -> &[String] {
        &self.segment_ids
    }
    fn ids_mut(&mut self) -> &mut Vec<String> {
        &mut self.segment_ids
    }
}

impl Cited for ActionItem {
    fn ids(&self) -> &[String] {
        &self.segment_ids
    }
    fn ids_mut(&mut self) -> &mut Vec<String> {
        &mut self.segment_ids
    }
}

/// At most `max` items: the ones from the best-ranked sentences, kept in transcript order.
fn keep_best<T>(items: Vec<(usize, T)>, scores: &[f64], max: usize) -> Vec<T> {
    let item_scores: Vec<f64> = items.iter().map(|(i, _)| scores[*i]).collect();
    let keep = rank::top(&item_scores, |_| true, max);
    items
        .into_iter()
        .enumerate()
        .filter(|(k, _)| keep.binary_search(k).is_ok())
        .map(|(_, (_, item))| item)
        .collect()
}

fn note_sections(x: &Extracted) -> Vec<NoteSection> {
    let labels = x.lang.labels();
    let action = |a: &ActionItem| match (x.lang, &a.owner, &a.due) {
        (Lang::En, Some(o), Some(d)) => format!("{} — {o} (due {d})", a.task),
        (Lang::En, Some(o), None) => format!("{} — {o}", a.task),
        (Lang::En, None, Some(d)) => format!("{} (due {d})", a.task),
        (Lang::Zh, Some(o), Some(d)) => format!("{}（负责人：{o}；截止：{d}）", a.task),
        (Lang::Zh, Some(o), None) => format!("{}（负责人：{o}）", a.task),
        (Lang::Zh, None, Some(d)) => format!("{}（截止：{d}）", a.task),
        (_, None, None) => a.task.clone(),
    };
    let sections = [
        (labels.key_points, x.key_points.clone()),
        (
            labels.decisions,
            x.decisions.iter().map(|d| d.text.clone()).collect(),
        ),
        (labels.actions, x.actions.iter().map(action).collect()),
        (
            labels.risks,
            x.risks.iter().chain(&x.open_questions).cloned().collect(),
        ),
    ];
    sections
        .into_iter()
        .filter(|(_, bullets)| !bullets.is_empty())
        .map(|(heading, bullets)| NoteSection {
            heading: heading.to_string(),
            bullets,
        })
        .collect()
}
