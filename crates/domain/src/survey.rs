//! Surveys: the questions, which answers are unhappy, what a one-click answer link stands for (signed and
//! checked by `secrets`), and the metrics (CSAT, NPS, felt-invisible rate, response rate). Pure: "now"
//! is an argument.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

/// What a survey asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyKind {
    /// Customer satisfaction, 1–5.
    Csat,
    /// Net promoter score, 0–10.
    Nps,
    /// "Have you ever felt ignored or invisible doing business with us?" 1 = yes, 0 = no.
    Invisible,
}

impl SurveyKind {
    pub fn parse(text: &str) -> Option<SurveyKind> {
        match text {
            "csat" => Some(SurveyKind::Csat),
            "nps" => Some(SurveyKind::Nps),
            "invisible" => Some(SurveyKind::Invisible),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyKind::Csat => "csat",
            SurveyKind::Nps => "nps",
            SurveyKind::Invisible => "invisible",
        }
    }
    pub fn default_question(self) -> &'static str {
        match self {
            SurveyKind::Csat => "How satisfied are you with how we looked after you?",
            SurveyKind::Nps => "How likely are you to recommend us to a friend or colleague?",
            SurveyKind::Invisible => {
                "Have you ever felt ignored or invisible doing business with us?"
            }
        }
    }
    /// The answers, in the order the email shows them: (score, label).
    pub fn answers(self) -> Vec<(u8, String)> {
        match self {
            SurveyKind::Csat => vec![
                (1, "1 · very unhappy".into()),
                (2, "2 · unhappy".into()),
                (3, "3 · okay".into()),
                (4, "4 · happy".into()),
                (5, "5 · very happy".into()),
            ],
            SurveyKind::Nps => (0..=10).map(|n| (n, n.to_string())).collect(),
            SurveyKind::Invisible => vec![(1, "Yes".into()), (0, "No".into())],
        }
    }
    pub fn accepts(self, score: u8) -> bool {
        match self {
            SurveyKind::Csat => (1..=5).contains(&score),
            SurveyKind::Nps => score <= 10,
            SurveyKind::Invisible => score <= 1,
        }
    }
    /// An answer that needs a person to follow up: CSAT ≤ 2, NPS ≤ 6, "yes, I felt invisible".
    pub fn is_unhappy(self, score: u8) -> bool {
        match self {
            SurveyKind::Csat => score <= 2,
            SurveyKind::Nps => score <= 6,
            SurveyKind::Invisible => score == 1,
        }
    }
}

/// A configured survey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Survey {
    pub name: String,
    pub kind: SurveyKind,
    pub question: String,
}

/// What an answer link stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyLink {
    pub customer: String,
    pub survey: String,
    /// The send (one survey message) the answer belongs to.
    pub send: String,
    pub expires: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is not valid")]
    Invalid,
    #[error("the link expired at {0}")]
    Expired(Timestamp),
}

/// One answer (the latest for its send) as the metrics see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub kind: SurveyKind,
    pub score: u8,
}

/// Survey figures for one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SurveyStats {
    pub sent: u64,
    pub answered: u64,
    /// answered / sent, in % (`None` when nothing was sent).
    pub response_rate: Option<f64>,
    pub csat_answers: u64,
    /// % of CSAT answers that are 4 or 5.
    pub csat: Option<f64>,
    pub nps_answers: u64,
    /// % promoters (9–10) minus % detractors (0–6), from −100 to 100.
    pub nps: Option<f64>,
    pub invisible_answers: u64,
    /// % of "felt invisible" answers that are yes.
    pub felt_invisible_rate: Option<f64>,
    /// Answers that opened a follow-up (CSAT ≤ 2, NPS ≤ 6, felt invisible).
    pub unhappy: u64,
    #[serde(skip)]
    csat_good: u64,
    #[serde(skip)]
    promoters: u64,
    #[serde(skip)]
    detractors: u64,
    #[serde(skip)]
    invisible_yes: u64,
}

fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

impl SurveyStats {
    pub fn add_sent(&mut self) {
        self.sent += 1;
        self.finish();
    }

