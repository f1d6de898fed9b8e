//! Rules over single sentences, in English and Chinese: action items (owner, task, due),
//! decisions, risks and open questions. Patterns, not understanding: a sentence matches a cue
//! or it does not, and what it says is quoted, never rephrased.
use super::due::{self, Due};
use super::lexicon::{
    is_not_name, is_stopword, EN_DECISION, EN_FIRST_PERSON, EN_NAMED_MODALS, EN_NOT_TASKS,
    EN_NO_RISK, EN_REQUESTS, EN_RISK, EN_TEAM, EN_UNDECIDED, ZH_ACTION_VERBS, ZH_ASSIGN,
    ZH_DECISION, ZH_FIRST_PERSON, ZH_NOT_TASKS, ZH_NO_RISK, ZH_OWNER_VERBS, ZH_RISK, ZH_UNDECIDED,
};
use super::sentences::{is_han, Sentence};
use crate::domain::search_text::jieba;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Action {
    pub owner: Option<String>,
    pub task: String,
    pub due: Option<String>,
}

/// The action item a sentence states, if any.
pub(super) fn action(s: &Sentence, participants: &[String]) -> Option<Action> {
    let due = due::find(&s.text);
    en_action(s, participants, due.as_ref()).or_else(|| zh_action(s, participants, due.as_ref()))
}

pub(super) fn is_decision(s: &Sentence) -> bool {
    if s.is_question() || is_undecided(s) {
        return false;
    }
    let lower = s.text.to_ascii_lowercase();
    let text = s.text.replace("确定一下", "").replace("确认一下", "");
    EN_DECISION
        .iter()
        .any(|c| find_cue(&lower, c, 0, false).is_some())
        || (find_cue(&lower, "let's", 0, true).is_some() && s.words.len() >= 3)
        || ZH_DECISION.iter().any(|c| text.contains(c))
}

/// "Not decided yet", "待定": an open question, never a decision.
pub(super) fn is_undecided(s: &Sentence) -> bool {
    let lower = s.text.to_ascii_lowercase();
    EN_UNDECIDED
        .iter()
        .any(|c| find_cue(&lower, c, 0, false).is_some())
        || ZH_UNDECIDED.iter().any(|c| s.text.contains(c))
}

pub(super) fn is_open_question(s: &Sentence) -> bool {
    (s.is_question() && s.words.len() >= 2) || is_undecided(s)
}

pub(super) fn is_risk(s: &Sentence) -> bool {
    if s.is_question() {
        return false;
    }
    let mut lower = s.text.to_ascii_lowercase();
    for negated in EN_NO_RISK {
        lower = lower.replace(negated, " ");
    }
    let mut text = s.text.clone();
    for negated in ZH_NO_RISK {
        text = text.replace(negated, "");
    }
    EN_RISK
        .iter()
        .any(|c| find_cue(&lower, c, 0, false).is_some())
        || ZH_RISK.iter().any(|c| text.contains(c))
}

/// The sentence as a list entry: trailing full stops and commas removed.
pub(super) fn bullet(text: &str) -> String {
    text.trim()
        .trim_end_matches(['.', '。', '!', '！', ';', '；', ',', '，', ' '])
        .to_string()
}

/// Byte offset of the ASCII `cue` in `lower` at or after `from`, starting at a word boundary
/// (and ending at one when `whole`).
fn find_cue(lower: &str, cue: &str, from: usize, whole: bool) -> Option<usize> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '\'';
    let mut from = from;
    while let Some(p) = lower.get(from..)?.find(cue) {
        let at = from + p;
        let end = at + cue.len();
        let starts = lower[..at].chars().next_back().is_none_or(|c| !word(c));
        let ends = !whole || lower[end..].chars().next().is_none_or(|c| !word(c));
        if starts && ends {
            return Some(at);
        }
        from = at + cue.len().max(1);
    }
    None
}

