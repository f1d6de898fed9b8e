//! Due phrases in English and Chinese: weekdays, dates and relative times ("by Friday",
//! "next week", "end of the month", "March 15", "周五前", "下周一", "明天", "3月15日", "三天内").

/// A due phrase found in a sentence: the byte range to cut from the task text (with its
/// preposition: "by Friday", "在周五之前") and the due date as reported ("Friday", "周五").
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Due {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// The first due phrase of `text`, English or Chinese.
pub(super) fn find(text: &str) -> Option<Due> {
    match (find_en(text), find_zh(text)) {
        (Some(a), Some(b)) => Some(if a.start <= b.start { a } else { b }),
        (a, b) => a.or(b),
    }
}

const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAY_WORDS: &[&str] = &["today", "tomorrow", "tonight", "eod", "eow", "asap"];
const PARTS_OF_DAY: &[&str] = &["morning", "afternoon", "evening", "night", "noon", "eod"];
const PERIODS: &[&str] = &[
    "day", "week", "month", "sprint", "quarter", "year", "weekend",
];
const PREPOSITIONS: &[&str] = &["by", "before", "until", "till", "due", "on"];
const COUNT_WORDS: &[&str] = &[
    "a", "one", "two", "three", "four", "five", "six", "seven", "ten", "couple",
];
const UNITS: &[&str] = &[
    "day", "days", "week", "weeks", "hour", "hours", "month", "months",
];

struct EnWord {
    start: usize,
    end: usize,
    lower: String,
}

/// ASCII words with byte spans (dates like 3/15 and 2024-03-15 stay one word).
fn en_words(text: &str) -> Vec<EnWord> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '\'');
    let edge = |c: char| matches!(c, '/' | '-' | '\'');
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (start, is_word(c)) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let run = &text[s..i];
                let lead = run.len() - run.trim_start_matches(edge).len();
                let raw = run.trim_matches(edge);
                if !raw.is_empty() {
                    out.push(EnWord {
                        start: s + lead,
                        end: s + lead + raw.len(),
                        lower: raw.to_ascii_lowercase(),
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn is_day_number(w: &str) -> bool {
    let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &w[digits.len()..];
    matches!(suffix, "" | "st" | "nd" | "rd" | "th")
        && digits.parse::<u32>().is_ok_and(|d| (1..=31).contains(&d))
}

fn is_date(w: &str) -> bool {
    let parts: Vec<&str> = w.split(['/', '-']).collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Length in words of a due phrase starting at `i` (without a preposition).
fn en_at(w: &[EnWord], i: usize, after_preposition: bool) -> Option<usize> {
    let at = |k: usize| w.get(i + k).map(|x| x.lower.as_str()).unwrap_or("");
    let a = at(0);
    if WEEKDAYS.contains(&a) || DAY_WORDS.contains(&a) {
        return Some(if PARTS_OF_DAY.contains(&at(1)) { 2 } else { 1 });
    }
    if matches!(a, "next" | "this" | "coming")
        && (WEEKDAYS.contains(&at(1)) || PERIODS.contains(&at(1)))
    {
        return Some(2);
    }
    if a == "end" && at(1) == "of" {
        let skip = usize::from(matches!(at(2), "the" | "this" | "next"));
        return PERIODS.contains(&at(2 + skip)).then_some(3 + skip);
    }
    if a == "the" && matches!(at(1), "end" | "weekend") {
        return if at(1) == "weekend" {
            Some(2)
        } else {
            en_at(w, i + 1, after_preposition).map(|n| n + 1)
        };
    }
    if MONTHS.contains(&a) {
        if is_day_number(at(1)) {
            return Some(2);
        }
        // "may" and "march" are verbs too: a bare month needs "by"/"before"/"until".
        return after_preposition.then_some(1);
    }
    if is_date(a) {
        return Some(1);
    }
    if matches!(a, "in" | "within")
        && (COUNT_WORDS.contains(&at(1)) || at(1).parse::<u32>().is_ok())
    {
        if UNITS.contains(&at(2)) {
            return Some(3);
        }
        if matches!(at(2), "business" | "working") && UNITS.contains(&at(3)) {
            return Some(4);
        }
    }
    None
}

/// The reported due text: without a leading "the" ("the end of the month" → "end of the month").
fn en_due_text(text: &str) -> String {
    match text.get(..4) {
        Some(the) if the.eq_ignore_ascii_case("the ") => text[4..].to_string(),
        _ => text.to_string(),
    }
}

fn find_en(text: &str) -> Option<Due> {
    let w = en_words(text);
    for i in 0..w.len() {
        let preposition = PREPOSITIONS.contains(&w[i].lower.as_str());
        if preposition {
            if let Some(n) = en_at(&w, i + 1, true) {
                let last = &w[i + n];
                return Some(Due {
                    start: w[i].start,
                    end: last.end,
                    text: en_due_text(&text[w[i + 1].start..last.end]),
                });
            }
        }
        if let Some(n) = en_at(&w, i, false) {
            let last = &w[i + n - 1];
            return Some(Due {
                start: w[i].start,
                end: last.end,
                text: en_due_text(&text[w[i].start..last.end]),
            });
        }
    }
    None
}

const ZH_NUMERALS: &str = "零〇一二两三四五六七八九十";
const ZH_WEEKDAYS: &str = "一二三四五六日天末";

/// Chinese patterns over chars; positions are char indices.
struct Zh<'a> {
    chars: &'a [char],
}

impl Zh<'_> {
    fn eat(&self, p: usize, word: &str) -> Option<usize> {
        let n = word.chars().count();
        (p + n <= self.chars.len() && self.chars[p..p + n].iter().copied().eq(word.chars()))
            .then_some(p + n)
    }

    fn eat_any(&self, p: usize, words: &[&str]) -> Option<usize> {
        words.iter().find_map(|w| self.eat(p, w))
    }

    fn number(&self, p: usize) -> Option<usize> {
        let n = self.chars[p..]
            .iter()
            .take(4)
            .take_while(|c| c.is_ascii_digit() || ZH_NUMERALS.contains(**c))
            .count();
        (n > 0).then_some(p + n)
    }

    /// The end of a due phrase starting at `p`, before any 前/之前/内 suffix.
    fn core(&self, p: usize) -> Option<usize> {
        if let Some(e) = self.eat_any(
            p,
            &[
                "大后天",
                "后天",
                "明天",
                "今天",
                "今晚",
                "明早",
                "明晚",
                "今早",
                "年底",
                "季度末",
                "本季度",
                "月底",
                "月初",
                "周末",
            ],
        ) {
            return Some(e);
        }
        // Weeks: (下个|下|本|这个|这) 周/星期/礼拜 (一…日)?
        let after_prefix = self.eat_any(p, &["下下周", "下个", "下", "本", "这个", "这"]);
        let q = after_prefix.unwrap_or(p);
        if let Some(e) = self.eat_any(q, &["星期", "礼拜", "周"]) {
            if self.chars.get(e).is_some_and(|c| ZH_WEEKDAYS.contains(*c)) {
                return Some(e + 1);
            }
            if after_prefix.is_some() {
                return Some(e);
            }
        }
        if self.eat(p, "下下周").is_some() {
            return Some(p + 3);
        }
        // Months: (下个|本|这个)月(底|初|中)?
        if let Some(q) = self.eat_any(p, &["下个", "本", "这个"]) {
            if let Some(e) = self.eat(q, "月") {
                return Some(self.eat_any(e, &["底", "初", "中"]).unwrap_or(e));
            }
        }
        // Dates (3月15日, 十五号) and spans (三天内, 两周内).
        let n = self.number(p)?;
        if let Some(m) = self.eat(n, "月") {
            if let Some(d) = self.number(m) {
                return self.eat_any(d, &["日", "号"]);
            }
            return None;
        }
        if let Some(e) = self.eat_any(n, &["日", "号"]) {
            return Some(e);
        }
        let unit = self.eat_any(n, &["个工作日", "个星期", "个月", "天", "周", "小时"])?;
        self.eat_any(unit, &["之内", "以内", "内"])
    }

    /// A time of day after the date ("明天下午", "周五下班前").
    fn time_of_day(&self, p: usize) -> usize {
        self.eat_any(p, &["上午", "下午", "晚上", "中午", "早上", "下班"])
            .unwrap_or(p)
    }
}

fn find_zh(text: &str) -> Option<Due> {
    let indexed: Vec<(usize, char)> = text.char_indices().collect();
    let chars: Vec<char> = indexed.iter().map(|&(_, c)| c).collect();
    let byte = |i: usize| indexed.get(i).map(|&(b, _)| b).unwrap_or(text.len());
    let zh = Zh { chars: &chars };
    let before = |p: usize| p > 0 && matches!(chars[p - 1], '在' | '于');
    for p in 0..chars.len() {
        let Some(core) = zh.core(p) else { continue };
        let core = zh.time_of_day(core);
        let suffix = zh.eat_any(core, &["之前", "以前", "为止", "前"]);
        let end = suffix.unwrap_or(core);
        let start = if before(p) { p - 1 } else { p };
        return Some(Due {
            start: byte(start),
            end: byte(end),
            text: chars[p..core].iter().collect(),
        });
    }
    // Relative to an event: 在上线之前, 在评审以前.
    for p in (0..chars.len()).filter(|&p| chars[p] == '在') {
        for q in p + 2..(p + 12).min(chars.len()) {
            if !(chars[q - 1].is_alphanumeric()) {
                break;
            }
            if let Some(end) = zh.eat_any(q, &["之前", "以前"]) {
                return Some(Due {
                    start: byte(p),
                    end: byte(end),
                    text: chars[p + 1..end].iter().collect(),
                });
            }
        }
    }
    None
}
