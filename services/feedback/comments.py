"""What a survey comment says, by simple documented keyword rules (Chinese and English). Pure.

The words are assessed by the application before the decider runs (the decider sees the
:class:`Assessment` only); the comment itself is kept in feedback's private store with its numbers
masked by the one policy (``shared.pii.scrub_text``) and never travels.

* :func:`assess` — a comment *names a problem* when it contains a problem phrase; it *describes a
  complaint* when it contains a complaint phrase (asking for redress, threatening to complain or
  report, money lost). Reassuring phrases ("no problem", "没问题", "not bad", "不错") are removed
  before matching so they do not count. English matches whole words, case-insensitively; Chinese
  matches substrings. The lists are deliberately specific ("太慢", not "慢", which also means
  "take care" in "慢走") — a missed problem still shows in the score, a false alarm costs a call.

Feedback is negative when the score is 1 or 2 or the comment names a problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NEGATIVE_SCORE_MAX = 2

#: phrases that say "nothing wrong"; removed before the problem phrases are looked for
REASSURING_EN = (
    "no problem",
    "no problems",
    "not a problem",
    "no issue",
    "no issues",
    "not bad",
    "nothing wrong",
    "no complaint",
    "no complaints",
    "without any problem",
    "without problems",
    "never had a problem",
    "not slow",
)
REASSURING_ZH = (
    "没问题",
    "没有问题",
    "没什么问题",
    "无问题",
    "不差",
    "不错",
    "不慢",
    "没有不满",
    "无投诉",
    "没有投诉",
)

#: a comment naming a problem
PROBLEM_EN = (
    "rude",
    "impolite",
    "unfriendly",
    "unprofessional",
    "arrogant",
    "impatient",
    "too slow",
    "very slow",
    "so slow",
    "waited too long",
    "waiting too long",
    "long wait",
    "kept waiting",
    "long queue",
    "wrong",
    "mistake",
    "error",
    "incorrect",
    "broken",
    "not working",
    "doesn't work",
    "didn't work",
    "failed",
    "overcharged",
    "hidden fee",
    "hidden fees",
    "refused",
    "ignored",
    "unhelpful",
    "useless",
    "terrible",
    "awful",
    "horrible",
    "bad",
    "poor",
    "worst",
    "disappointed",
    "disappointing",
    "unacceptable",
    "angry",
    "frustrated",
    "had a problem",
    "have a problem",
    "has a problem",
    "big problem",
    "serious problem",
    "not solved",
    "unresolved",
    "confusing",
    "dirty",
)
PROBLEM_ZH = (
    "态度差",
    "态度不好",
    "态度恶劣",
    "服务差",
    "不耐烦",
    "不礼貌",
    "没礼貌",
    "冷漠",
    "太慢",
    "很慢",
    "好慢",
    "效率低",
    "等太久",
    "等了很久",
    "等很久",
    "排队太久",
    "排长队",
    "错误",
    "出错",
    "弄错",
    "搞错",
    "失误",
    "故障",
    "坏了",
    "吞卡",
    "乱收费",
    "多收",
    "收费不合理",
    "拒绝",
    "推诿",
    "踢皮球",
    "没人管",
    "不理",
    "很差",
    "太差",
    "差劲",
    "糟糕",
    "失望",
    "不满意",
    "不满",
    "生气",
    "有问题",
    "出问题",
    "没解决",
    "未解决",
    "不专业",
    "繁琐",
    "不透明",
)
#: a comment describing a complaint: the complaint service opens a case (channel ``survey``)
COMPLAINT_EN = (
    "complain",
    "complained",
    "complaint",
    "complaining",
    "ombudsman",
    "regulator",
    "compensation",
    "compensate",
    "refund",
    "lawyer",
    "fraud",
    "unauthorized",
    "unauthorised",
    "stolen",
    "charged twice",
    "money is missing",
    "money missing",
)
COMPLAINT_ZH = (
    "投诉",
    "举报",
    "曝光",
    "监管",
    "12378",
    "赔偿",
    "退款",
    "退还",
    "律师",
    "起诉",
    "被骗",
    "盗刷",
    "多扣",
    "扣错",
    "没到账",
    "未到账",
)


def _word_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted((re.escape(p) for p in phrases), key=len, reverse=True)
    return re.compile(r"(?<![a-z])(?:" + "|".join(alternatives) + r")(?![a-z])", re.IGNORECASE)


_REASSURING_EN = _word_pattern(REASSURING_EN)
_PROBLEM_EN = _word_pattern(PROBLEM_EN)
_COMPLAINT_EN = _word_pattern(COMPLAINT_EN)


@dataclass(frozen=True)
class Assessment:
    negative: bool
    names_problem: bool
    describes_complaint: bool
    #: the phrases that matched, lower-cased, in the order of the lists
    matched: tuple[str, ...] = ()


def _found(text: str, pattern: re.Pattern[str], chinese: tuple[str, ...]) -> list[str]:
    hits = [m.group(0).lower() for m in pattern.finditer(text)]
    hits += [p for p in chinese if p in text]
    return list(dict.fromkeys(hits))


def assess(score: int, comment: str) -> Assessment:
    """Classify one answer; ``comment`` is the raw text (hotline numbers still readable)."""
    text = _REASSURING_EN.sub(" ", comment)
    for phrase in REASSURING_ZH:
        text = text.replace(phrase, " ")
    complaint = _found(text, _COMPLAINT_EN, COMPLAINT_ZH)
    problem = _found(text, _PROBLEM_EN, PROBLEM_ZH)
    names_problem = bool(problem or complaint)
    return Assessment(
        negative=score <= NEGATIVE_SCORE_MAX or names_problem,
        names_problem=names_problem,
        describes_complaint=bool(complaint),
        matched=tuple(dict.fromkeys(complaint + problem))[:20],
    )
