//! Surveys: the questions, which answers are unhappy, what a one-click answer link stands for (signed and
//! checked by `secrets`), and the metrics (CSAT, NPS, felt-invisible rate, response rate; a
//! `customer.feels_ignored` tap counts as a "yes, I felt invisible"). Pure: "now" is an argument.

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

/// The event a customer records by tapping "Nobody got back to me" (on their status page, or in a message's
/// footer).
///
/// The survey figures count it as an unprompted answer to "have you ever felt invisible with us?": one
/// "yes" of kind [`SurveyKind::Invisible`] at the tap's moment, in the felt-invisible rate's numerator and
/// denominator and among the `unhappy` answers (it opens a follow-up like an unhappy answer does). It is
/// not an answer to a sent survey, so it is counted in [`SurveyStats::feels_ignored`], not in `answered`,
/// and the response rate does not change. It has no send, policy, channel or team: it is grouped under the
/// survey [`FEELS_IGNORED_SURVEY`] and under "-" by policy, channel and team. Taps by one customer on one
/// UTC day count once (the first): tapping again is the same complaint, not another answer.
pub const FEELS_IGNORED: &str = "customer.feels_ignored";

/// The survey name `customer.feels_ignored` taps are grouped under (`by=survey`).
pub const FEELS_IGNORED_SURVEY: &str = "feels-ignored";

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
    /// Answers that opened a follow-up (CSAT ≤ 2, NPS ≤ 6, felt invisible), taps included.
    pub unhappy: u64,
    /// "Nobody got back to me" taps ([`FEELS_IGNORED`]): each a "yes" among the `invisible_answers`, not an
    /// answer to a sent survey (not in `answered`, so not in the response rate).
    pub feels_ignored: u64,
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

    /// A customer tapped "Nobody got back to me" ([`FEELS_IGNORED`]): a "yes, I felt invisible" that no
    /// survey asked for.
    pub fn add_feels_ignored(&mut self) {
        self.feels_ignored += 1;
        self.invisible_answers += 1;
        self.invisible_yes += 1;
        self.unhappy += 1;
        self.finish();
    }

    /// Adds another group's figures to these (e.g. every period of a chart into its total).
    pub fn merge(&mut self, other: &SurveyStats) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.csat_answers += other.csat_answers;
        self.nps_answers += other.nps_answers;
        self.invisible_answers += other.invisible_answers;
        self.unhappy += other.unhappy;
        self.feels_ignored += other.feels_ignored;
        self.csat_good += other.csat_good;
        self.promoters += other.promoters;
        self.detractors += other.detractors;
        self.invisible_yes += other.invisible_yes;
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

/// Stats per group key (e.g. per policy): sends, answers (the latest per send) and
/// [`FEELS_IGNORED`] taps (already one per customer and UTC day), each under its key.
pub fn group_stats<'a>(
    sent: impl IntoIterator<Item = &'a str>,
    answers: impl IntoIterator<Item = (&'a str, Answer)>,
    feels_ignored: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, SurveyStats> {
    let mut out: BTreeMap<String, SurveyStats> = BTreeMap::new();
    for key in sent {
        out.entry(key.to_string()).or_default().add_sent();
    }
    for (key, answer) in answers {
        out.entry(key.to_string()).or_default().add_answer(&answer);
    }
    for key in feels_ignored {
        out.entry(key.to_string()).or_default().add_feels_ignored();
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
            [],
        );
        assert_eq!(groups["a"].response_rate, Some(50.0));
        assert_eq!(groups["a"].feels_ignored, 0);
        assert_eq!(groups["a"].csat, Some(0.0));
        assert_eq!(groups["b"].csat, Some(100.0));
    }

    #[test]
    fn a_feels_ignored_tap_is_a_yes_that_no_survey_asked_for() {
        // One survey sent and answered "no", three sent unanswered; then two taps: 2 yes of 3 invisible
        // answers (66.7 %), and the response rate stays 1 of 4.
        let groups = group_stats(
            ["a", "a", "a", "a"],
            [(
                "a",
                Answer {
                    kind: SurveyKind::Invisible,
                    score: 0,
                },
            )],
            ["a", "a"],
        );
        let a = &groups["a"];
        assert_eq!((a.sent, a.answered, a.response_rate), (4, 1, Some(25.0)));
        assert_eq!((a.invisible_answers, a.feels_ignored, a.unhappy), (3, 2, 2));
        assert_eq!(a.felt_invisible_rate, Some(200.0 / 3.0));
        assert_eq!((a.csat, a.nps), (None, None));
        // Taps alone: nothing sent, so no response rate; every answer is a yes.
        let taps = group_stats([], [], ["b"]);
        assert_eq!(taps["b"].response_rate, None);
        assert_eq!(taps["b"].felt_invisible_rate, Some(100.0));
        assert_eq!(taps["b"].answered, 0);
    }

    #[test]
    fn merged_groups_equal_one_group_of_everything() {
        let answer = |kind, score| Answer { kind, score };
        let everything = [
            ("x", answer(SurveyKind::Csat, 5)),
            ("y", answer(SurveyKind::Csat, 2)),
            ("x", answer(SurveyKind::Nps, 10)),
            ("y", answer(SurveyKind::Nps, 3)),
            ("y", answer(SurveyKind::Invisible, 0)),
        ];
        let split = group_stats(["x", "y", "y"], everything.clone(), ["y"]);
        let one = group_stats(
            ["all", "all", "all"],
            everything.map(|(_, a)| ("all", a)),
            ["all"],
        );
        let mut merged = SurveyStats::default();
        for stats in split.values() {
            merged.merge(stats);
        }
        assert_eq!(merged, one["all"]);
        assert_eq!(merged.csat, Some(50.0));
        assert_eq!(merged.nps, Some(0.0));
        assert_eq!(merged.felt_invisible_rate, Some(50.0));
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