fn en_action(s: &Sentence, participants: &[String], due: Option<&Due>) -> Option<Action> {
    let text = s.text.as_str();
    let lower = text.to_ascii_lowercase();
    let due_text = due.map(|d| d.text.clone());
    let end = text.len();
    // Requests count when they name the person asked or a due date ("Marcus, can you …").
    let request = EN_REQUESTS
        .iter()
        .filter_map(|cue| find_cue(&lower, cue, 0, true).map(|at| (at, at + cue.len())))
        .min();
    if let Some((cue_start, after)) = request {
        let (owner, end) = match name_before(text, cue_start, participants) {
            Some(name) => (Some(name), end),
            None => match trailing_name(text) {
                Some((name, cut)) => (Some(name), cut),
                None => (None, end),
            },
        };
        if owner.is_some() || due.is_some() {
            if let Some(task) = en_task(text, after, end, due) {
                return Some(Action {
                    owner,
                    task,
                    due: due_text,
                });
            }
        }
    }
    if s.is_question() {
        return None;
    }
    for cue in EN_FIRST_PERSON {
        if let Some(at) = find_cue(&lower, cue, 0, true) {
            if let Some(task) = en_task(text, at + cue.len(), end, due) {
                return Some(Action {
                    owner: Some(s.speaker.clone()).filter(|n| !n.is_empty()),
                    task,
                    due: due_text,
                });
            }
        }
    }
    for (modal, needs_due) in EN_NAMED_MODALS {
        let mut from = 0;
        while let Some(at) = find_cue(&lower, modal, from, true) {
            from = at + modal.len();
            if *needs_due && due.is_none() {
                break;
            }
            let Some(owner) = name_before(text, at, participants) else {
                continue;
            };
            if let Some(task) = en_task(text, at + modal.len(), end, due) {
                return Some(Action {
                    owner: Some(owner),
                    task,
                    due: due_text,
                });
            }
        }
    }
    if due.is_some() {
        for cue in EN_TEAM {
            if let Some(at) = find_cue(&lower, cue, 0, true) {
                if let Some(task) = en_task(text, at + cue.len(), end, due) {
                    return Some(Action {
                        owner: None,
                        task,
                        due: due_text,
                    });
                }
            }
        }
    }
    None
}

/// A person named right before byte `at` ("Marcus will", "Priya and Marcus will",
/// "Marcus, can you"): a participant, or one to three capitalised words that are not pronouns.
fn name_before(text: &str, at: usize, participants: &[String]) -> Option<String> {
    let head = text[..at].trim_end();
    let head = head.strip_suffix(',').unwrap_or(head).trim_end();
    let head_lower = head.to_lowercase();
    for p in participants {
        let pl = p.to_lowercase();
        if !pl.is_empty()
            && head_lower.ends_with(&pl)
            && head_lower[..head_lower.len() - pl.len()]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
        {
            return Some(p.clone());
        }
    }
    let mut names: Vec<&str> = Vec::new();
    let mut words = head.rsplit(' ').peekable();
    while let Some(w) = words.next() {
        if !is_name_word(w) {
            break;
        }
        names.insert(0, w);
        if words.peek() == Some(&"and") && names.len() < 3 {
            words.next();
            names.insert(0, "and");
        } else if names.len() >= 3 {
            break;
        }
    }
    while names.first() == Some(&"and") {
        names.remove(0);
    }
    let first = *names.first()?;
    // A lone capitalised gerund at the start is a subject, not a person ("Testing will …").
    if names.len() == 1 && first.ends_with("ing") {
        return None;
    }
    Some(names.join(" "))
}

fn is_name_word(w: &str) -> bool {
    let mut chars = w.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphabetic() || c == '-')
        && !is_not_name(&w.to_ascii_lowercase())
        && !is_stopword(&w.to_ascii_lowercase())
}

