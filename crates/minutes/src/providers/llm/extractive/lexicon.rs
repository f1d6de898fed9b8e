//! Word lists of the extractive generator: stopwords (English and Chinese, including spoken
//! fillers) and the cue phrases the rules look for.
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// English function words, contractions and spoken fillers (lower case, space-separated).
const EN_STOPWORDS: &str = "\
a about above actually after again against all also am an and any anyone anything are aren't \
around as at back basically be because been before being below between both but by can can't \
cannot could couldn't did didn't do does doesn't doing don't done down during each else even \
ever every everyone everything few for from further get gets getting go goes going gonna good \
got great had hadn't has hasn't have haven't having he he'd he'll he's hello her here here's \
hers herself hey hi him himself his how how's i i'd i'll i'm i've if in into is isn't it it's \
its itself just kind know let let's like lot make many maybe me mean meeting might mine more \
morning most much must my myself need needs next no nor not now of off oh ok okay on once one \
only or other ought our ours ourselves out over own please pretty probably put quite really \
right said same say says see shall shan't she she'd she'll she's should shouldn't so some \
something sort still such sure take talk tell than thank thanks that that's the their theirs \
them themselves then there there's these they they'd they'll they're they've thing things think \
this those though through to today too uh um under until up us use very want was wasn't way we \
we'd we'll we're we've well were weren't what what's when when's where where's which while who \
who's whom why why's will with won't would wouldn't yeah yes yep yet you you'd you'll you're \
you've your yours yourself yourselves";

/// Chinese function words, pronouns, measure phrases and spoken fillers (two characters or more;
/// single characters are never content words).
const ZH_STOPWORDS: &str = "\
一下 一个 一些 一点 一起 一直 一样 不是 不会 不要 不过 东西 为了 什么 今天 他们 以后 以及 但是 你们 \
其实 其他 出来 到时候 刚才 即使 可以 可能 各位 同时 因为 因此 大家 好的 如果 对吧 对于 就是 已经 应该 \
开始 怎么 总之 感觉 我们 或者 所以 所有 才能 没有 然后 然而 现在 的话 知道 确实 而且 而是 肯定 自己 \
觉得 认为 讨论 这个 这些 这样 这里 这边 那个 那些 那么 那样 那边 需要 非常 首先 会议 还是 还有 进行 \
里面 问题 时候 这次 其中 比较 之前 之后 的确 那就 我们的 是不是 有没有 一下子 嗯嗯 对对 对对对 哈哈 \
是的 好吧 行吧 可是 只是 这种 那种 有点 这块 的时候";

static STOPWORDS: LazyLock<BTreeSet<&'static str>> = LazyLock::new(|| {
    EN_STOPWORDS
        .split_whitespace()
        .chain(ZH_STOPWORDS.split_whitespace())
        .collect()
});

pub(super) fn is_stopword(key: &str) -> bool {
    STOPWORDS.contains(key)
}

/// English decision cues (matched at a word start, lower case).
pub(super) const EN_DECISION: &[&str] = &[
    "decided",
    "we decide",
    "decision is",
    "the decision",
    "agreed",
    "we agree",
    "agree to",
    "agree on",
    "let's go with",
    "we'll go with",
    "we will go with",
    "we're going with",
    "going with",
    "settled on",
    "approved",
    "signed off",
    "sign off on",
    "we'll use",
    "we will use",
    "final call",
    "the plan is",
    "conclusion is",
];

pub(super) const ZH_DECISION: &[&str] = &[
    "决定",
    "确定",
    "定了",
    "定下来",
    "就这么定",
    "同意",
    "达成一致",
    "一致认为",
    "通过了",
    "拍板",
    "结论是",
    "就按",
    "统一用",
    "敲定",
    "采用",
    "改为",
    "改成",
    "就用",
];

/// Statements that something is not settled: open questions, never decisions.
pub(super) const EN_UNDECIDED: &[&str] = &[
    "not decided",
    "haven't decided",
    "hasn't been decided",
    "undecided",
    "not sure",
    "to be decided",
    "tbd",
    "still open",
    "open question",
    "unclear",
    "figure out",
    "don't agree",
    "disagree",
    "not agreed",
];

pub(super) const ZH_UNDECIDED: &[&str] = &[
    "还没决定",
    "没有决定",
    "未决定",
    "还没确定",
    "没有确定",
    "不确定",
    "未确定",
    "待定",
    "还没定",
    "没定",
    "不同意",
    "还不清楚",
    "不清楚",
    "再讨论",
    "再议",
    "回头再定",
    "有待",
];

