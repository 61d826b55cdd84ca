//! What the patient tells the service in their own words: a few symptom questions on the upload
//! page ([`PatientAnswers`], shown to the GP and the consultant on the case) and, after the
//! outcome, feedback on the service ([`FeedbackRating`] with an optional comment). Feedback asks
//! nothing clinical.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most characters one answer or a feedback comment may hold.
pub const MAX_ANSWER_CHARS: usize = 1000;
pub const MAX_COMMENT_CHARS: usize = 2000;

/// The symptom questions, in the order the page asks them: (field, question, hint).
pub const QUESTIONS: [(&str, &str, &str); 4] = [
    ("how_long", "How long have you had it?", "For example, 3 weeks, or since last summer"),
    ("itch_or_pain", "Does it itch or hurt?", "For example, it itches at night, or it is sore when touched"),
    ("changing", "Is it changing?", "For example, getting bigger, changing colour, bleeding, or staying the same"),
    ("tried", "What have you tried for it?", "For example, creams or medicines, and whether they helped"),
];

/// The patient's answers to [`QUESTIONS`], each in their own words (empty when not answered).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatientAnswers {
    /// How long they have had it.
    pub how_long: String,
    /// Whether it itches or hurts.
    pub itch_or_pain: String,
    /// Whether it is changing (size, colour, bleeding).
    pub changing: String,
    /// What they have tried, and whether it helped.
    pub tried: String,
    /// When the patient last saved them.
    pub answered_at: DateTime<Utc>,
}

/// Why answers were refused: the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerProblem {
    pub field: &'static str,
    pub message: String,
}

impl PatientAnswers {
    /// Answers as typed (each trimmed); refused when every one is empty or one is too long.
    pub fn new(how_long: &str, itch_or_pain: &str, changing: &str, tried: &str, at: DateTime<Utc>) -> Result<PatientAnswers, AnswerProblem> {
        let values = [how_long.trim(), itch_or_pain.trim(), changing.trim(), tried.trim()];
        for ((field, question, _), v) in QUESTIONS.iter().zip(values) {
            if v.chars().count() > MAX_ANSWER_CHARS {
                return Err(AnswerProblem { field, message: format!("{question} Your answer must be {MAX_ANSWER_CHARS} characters or fewer") });
            }
        }
        if values.iter().all(|v| v.is_empty()) {
            return Err(AnswerProblem { field: QUESTIONS[0].0, message: "Answer at least one of the questions, or skip them".into() });
        }
        Ok(PatientAnswers { how_long: values[0].into(), itch_or_pain: values[1].into(), changing: values[2].into(), tried: values[3].into(), answered_at: at })
    }

    /// The answer to the question with this field name.
    pub fn get(&self, field: &str) -> &str {
        match field {
            "how_long" => &self.how_long,
            "itch_or_pain" => &self.itch_or_pain,
            "changing" => &self.changing,
            "tried" => &self.tried,
            _ => "",
        }
    }

    /// (question, answer) for each question, "Not answered" where empty.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        QUESTIONS
            .iter()
            .map(|(field, question, _)| {
                let a = self.get(field);
                (*question, if a.is_empty() { "Not answered".to_string() } else { a.to_string() })
            })
            .collect()
    }
}

/// The NHS Friends and Family Test's answer to "Overall, how was your experience of our service?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackRating {
    VeryGood,
    Good,
    Neither,
    Poor,
    VeryPoor,
    DontKnow,
}

impl FeedbackRating {
    pub const ALL: [FeedbackRating; 6] =
        [FeedbackRating::VeryGood, FeedbackRating::Good, FeedbackRating::Neither, FeedbackRating::Poor, FeedbackRating::VeryPoor, FeedbackRating::DontKnow];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackRating::VeryGood => "very_good",
            FeedbackRating::Good => "good",
            FeedbackRating::Neither => "neither",
            FeedbackRating::Poor => "poor",
            FeedbackRating::VeryPoor => "very_poor",
            FeedbackRating::DontKnow => "dont_know",
        }
    }

    pub fn parse(s: &str) -> Option<FeedbackRating> {
        FeedbackRating::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// As the question's answer reads.
    pub fn label(self) -> &'static str {
        match self {
            FeedbackRating::VeryGood => "Very good",
            FeedbackRating::Good => "Good",
            FeedbackRating::Neither => "Neither good nor poor",
            FeedbackRating::Poor => "Poor",
            FeedbackRating::VeryPoor => "Very poor",
            FeedbackRating::DontKnow => "Don't know",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_trimmed_and_need_one_and_not_too_much() {
        let now = Utc::now();
        let a = PatientAnswers::new("  3 weeks ", "", "bigger", "", now).unwrap();
        assert_eq!((a.how_long.as_str(), a.changing.as_str()), ("3 weeks", "bigger"));
        assert_eq!(a.summary()[1].1, "Not answered");
        assert_eq!(PatientAnswers::new(" ", "", "\n", "", now).unwrap_err().field, "how_long");
        let long = "x".repeat(MAX_ANSWER_CHARS + 1);
        assert_eq!(PatientAnswers::new("a", "", "", &long, now).unwrap_err().field, "tried");
    }

    #[test]
    fn ratings_round_trip() {
        for r in FeedbackRating::ALL {
            assert_eq!(FeedbackRating::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.as_str()));
        }
        assert_eq!(FeedbackRating::parse("excellent"), None);
    }
}
