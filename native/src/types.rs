//! Shared types of the native analyzer: roles, meanings, hits, topic specs and the core.
//!
//! Mirrors `monitor/domain/analysis/lexicon.py` (roles, `Meaning`, `Hit`) and the parts of
//! `monitor/domain/topics` (`TopicSpec`) that the rules read. The Python side builds the
//! phrase table and the topic specs and hands them over; nothing here reads files.
//!
//! All offsets are byte offsets into ASCII text: the native path only runs on statements
//! whose normalised text is ASCII (the Python analyzer handles the rest), so byte offsets
//! and Python's character offsets agree.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Role of a matched phrase (the `role` strings of lexicon.py, plus `permit` of rules.py).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum Role {
    Neg = 0,
    Cancel,
    Stance,
    Cue,
    Object,
    Reaffirm,
    Change,
    Hedge,
    Cond,
    CondCue,
    Sub,
    Bound,
    Comma,
    Amp,
    Threat,
    ReportNoun,
    OtherSource,
    ReportVerb,
    Dismiss,
    DismissVerb,
    Question,
    Own,
    Neutral,
    Operator,
    Evaluator,
    Pct,
    Governor,
    NegNoun,
    Reverser,
    Scenario,
    Permit,
}

impl Role {
    /// The Python role string ("neg", "stance", "rnoun", ...) -> Role.
    pub fn from_py(s: &str) -> Option<Role> {
        Some(match s {
            "neg" => Role::Neg,
            "cancel" => Role::Cancel,
            "stance" => Role::Stance,
            "cue" => Role::Cue,
            "object" => Role::Object,
            "reaffirm" => Role::Reaffirm,
            "change" => Role::Change,
            "hedge" => Role::Hedge,
            "cond" => Role::Cond,
            "condcue" => Role::CondCue,
            "sub" => Role::Sub,
            "bound" => Role::Bound,
            "comma" => Role::Comma,
            "amp" => Role::Amp,
            "threat" => Role::Threat,
            "rnoun" => Role::ReportNoun,
            "rsrc" => Role::OtherSource,
            "rverb" => Role::ReportVerb,
            "dismiss" => Role::Dismiss,
            "dverb" => Role::DismissVerb,
            "question" => Role::Question,
            "own" => Role::Own,
            "neutral" => Role::Neutral,
            "operator" => Role::Operator,
            "evaluator" => Role::Evaluator,
            "pct" => Role::Pct,
            "governor" => Role::Governor,
            "negnoun" => Role::NegNoun,
            "reverser" => Role::Reverser,
            "scenario" => Role::Scenario,
            "permit" => Role::Permit,
            _ => return None,
        })
    }
}

/// A set of roles (a bit per role): `Hit.roles` of lexicon.py.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Roles(pub u64);

impl Roles {
    pub const EMPTY: Roles = Roles(0);
    pub const fn of(roles: &[Role]) -> Roles {
        let mut bits = 0u64;
        let mut i = 0;
        while i < roles.len() {
            bits |= 1u64 << (roles[i] as u8);
            i += 1;
        }
        Roles(bits)
    }
    #[inline]
    pub fn has(self, r: Role) -> bool {
        self.0 & (1u64 << (r as u8)) != 0
    }
    #[inline]
    pub fn meets(self, other: Roles) -> bool {
        self.0 & other.0 != 0
    }
    #[inline]
    pub fn add(&mut self, r: Role) {
        self.0 |= 1u64 << (r as u8);
    }
}

/// Index of a topic in `Core::topics` (its id string is `Core::topics[i].id`).
pub type TopicId = u16;
/// Index of a sub-topic object name in `Core::objects` ("fighter_jets").
pub type ObjectId = u16;

/// What a matched phrase means (`Meaning` of lexicon.py). Equality as in Python's dataclass.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Meaning {
    pub role: Role,
    pub topic: Option<TopicId>,
    pub pol: i8,
    pub value: f64,
    pub obj: Option<ObjectId>,
}

/// One matched phrase (`Hit` of lexicon.py): `role` is the first meaning's role, `roles` all of them.
#[derive(Clone, Debug)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub meanings: Arc<[Meaning]>,
    pub role: Role,
    pub roles: Roles,
}

impl Hit {
    pub fn new(start: usize, end: usize, text: String, meanings: Arc<[Meaning]>) -> Hit {
        let role = meanings[0].role;
        let mut roles = Roles::EMPTY;
        for m in meanings.iter() {
            roles.add(m.role);
        }
        Hit { start, end, text, meanings, role, roles }
    }
}

/// Polarity as a sign: +1 pro, -1 contra.
pub type Pol = i8;
pub const PRO: Pol = 1;
pub const CONTRA: Pol = -1;

/// The parts of a topic spec the rules read (`TopicSpec` of monitor/domain/topics).
#[derive(Clone, Debug)]
pub struct TopicSpec {
    pub id: String,
    /// `spec.intensity.get(Polarity.PRO, 0.0)` and `.get(Polarity.CONTRA, 0.0)`
    pub intensity_pro: f64,
    pub intensity_contra: f64,
    pub threat: Pol,
    pub threat_explicit: bool,
    pub trigger_frame: bool,
    /// `spec.change`: None, or Some(PRO / CONTRA)
    pub change: Option<Pol>,
    /// `spec.magnitude == "percent"`
    pub percent: bool,
}

impl TopicSpec {
    #[inline]
    pub fn intensity(&self, pol: Pol) -> f64 {
        if pol > 0 {
            self.intensity_pro
        } else {
            self.intensity_contra
        }
    }
}

/// Modality of a claim.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Modality {
    Asserted,
    Hedged,
    Conditional,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Asserted => "asserted",
            Modality::Hedged => "hedged",
            Modality::Conditional => "conditional",
        }
    }
}

/// One claim as `rules._Raw` / `_to_claim` produce it (what Python turns into a `Claim`).
#[derive(Clone, Debug)]
pub struct RawClaim {
    /// "topic" or "topic:object"
    pub key: String,
    pub topic: TopicId,
    pub pol: Pol,
    pub explicit: bool,
    pub confidence: f64,
    pub intensity: f64,
    pub modality: Modality,
    /// None, "warning" or "explicit_threat"
    pub category: Option<&'static str>,
    pub pos: usize,
    pub sentence: String,
    pub cues: Vec<String>,
    pub neg_cues: Vec<String>,
    pub mod_cues: Vec<String>,
    pub magnitude: Option<f64>,
}

/// A relative claim (`Relation` of analysis/__init__.py).
#[derive(Clone, Debug)]
pub struct RelationOut {
    pub topic: String,
    /// "same" or "changed"
    pub relation: &'static str,
    pub cue: String,
    pub sentence: String,
}

/// What `RuleAnalyzer.analyze` returns (`Analysis`), before Python builds its models.
#[derive(Clone, Debug, Default)]
pub struct AnalysisOut {
    pub claims: Vec<RawClaim>,
    pub relations: Vec<RelationOut>,
    pub undecided: Vec<String>,
}

/// Everything the analysis reads, built once from what the Python `RuleAnalyzer` compiled.
pub struct Core {
    pub lexicon: crate::lexicon::Lexicon,
    pub topics: Vec<TopicSpec>,
    pub topic_index: HashMap<String, TopicId>,
    pub objects: Vec<String>,
    pub answers_no: HashSet<String>,
    pub answers_yes: HashSet<String>,
    /// `RuleAnalyzer._red_lines`: threat phrases that warn of retaliation in a sentence naming no topic
    pub red_lines: HashSet<String>,
    /// `RuleAnalyzer._threat_default`
    pub threat_default: Option<TopicId>,
}