pub(super) const EN_RISK: &[&str] = &[
    "risk",
    "concern",
    "worried",
    "worry",
    "blocker",
    "blocked",
    "blocking",
    "bottleneck",
    "delay",
    "behind schedule",
    "slip",
    "problem",
    "issue",
    "danger",
    "fragile",
    "fail",
];

/// Phrases that negate a risk cue ("no problem").
pub(super) const EN_NO_RISK: &[&str] = &[
    "no problem",
    "not a problem",
    "no risk",
    "not worried",
    "no concern",
    "no issue",
    "no blocker",
    "don't worry",
    "not an issue",
];

pub(super) const ZH_RISK: &[&str] = &[
    "风险",
    "担心",
    "隐患",
    "问题",
    "阻塞",
    "卡住",
    "卡在",
    "来不及",
    "延期",
    "延误",
    "瓶颈",
    "顾虑",
    "压力",
    "不够",
];

pub(super) const ZH_NO_RISK: &[&str] = &[
    "没问题",
    "没有问题",
    "不是问题",
    "问题不大",
    "没什么问题",
    "不用担心",
    "别担心",
    "没有风险",
    "没风险",
];

/// English first-person commitments: the owner is the speaker.
pub(super) const EN_FIRST_PERSON: &[&str] = &[
    "i'll",
    "i will",
    "i'm going to",
    "i am going to",
    "i'm gonna",
    "i can take",
    "i need to",
    "i have to",
    "let me",
    "i'll take care of",
];

/// Modal phrases after a named owner ("Marcus will …"); `true` = needs a due phrase to count.
pub(super) const EN_NAMED_MODALS: &[(&str, bool)] = &[
    ("will", false),
    ("is going to", false),
    ("is gonna", false),
    ("needs to", false),
    ("has to", false),
    ("should", false),
    ("is responsible for", false),
    ("will take care of", false),
    ("can", true),
];

/// Team commitments; they count only with a due phrase and have no single owner.
pub(super) const EN_TEAM: &[&str] = &[
    "we'll",
    "we will",
    "we need to",
    "we have to",
    "we should",
    "we're going to",
    "we are going to",
    "let's",
];

pub(super) const EN_REQUESTS: &[&str] =
    &["can you", "could you", "would you", "will you", "please"];

/// Capitalised words that are not names ("We will …", "That should …").
pub(super) const EN_NOT_NAMES: &str = "\
i we you he she it they that this there these those so and but then maybe everyone someone \
somebody nobody who what which also ok okay well yes no now if when the a team everybody one";

pub(super) fn is_not_name(lower: &str) -> bool {
    EN_NOT_NAMES.split_whitespace().any(|w| w == lower)
}

/// Task openings that are manners of speaking, not work ("I'll be honest").
pub(super) const EN_NOT_TASKS: &[&str] = &[
    "be", "say", "admit", "bet", "guess", "think", "mean", "tell you", "just say", "not", "never",
    "know", "see", "ask",
];

/// Chinese first-person commitments: the owner is the speaker.
pub(super) const ZH_FIRST_PERSON: &[&str] = &[
    "我来负责",
    "我负责",
    "我来",
    "我会",
    "我去",
    "我跟进",
    "我这边",
    "我明天",
    "我今天",
    "我下周",
    "我尽快",
    "我马上",
    "我回头",
    "我稍后",
    "我晚点",
];

/// Verbs after a named owner ("张伟负责…", "由李娜来…").
pub(super) const ZH_OWNER_VERBS: &[&str] = &[
    "来负责",
    "负责",
    "牵头",
    "来跟进",
    "跟进",
    "来处理",
    "来做",
    "会在",
    "会",
    "来",
    "去",
];

/// Words that hand a task to the person after them ("交给李娜", "请王芳").
pub(super) const ZH_ASSIGN: &[&str] = &["交给", "安排", "请", "让"];

pub(super) const ZH_NOT_TASKS: &[&str] = &["觉得", "说", "认为", "想", "不会", "是"];

/// Verbs that make a due-dated Chinese sentence without a subject an action item.
pub(super) const ZH_ACTION_VERBS: &[&str] = &[
    "完成", "提交", "发", "修复", "整理", "准备", "跟进", "上线", "确认", "更新", "写", "安排",
    "联系", "同步", "部署", "测试", "评审", "交付", "出", "给",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_cover_both_languages() {
        assert!(is_stopword("the") && is_stopword("我们") && !is_stopword("kubernetes"));
    }
}