    pub fn add_answer(&mut self, answer: &Answer) {
        self.answered += 1;
        if answer.kind.is_unhappy(answer.score) {
            self.unhappy += 1;
        }
        match answer.kind {
            SurveyKind::Csat => {
                self.csat_answers += 1;
                if answer.score >= 4 {
                    self.csat_good += 1;
                }
            }
            SurveyKind::Nps => {
                self.nps_answers += 1;
                if answer.score >= 9 {
                    self.promoters += 1;
                } else if answer.score <= 6 {
                    self.detractors += 1;
                }
            }
            SurveyKind::Invisible => {
                self.invisible_answers += 1;
                if answer.score == 1 {
                    self.invisible_yes += 1;
                }
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        self.response_rate = percent(self.answered, self.sent);
        self.csat = percent(self.csat_good, self.csat_answers);
        self.nps = percent(self.promoters, self.nps_answers)
            .zip(percent(self.detractors, self.nps_answers))
            .map(|(p, d)| p - d);
        self.felt_invisible_rate = percent(self.invisible_yes, self.invisible_answers);
    }
}

/// Stats per group key (e.g. per policy), plus the total under "all".
pub fn group_stats<'a>(
    sent: impl IntoIterator<Item = &'a str>,
    answers: impl IntoIterator<Item = (&'a str, Answer)>,
) -> BTreeMap<String, SurveyStats> {
    let mut out: BTreeMap<String, SurveyStats> = BTreeMap::new();
    for key in sent {
        out.entry(key.to_string()).or_default().add_sent();
    }
    for (key, answer) in answers {
        out.entry(key.to_string()).or_default().add_answer(&answer);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(kind: SurveyKind, scores: &[u8]) -> SurveyStats {
        let mut stats = SurveyStats::default();
        for &score in scores {
            stats.add_answer(&Answer { kind, score });
        }
        stats
    }

    #[test]
    fn nps_by_hand() {
        // 10 answers: promoters 9,10,10,9 (4); passives 7,8 (2); detractors 0,3,6,6 (4) → 40 % − 40 % = 0.
        let s = answers(SurveyKind::Nps, &[9, 10, 10, 9, 7, 8, 0, 3, 6, 6]);
        assert_eq!(s.nps, Some(0.0));
        assert_eq!(s.unhappy, 4);
        // 5 answers: 3 promoters, 1 passive, 1 detractor → 60 − 20 = 40.
        assert_eq!(answers(SurveyKind::Nps, &[10, 9, 9, 8, 2]).nps, Some(40.0));
        // All detractors: −100; all promoters: 100; only passives: 0.
        assert_eq!(answers(SurveyKind::Nps, &[0, 6]).nps, Some(-100.0));
        assert_eq!(answers(SurveyKind::Nps, &[9, 10]).nps, Some(100.0));
        assert_eq!(answers(SurveyKind::Nps, &[7, 8]).nps, Some(0.0));
    }

    #[test]
    fn csat_and_invisible_by_hand() {
        // 4 and 5 count as satisfied: 3 of 8 → 37.5 %.
        let s = answers(SurveyKind::Csat, &[5, 4, 4, 3, 3, 2, 1, 1]);
        assert_eq!(s.csat, Some(37.5));
        assert_eq!(s.unhappy, 3);
        let s = answers(SurveyKind::Invisible, &[1, 0, 0, 0]);
        assert_eq!(s.felt_invisible_rate, Some(25.0));
        assert_eq!(s.unhappy, 1);
    }

    #[test]
    fn empty_periods_have_no_rates() {
        let s = SurveyStats::default();
        assert_eq!(
            (s.csat, s.nps, s.felt_invisible_rate, s.response_rate),
            (None, None, None, None)
        );
        // Sent but unanswered: response rate 0, still no scores.
        let mut s = SurveyStats::default();
        s.add_sent();
        s.add_sent();
        assert_eq!(s.response_rate, Some(0.0));
        assert_eq!(s.csat, None);
        s.add_answer(&Answer {
            kind: SurveyKind::Csat,
            score: 5,
        });
        assert_eq!(s.response_rate, Some(50.0));
        assert_eq!(s.csat, Some(100.0));
        assert_eq!(s.nps, None);
    }

    #[test]
    fn grouping_counts_each_group_apart() {
        let groups = group_stats(
            ["a", "a", "b"],
            [
                (
                    "a",
                    Answer {
                        kind: SurveyKind::Csat,
                        score: 1,
                    },
                ),
                (
                    "b",
                    Answer {
                        kind: SurveyKind::Csat,
                        score: 5,
                    },
                ),
            ],
        );
        assert_eq!(groups["a"].response_rate, Some(50.0));
        assert_eq!(groups["a"].csat, Some(0.0));
        assert_eq!(groups["b"].csat, Some(100.0));
    }

    #[test]
    fn scores_and_unhappiness() {
        assert!(
            SurveyKind::Csat.accepts(1)
                && !SurveyKind::Csat.accepts(0)
                && !SurveyKind::Csat.accepts(6)
        );
        assert!(SurveyKind::Nps.accepts(0) && !SurveyKind::Nps.accepts(11));
        assert!(SurveyKind::Invisible.is_unhappy(1) && !SurveyKind::Invisible.is_unhappy(0));
        assert!(SurveyKind::Nps.is_unhappy(6) && !SurveyKind::Nps.is_unhappy(7));
        assert!(SurveyKind::Csat.is_unhappy(2) && !SurveyKind::Csat.is_unhappy(3));
    }
}