/// "…, Marcus?" at the end of a request: the name and where the task text ends.
fn trailing_name(text: &str) -> Option<(String, usize)> {
    let body = text.trim_end_matches(['?', '.', '!', ' ']);
    let (head, tail) = body.rsplit_once(',')?;
    let tail = tail.trim();
    let words: Vec<&str> = tail.split(' ').collect();
    (words.len() <= 2 && words.iter().all(|w| is_name_word(w)))
        .then(|| (tail.to_string(), head.len()))
}

/// The task text between `from` and `end`, without the due phrase; `None` when it is too
/// short or a manner of speaking ("I'll be honest").
fn en_task(text: &str, from: usize, end: usize, due: Option<&Due>) -> Option<String> {
    if from >= end {
        return None;
    }
    let mut raw = String::new();
    match due {
        Some(d) if d.start >= from && d.end <= end => {
            raw.push_str(&text[from..d.start]);
            raw.push(' ');
            raw.push_str(&text[d.end..end]);
        }
        _ => raw.push_str(&text[from..end]),
    }
    let mut task = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    for lead in ["to ", "please ", "also ", "just ", "go ahead and "] {
        if task.to_ascii_lowercase().starts_with(lead) {
            task = task[lead.len()..].to_string();
        }
    }
    let task = task
        .trim_end_matches(['.', ',', '!', '?', ';', ':', ' '])
        .trim_end_matches(" and")
        .to_string();
    let lower = task.to_ascii_lowercase();
    if task.split_whitespace().count() < 2
        || EN_NOT_TASKS
            .iter()
            .any(|n| lower == *n || lower.starts_with(&format!("{n} ")))
    {
        return None;
    }
    let mut chars = task.chars();
    let first = chars.next()?;
    Some(first.to_uppercase().chain(chars).collect())
}

fn zh_action(s: &Sentence, participants: &[String], due: Option<&Due>) -> Option<Action> {
    let text = s.text.as_str();
    if !text.chars().any(is_han) || (s.is_question() && !text.contains('请')) {
        return None;
    }
    let due_text = due.map(|d| d.text.clone());
    let found = |owner: Option<String>, from: usize| {
        zh_task(text, from, due).map(|task| Action {
            owner,
            task,
            due: due_text.clone(),
        })
    };
    // 由张伟负责…, 由李娜来…
    // Not 由于 ("because"), 理由, 自由.
    let by = text.match_indices('由').map(|(p, _)| p).find(|&p| {
        !text[p..].starts_with("由于") && !text[..p].ends_with(|c: char| "理自缘经来".contains(c))
    });
    if let Some(p) = by {
        let rest = &text[p + '由'.len_utf8()..];
        let verb = ZH_OWNER_VERBS
            .iter()
            .filter_map(|v| rest.find(v).map(|q| (q, *v)))
            .min_by_key(|&(q, v)| (q, usize::MAX - v.len()));
        if let Some((q, v)) = verb {
            let name = rest[..q].trim();
            if (1..=8).contains(&name.chars().count()) && name.chars().all(char::is_alphanumeric) {
                return found(Some(name.to_string()), p + '由'.len_utf8() + q + v.len());
            }
        }
    }
    for cue in ZH_FIRST_PERSON {
        if let Some(p) = text.find(cue) {
            let mut from = p + '我'.len_utf8();
            if let Some(v) = ["来负责", "负责", "这边", "会", "来", "去"]
                .iter()
                .find(|v| text[from..].starts_with(**v))
            {
                from += v.len();
            }
            let speaker = Some(s.speaker.clone()).filter(|n| !n.is_empty());
            if let Some(a) = found(speaker, from) {
                return Some(a);
            }
        }
    }
    for cue in ZH_ASSIGN {
        if let Some(p) = text.find(cue) {
            let rest = &text[p + cue.len()..];
            if let Some(name) = zh_name_start(rest, participants) {
                let mut from = p + cue.len() + name.len();
                if let Some(v) = ["帮忙", "负责", "来", "去", "帮"]
                    .iter()
                    .find(|v| text[from..].starts_with(**v))
                {
                    from += v.len();
                }
                return found(Some(name), from);
            }
        }
    }
    for verb in ZH_OWNER_VERBS {
        let loose = !matches!(*verb, "会" | "来" | "去" | "会在");
        for (q, _) in text.match_indices(verb) {
            if let Some(name) = zh_name_end(&text[..q], participants, loose) {
                let from = if *verb == "会在" {
                    q + "会".len()
                } else {
                    q + verb.len()
                };
                if let Some(a) = found(Some(name), from) {
                    return Some(a);
                }
            }
        }
    }
    let due = due?;
    for cue in ["我们会", "我们要", "我们需要", "我们得", "大家"] {
        if let Some(p) = text.find(cue) {
            return found(None, p + cue.len());
        }
    }
    let rest = &text[due.end..];
    if ZH_ACTION_VERBS.iter().any(|v| rest.contains(v)) {
        return found(None, 0);
    }
    None
}

/// A person named at the end of `head` ("…，张伟" before 负责): a participant, a capitalised
/// Latin name, a jieba person name (`nr`), or when `loose`, a short clause of 2–4 Chinese
/// characters without pronouns ("后端组").
fn zh_name_end(head: &str, participants: &[String], loose: bool) -> Option<String> {
    if let Some(p) = participants
        .iter()
        .filter(|p| !p.is_empty() && head.ends_with(p.as_str()))
        .max_by_key(|p| p.len())
    {
        return Some(p.clone());
    }
    let clause = head
        .rsplit(|c: char| !(c.is_alphanumeric() || c == ' '))
        .next()
        .unwrap_or("")
        .trim();
    let latin = clause
        .rsplit(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    if !latin.is_empty() && clause.ends_with(latin) && is_name_word(latin) {
        return Some(latin.to_string());
    }
    let tags = jieba().tag(clause, true);
    if let Some(last) = tags.last() {
        if last.tag.starts_with("nr") && last.word.chars().count() >= 2 {
            return Some(last.word.to_string());
        }
    }
    let n = clause.chars().count();
    (loose
        && (2..=4).contains(&n)
        && clause.chars().all(is_han)
        && !clause.chars().any(|c| "我你他她它这那谁哪".contains(c)))
    .then(|| clause.to_string())
}

/// A person named at the start of `rest` ("交给李娜…").
fn zh_name_start(rest: &str, participants: &[String]) -> Option<String> {
    if let Some(p) = participants
        .iter()
        .filter(|p| !p.is_empty() && rest.starts_with(p.as_str()))
        .max_by_key(|p| p.len())
    {
        return Some(p.clone());
    }
    let latin: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
    if is_name_word(&latin) {
        return Some(latin);
    }
    let tags = jieba().tag(rest, true);
    tags.first()
        .filter(|t| t.tag.starts_with("nr") && t.word.chars().count() >= 2)
        .map(|t| t.word.to_string())
}

/// The task text after byte `from`, without the due phrase; a fragment shorter than four
/// characters gives way to the whole sentence ("张伟负责周五前修复" → not just "修复").
fn zh_task(text: &str, from: usize, due: Option<&Due>) -> Option<String> {
    let mut raw = String::new();
    match due {
        Some(d) if d.start >= from => {
            raw.push_str(&text[from..d.start]);
            raw.push_str(&text[d.end..]);
        }
        _ => raw.push_str(&text[from..]),
    }
    let trim = |t: &str| -> String {
        t.trim_matches(|c: char| c.is_whitespace() || "，,。.！!？?；;：:、吧啊哈呀嘛".contains(c))
            .to_string()
    };
    let task = trim(&raw);
    if ZH_NOT_TASKS.iter().any(|n| task.starts_with(n)) {
        return None;
    }
    if task.chars().count() < 4 {
        let whole = trim(text);
        return (whole.chars().count() >= 4).then_some(whole);
    }
    Some(task)
}
