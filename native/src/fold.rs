//! The native fold: `Detector.step(state, event) -> (new_state, alerts)` for the default engine.
//!
//! A port of the fold of `monitor/domain/detector.py` and `monitor/domain/stance.py` (the
//! seen-window fingerprint, counterpart keying of `monitor/domain/counterparts.py`,
//! `merge_claims`, `decide`, the alerts), which stay the specification: `tests/test_native_fold.py`
//! runs the same statements through both and compares every state and alert. The claims of the
//! native analysis (`rules::analyze`) are folded here without becoming Python objects; only what
//! the new state holds (topic stances, statement references, alerts, the state) is built, the way
//! `monitor/domain/fast.py` builds models: the class's `tp_alloc` (what `object.__new__` calls),
//! then `__dict__` and pydantic's three slots through their descriptors.
//!
//! What is built is equal to what the Python fold builds and serialises to the same JSON. Three
//! things differ where neither equality nor JSON can see them, for speed:
//!
//! - the objects the fold builds are left out of the cyclic garbage collector (`untrack`): no
//!   reference cycle can pass through them;
//! - all stances, references and alerts share one `__pydantic_fields_set__` per model (`fields`),
//!   which frozen models never change in place;
//! - strings written again and again (cues, stance keys) are one object each (`string`).
//!
//! `step` returns None when it cannot give exactly what the Python fold gives (text that is not
//! ASCII after normalisation, a state of another class, a stored stance holding values the engine
//! does not write): the caller then runs the Python fold. It never returns None after building
//! anything the caller sees.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFrozenSet, PyList, PySet, PyString, PyTuple, PyType};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use crate::types::{Modality, RawClaim, CONTRA, PRO};
use crate::PyCore;

// -- small helpers -------------------------------------------------------------------------------

/// `\w` on an ASCII byte.
#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `str.isspace` on one character (Python counts U+001C..U+001F as whitespace, Rust does not).
#[inline]
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `round(x, 3)` (see `rules::py_round`, of which this is a copy for three digits).
fn py_round3(x: f64) -> f64 {
    let scale = 1000.0;
    let y = x * scale;
    if y.abs() < 1e9 {
        let floor = y.floor();
        let frac = y - floor;
        if (frac - 0.5).abs() > 1e-6 {
            let k = if frac < 0.5 { floor } else { floor + 1.0 };
            return if k == 0.0 { 0.0f64.copysign(x) } else { k / scale };
        }
    }
    format!("{x:.3}").parse().expect("a formatted float parses back")
}

/// `f"{x:+.1f}"` (Rust's fixed formatting rounds the exact binary value half to even, as Python).
fn plus1(x: f64) -> String {
    if x.is_nan() {
        return "+nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+inf".into() } else { "-inf".into() };
    }
    format!("{x:+.1}")
}

/// `f"{x:g}"`: six significant digits, trailing zeros dropped, exponent outside 1e-4..1e6.
fn fmt_g(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{x:.5e}"); // correctly rounded to 6 significant digits: "1.23456e5"
    let (mantissa, exp) = sci.split_once('e').expect("an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    if (-4..6).contains(&exp) {
        let fixed = format!("{x:.*}", (5 - exp) as usize);
        strip_zeros(&fixed).to_owned()
    } else {
        let m = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `text[:limit - 1].rstrip() + "…"` when `text` is longer than `limit` characters (`_clip`).
pub(crate) fn clip(text: &str, limit: usize) -> Option<String> {
    if text.is_ascii() {
        if text.len() <= limit {
            return None;
        }
        let head = text[..limit.saturating_sub(1)].trim_end_matches(py_isspace);
        return Some(format!("{head}\u{2026}"));
    }
    if text.chars().count() <= limit {
        return None;
    }
    let end = text.char_indices().nth(limit.saturating_sub(1)).map_or(text.len(), |(i, _)| i);
    Some(format!("{}\u{2026}", text[..end].trim_end_matches(py_isspace)))
}

/// `ids.digest(*parts, size)`: sha256 over the length-prefixed UTF-8 parts, hex, truncated.
pub(crate) fn digest(parts: &[&[u8]], size: usize) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part);
    }
    let out = h.finalize();
    let mut hex = String::with_capacity(64);
    for b in out.iter() {
        hex.push(char::from_digit(u32::from(b >> 4), 16).expect("a hex digit"));
        hex.push(char::from_digit(u32::from(b & 15), 16).expect("a hex digit"));
    }
    hex.truncate(size);
    hex
}

/// `digest(fingerprint_text(text), size=16)` for ASCII text: the words (`\w+`) of the lowered
/// text joined by single spaces.
pub fn seen_key(text: &str) -> String {
    debug_assert!(text.is_ascii());
    let bytes = text.as_bytes();
    // every space written stands for at least one byte that is not: the words fit in the text's
    // length, plus one for the unconditional write of the last byte
    let mut stack = [0u8; 1024];
    let mut heap = Vec::new();
    let words: &mut [u8] = if bytes.len() < stack.len() {
        &mut stack
    } else {
        heap.resize(bytes.len() + 1, 0u8);
        &mut heap
    };
    let mut n = 0;
    let mut in_word = false;
    for &b in bytes {
        let w = WORD_LOWER[b as usize];
        let is_word = w != 0;
        if is_word && !in_word && n > 0 {
            // SAFETY: n <= the bytes read so far, less one (see above)
            unsafe { *words.get_unchecked_mut(n) = b' ' };
            n += 1;
        }
        // SAFETY: n <= the bytes read so far < words.len()
        unsafe { *words.get_unchecked_mut(n) = w };
        n += usize::from(is_word);
        in_word = is_word;
    }
    digest(&[&words[..n]], 16)
}

/// Per byte: its lowercase form when it is an ASCII word character (`\w`), else 0.
static WORD_LOWER: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_uppercase() {
            c + 32
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' {
            c
        } else {
            0
        };
        b += 1;
    }
    t
};

/// The speaker's words as `RuleAnalyzer.analyze` takes them, for an ASCII speaker:
/// `frozenset(w.lower().strip(".,") for w in speaker.split())`.
fn speaker_parts(speaker: &str) -> HashSet<String> {
    speaker
        .split(|c: char| py_isspace(c))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase().trim_matches(|c| c == '.' || c == ',').to_owned())
        .collect()
}

// -- counterparts ----------------------------------------------------------------------------

/// The gazetteer of `monitor/domain/counterparts.py` (`Counterparts`), for ASCII text.
pub struct Gazetteer {
    /// per first byte: (name, state), longest first
    by_first: Vec<Vec<(Vec<u8>, u16)>>,
    /// state ids and display names, by state number
    ids: Vec<String>,
    display: Vec<String>,
    actor_words: FxHashMap<String, u16>,
    /// (prefix, "_prefix", state)
    actor_prefixes: Vec<(String, String, u16)>,
}

impl Gazetteer {
    /// From `Counterparts`' tables: `by_name` (name -> state, in dict order), `names` (state ->
    /// display name), `actor_words` (word -> state), `actor_prefixes` ([(prefix, state)]).
    pub fn new(
        by_name: Vec<(String, String)>,
        names: Vec<(String, String)>,
        actor_words: Vec<(String, String)>,
        actor_prefixes: Vec<(String, String)>,
    ) -> PyResult<Gazetteer> {
        let mut ids: Vec<String> = Vec::new();
        let mut index: HashMap<String, u16> = HashMap::new();
        let mut number = |id: &str, ids: &mut Vec<String>| -> PyResult<u16> {
            if let Some(&k) = index.get(id) {
                return Ok(k);
            }
            let k = u16::try_from(ids.len()).map_err(|_| PyValueError::new_err("too many states"))?;
            index.insert(id.to_owned(), k);
            ids.push(id.to_owned());
            Ok(k)
        };
        let mut by_first: Vec<Vec<(Vec<u8>, u16)>> = vec![Vec::new(); 256];
        for (name, cid) in &by_name {
            if name.is_empty() {
                return Err(PyValueError::new_err("an empty state name"));
            }
            let k = number(cid, &mut ids)?;
            by_first[name.as_bytes()[0] as usize].push((name.as_bytes().to_vec(), k));
        }
        for group in &mut by_first {
            // longest first, as the regex tries them (stable: equal lengths keep dict order)
            group.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        }
        let mut display_of: HashMap<u16, String> = HashMap::new();
        for (cid, name) in &names {
            let k = number(cid, &mut ids)?;
            display_of.insert(k, name.clone());
        }
        let mut words = FxHashMap::default();
        for (word, cid) in &actor_words {
            let k = number(cid, &mut ids)?;
            words.insert(word.clone(), k);
        }
        let mut prefixes = Vec::new();
        for (prefix, cid) in &actor_prefixes {
            prefixes.push((prefix.clone(), format!("_{prefix}"), number(cid, &mut ids)?));
        }
        let display =
            (0..ids.len()).map(|k| display_of.get(&(k as u16)).cloned().unwrap_or_else(|| ids[k].clone())).collect();
        Ok(Gazetteer { by_first, ids, display, actor_words: words, actor_prefixes: prefixes })
    }

    /// `Counterparts.own(actor)` for an ASCII actor id.
    pub fn own(&self, actor: &str) -> Option<u16> {
        let lowered;
        let low = if actor.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = actor.to_ascii_lowercase();
            lowered.as_str()
        } else {
            actor
        };
        for (prefix, under_prefix, cid) in &self.actor_prefixes {
            if low == prefix
                || (low.starts_with(prefix.as_str()) && low[prefix.len()..].starts_with('_'))
                || low.contains(under_prefix.as_str())
            {
                return Some(*cid);
            }
        }
        low.split('_').find_map(|w| self.actor_words.get(w).copied())
    }

    /// Whether a name may start at `i`: `(?<![\w.])(?<!\b[Ii]n )(?<!\b[Aa]t )`.
    #[inline]
    fn may_start(b: &[u8], i: usize) -> bool {
        if i > 0 && (is_word(b[i - 1]) || b[i - 1] == b'.') {
            return false;
        }
        if i >= 3 && b[i - 1] == b' ' {
            let w = &b[i - 3..i - 1];
            if (w == b"In" || w == b"in" || w == b"At" || w == b"at") && (i == 3 || !is_word(b[i - 4])) {
                return false;
            }
        }
        true
    }

    /// `Counterparts.counterpart(sentence, own)` for an ASCII sentence: the one state named other
    /// than `own`, None when none or several. The names are found as `re.findall` finds them:
    /// leftmost, the longest name that ends a word, optionally followed by "'s", no overlaps.
    pub fn counterpart(&self, sentence: &str, own: Option<u16>) -> Option<u16> {
        let b = sentence.as_bytes();
        let n = b.len();
        let mut found: Option<u16> = None;
        let mut i = 0;
        while i < n {
            let group = &self.by_first[b[i] as usize];
            if group.is_empty() || !Self::may_start(b, i) {
                i += 1;
                continue;
            }
            let mut matched = None;
            for (name, cid) in group {
                if b[i..].starts_with(name) {
                    let e = i + name.len();
                    if e == n || !is_word(b[e]) {
                        matched = Some((e, *cid));
                        break;
                    }
                }
            }
            let Some((e, cid)) = matched else {
                i += 1;
                continue;
            };
            if Some(cid) != own && Some(cid) != found {
                if found.is_some() {
                    return None; // a second state
                }
                found = Some(cid);
            }
            i = if b[e..].starts_with(b"'s") && (e + 2 == n || !is_word(b[e + 2])) { e + 2 } else { e };
        }
        found
    }
}

// -- the fold --------------------------------------------------------------------------------

/// `EngineConfig`'s thresholds.
#[derive(Clone, Copy)]
pub(crate) struct Cfg {
    pub(crate) escalation_threshold: f64,
    pub(crate) escalation_floor: f64,
    pub(crate) magnitude_ratio: f64,
    pub(crate) magnitude_min_step: f64,
    pub(crate) min_confidence: f64,
    pub(crate) prior_min_confidence: f64,
    pub(crate) escalation_min_confidence: f64,
    pub(crate) seen_window: usize,
    pub(crate) quote_chars: usize,
}

/// Per topic of the core (by `TopicId`): what the fold and the alerts read.
pub(crate) struct TopicInfo {
    /// `analyzer.topic_name(id)`
    pub(crate) name: String,
    /// rank of `analyzer.topic_severity(id)` (0 low .. 3 critical)
    pub(crate) severity: i64,
    /// kept per counterpart state
    pub(crate) tracked: bool,
    /// its family in the topic pack (an index into the fold's families), if any
    pub(crate) family: Option<usize>,
}

/// Interned attribute and field names.
struct Names {
    dict: Py<PyString>,
    fields_set: Py<PyString>,
    private: Py<PyString>,
    // event and state
    schema_version: Py<PyString>,
    id: Py<PyString>,
    actor: Py<PyString>,
    speaker: Py<PyString>,
    text: Py<PyString>,
    published_at: Py<PyString>,
    source_url: Py<PyString>,
    topics: Py<PyString>,
    seen: Py<PyString>,
    statements: Py<PyString>,
    undecided: Py<PyString>,
    // stance
    topic: Py<PyString>,
    polarity: Py<PyString>,
    intensity: Py<PyString>,
    category: Py<PyString>,
    confidence: Py<PyString>,
    basis: Py<PyString>,
    support: Py<PyString>,
    last_statement_id: Py<PyString>,
    cues: Py<PyString>,
    magnitude: Py<PyString>,
    modality: Py<PyString>,
    evidence: Py<PyString>,
    // statement ref and alert
    quote: Py<PyString>,
    kind: Py<PyString>,
    topic_name: Py<PyString>,
    statement: Py<PyString>,
    prior: Py<PyString>,
    severity: Py<PyString>,
    explanation: Py<PyString>,
    negation_cues: Py<PyString>,
    modality_cues: Py<PyString>,
    prior_polarity: Py<PyString>,
    new_polarity: Py<PyString>,
    prior_intensity: Py<PyString>,
    new_intensity: Py<PyString>,
    engine: Py<PyString>,
    year: Py<PyString>,
    month: Py<PyString>,
    day: Py<PyString>,
    date_format: Py<PyString>,
}

impl Names {
    fn new(py: Python<'_>) -> Names {
        let s = |n: &str| PyString::intern(py, n).unbind();
        Names {
            dict: s("__dict__"),
            fields_set: s("__pydantic_fields_set__"),
            private: s("__pydantic_private__"),
            schema_version: s("schema_version"),
            id: s("id"),
            actor: s("actor"),
            speaker: s("speaker"),
            text: s("text"),
            published_at: s("published_at"),
            source_url: s("source_url"),
            topics: s("topics"),
            seen: s("seen"),
            statements: s("statements"),
            undecided: s("undecided"),
            topic: s("topic"),
            polarity: s("polarity"),
            intensity: s("intensity"),
            category: s("category"),
            confidence: s("confidence"),
            basis: s("basis"),
            support: s("support"),
            last_statement_id: s("last_statement_id"),
            cues: s("cues"),
            magnitude: s("magnitude"),
            modality: s("modality"),
            evidence: s("evidence"),
            quote: s("quote"),
            kind: s("kind"),
            topic_name: s("topic_name"),
            statement: s("statement"),
            prior: s("prior"),
            severity: s("severity"),
            explanation: s("explanation"),
            negation_cues: s("negation_cues"),
            modality_cues: s("modality_cues"),
            prior_polarity: s("prior_polarity"),
            new_polarity: s("new_polarity"),
            prior_intensity: s("prior_intensity"),
            new_intensity: s("new_intensity"),
            engine: s("engine"),
            year: s("year"),
            month: s("month"),
            day: s("day"),
            date_format: s("%Y-%m-%d"),
        }
    }
}

/// The Python classes, enum members and helpers the fold builds with.
pub(crate) struct Objects {
    /// `StanceState`, `TopicStance`, `StatementRef`, `Alert` (by `Model`)
    pub(crate) classes: [Py<PyType>; 4],
    /// their `tp_alloc` (what `object.__new__` calls)
    pub(crate) allocs: [ffi::allocfunc; 4],
    /// their fields in declaration order, each mapped to None: a new instance's `__dict__` is a
    /// copy of it, filled in (the dict is sized once, its keys in the order of the JSON)
    pub(crate) templates: [Py<PyDict>; 4],
    pub(crate) pro: Py<PyAny>,
    pub(crate) contra: Py<PyAny>,
    /// Modality members: asserted, hedged, conditional
    pub(crate) modalities: [Py<PyAny>; 3],
    /// AlertKind members: contradiction, escalation
    pub(crate) kinds: [Py<PyAny>; 2],
    /// Severity members by rank
    pub(crate) severities: [Py<PyAny>; 4],
    /// the `__pydantic_fields_set__` of every `TopicStance`, `StatementRef` and `Alert` the fold
    /// builds (one set each, shared: see `PyFold::fields`), the fields a step sets on a state, and
    /// the fields set of a state after a step from `StanceState.empty` (shared likewise)
    pub(crate) stance_fields: Py<PySet>,
    pub(crate) ref_fields: Py<PySet>,
    pub(crate) alert_fields: Py<PySet>,
    pub(crate) step_fields: Py<PyFrozenSet>,
    pub(crate) state_fields: Py<PySet>,
    /// `{"statements"}`
    pub(crate) statements_field: Py<PyFrozenSet>,
    pub(crate) schema_version: Py<PyAny>,
    pub(crate) engine: Py<PyString>,
    pub(crate) warning: Py<PyString>,
    pub(crate) explicit_threat: Py<PyString>,
    /// `text -> digest(fingerprint_text(text), size=16)` for non-ASCII text
    pub(crate) seen_key: Py<PyAny>,
    /// `text -> text.normalize_any(text)[0]`
    pub(crate) normalize_any: Py<PyAny>,
    /// `datetime.datetime`
    pub(crate) datetime: Py<PyType>,
    /// `speaker -> [parts]` for a non-ASCII speaker
    pub(crate) speaker_parts: Py<PyAny>,
}

/// The models the fold builds (indexes of `Objects::classes`).
#[derive(Clone, Copy)]
enum Model {
    State = 0,
    Stance = 1,
    Ref = 2,
    Alert = 3,
}

/// The fields of each model in declaration order, as the fold fills them (checked against the
/// models' own when the fold is built).
const MODEL_FIELDS: [&[&str]; 4] = [
    &["schema_version", "actor", "topics", "seen", "statements", "undecided"],
    &[
        "topic",
        "polarity",
        "intensity",
        "category",
        "confidence",
        "basis",
        "support",
        "last_statement_id",
        "cues",
        "magnitude",
        "modality",
        "evidence",
    ],
    &["id", "speaker", "quote", "source_url", "published_at"],
    &[
        "schema_version",
        "id",
        "kind",
        "actor",
        "topic",
        "topic_name",
        "statement",
        "prior",
        "severity",
        "confidence",
        "explanation",
        "cues",
        "negation_cues",
        "modality_cues",
        "prior_polarity",
        "new_polarity",
        "prior_intensity",
        "new_intensity",
        "engine",
    ],
];

/// What a claim did to the stance on its key (`stance.Outcome`, the ones the fold tells apart).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Contradiction,
    Escalation,
    Other,
}

/// An alert candidate: a contradiction or escalation of an existing stance.
struct Candidate<'py> {
    escalation: bool,
    reason: String,
    claim: usize,
    key: String,
    prior: Bound<'py, PyAny>,
    p: Bound<'py, PyDict>,
}

/// One alert as `Detector._alert` makes it, before it is built (`item`: what it is made from).
pub(crate) struct Plan<T> {
    pub(crate) escalation: bool,
    pub(crate) name: String,
    pub(crate) rank: usize,
    pub(crate) confidence: f64,
    pub(crate) explanation: String,
    pub(crate) item: T,
}

type AlertPlan<'a, 'py> = Plan<&'a Candidate<'py>>;

/// Who said a statement, and its date (`%Y-%m-%d`), as an alert's explanation names them.
pub(crate) struct Said<'a> {
    pub(crate) speaker: &'a str,
    pub(crate) date: &'a str,
}

/// `Detector._alerts`' choice: per kind (contradictions first), the plan of the greatest (severity,
/// confidence), the first on a tie, with its explanation naming the other topics in order.
pub(crate) fn choose<T>(plans: Vec<Plan<T>>) -> Vec<(Plan<T>, String)> {
    let mut best: [Option<(Plan<T>, Vec<String>)>; 2] = [None, None];
    for plan in plans {
        let slot = &mut best[usize::from(plan.escalation)];
        match slot {
            None => *slot = Some((plan, Vec::new())),
            Some((current, others)) => {
                if (plan.rank, plan.confidence) > (current.rank, current.confidence) {
                    let mut names = vec![std::mem::take(&mut current.name)];
                    names.append(others);
                    *slot = Some((plan, names));
                } else {
                    others.push(plan.name);
                }
            }
        }
    }
    best.into_iter()
        .flatten()
        .map(|(mut plan, others)| {
            let explanation = if others.is_empty() {
                std::mem::take(&mut plan.explanation)
            } else {
                format!("{} Also: {}.", plan.explanation, others.join(", "))
            };
            (plan, explanation)
        })
        .collect()
}

/// Why returning None: the Python fold must handle this step.
pub(crate) struct Fallback;

type Step<'py> = (Bound<'py, PyAny>, Bound<'py, PyList>);

#[inline]
fn modality_rank(m: Modality) -> i32 {
    match m {
        Modality::Asserted => 2,
        Modality::Conditional => 1,
        Modality::Hedged => 0,
    }
}

#[inline]
fn category_rank(c: Option<&str>) -> i32 {
    match c {
        Some("warning") => 1,
        Some("explicit_threat") => 2,
        _ => 0,
    }
}

/// What was made for `key` before (statement references are made once per sentence), else
/// `make()`, kept for the next time.
pub(crate) fn once_per<'k, T: Clone, E>(
    made: &mut Vec<(&'k str, T)>,
    key: &'k str,
    make: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    if let Some((_, found)) = made.iter().find(|(k, _)| *k == key) {
        return Ok(found.clone());
    }
    let new = make()?;
    made.push((key, new.clone()));
    Ok(new)
}

/// `_union`: the distinct items in order, at most 8.
fn union<'a>(groups: impl Iterator<Item = &'a Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        for x in g {
            if !out.contains(x) {
                out.push(x.clone());
            }
        }
    }
    out.truncate(8);
    out
}

/// `stance.merge_claims`: one claim for several claims of one statement on one key.
fn merge_claims(group: &[&RawClaim]) -> Option<RawClaim> {
    let (mut pro, mut contra) = (0.0f64, 0.0f64);
    let mut first = true;
    for c in group {
        let mut w = c.confidence * (if c.explicit { 1.0 } else { 0.5 }) * (if first { 1.1 } else { 1.0 });
        w *= if c.modality == Modality::Hedged { 0.5 } else { 1.0 };
        if c.pol == PRO {
            pro += w;
        } else {
            contra += w;
        }
        first = false;
    }
    if pro == contra {
        return None;
    }
    let (pol, won, lose) = if pro > contra { (PRO, pro, contra) } else { (CONTRA, contra, pro) };
    let share = won / (won + lose);
    let win: Vec<&RawClaim> = group.iter().copied().filter(|c| c.pol == pol).collect();
    // max(win, key=_lead_key): the first of the greatest (explicit, modality rank, confidence)
    let mut lead = win[0];
    for &c in &win[1..] {
        let better = (c.explicit, modality_rank(c.modality)) > (lead.explicit, modality_rank(lead.modality))
            || ((c.explicit, modality_rank(c.modality)) == (lead.explicit, modality_rank(lead.modality))
                && c.confidence > lead.confidence);
        if better {
            lead = c;
        }
    }
    let firm: Vec<&RawClaim> = {
        let f: Vec<&RawClaim> = win.iter().copied().filter(|c| c.explicit || c.confidence >= 0.45).collect();
        if f.is_empty() {
            win.clone()
        } else {
            f
        }
    };
    let mut modality = firm[0].modality;
    for c in &firm[1..] {
        if modality_rank(c.modality) > modality_rank(modality) {
            modality = c.modality;
        }
    }
    let mut confidence: Option<f64> = None;
    for c in firm.iter().filter(|c| c.modality == modality) {
        if confidence.is_none_or(|m| c.confidence > m) {
            confidence = Some(c.confidence);
        }
    }
    let mut confidence = confidence.expect("the firmest modality is some claim's");
    if lose != 0.0 {
        confidence *= 0.6 + 0.4 * share;
    }
    let mut magnitude: Option<f64> = None;
    for c in &win {
        if let Some(m) = c.magnitude {
            if magnitude.is_none_or(|best| m > best) {
                magnitude = Some(m);
            }
        }
    }
    let mut intensity = win[0].intensity;
    for c in &win[1..] {
        if c.intensity < intensity {
            intensity = c.intensity;
        }
    }
    let mut category = win[0].category;
    for c in &win[1..] {
        if category_rank(c.category) > category_rank(category) {
            category = c.category;
        }
    }
    let mut merged = lead.clone();
    merged.intensity = intensity;
    merged.modality = modality;
    merged.confidence = py_round3(confidence);
    merged.explicit = win.iter().any(|c| c.explicit);
    merged.magnitude = magnitude;
    merged.category = category;
    merged.cues = union(win.iter().map(|c| &c.cues));
    merged.neg_cues = union(win.iter().map(|c| &c.neg_cues));
    merged.mod_cues = union(win.iter().filter(|c| c.modality == modality).map(|c| &c.mod_cues));
    Some(merged)
}

/// `_escalation(p, claim, cfg)`: why `claim` hardens the stance `prior` (None when it does not).
pub(crate) fn escalation(cfg: &Cfg, prior: &Prior, claim: &RawClaim) -> Option<String> {
    let intensity = claim.intensity;
    let prior_intensity = prior.intensity;
    let floor = cfg.escalation_floor;
    if claim.pol == PRO {
        if let (Some(before), Some(now)) = (prior.magnitude, claim.magnitude) {
            if now >= before * cfg.magnitude_ratio && now - before >= cfg.magnitude_min_step {
                return Some(format!("rate raised from {}% to {}%", fmt_g(before), fmt_g(now)));
            }
        }
    }
    let drop = prior_intensity - intensity;
    if drop >= cfg.escalation_threshold && intensity <= floor {
        return Some(format!("intensity {} -> {} on the conflict scale", plus1(prior_intensity), plus1(intensity)));
    }
    let p_category = prior.category.as_deref();
    if category_rank(claim.category) > category_rank(p_category) && drop >= 1.0 && intensity <= floor {
        let before = match p_category {
            None | Some("") => "plain statement",
            Some(c) => c,
        };
        let now = claim.category.unwrap_or("None");
        return Some(format!("harder category: {before} -> {now}"));
    }
    if modality_rank(claim.modality) > modality_rank(prior.modality) && drop >= 1.0 && intensity <= floor - 1.0 {
        return Some(format!(
            "{} warning became a firm hostile act ({} -> {})",
            prior.modality.as_str(),
            plus1(prior_intensity),
            plus1(intensity)
        ));
    }
    None
}

/// What `stance.decide` makes of the stance on a claim's key.
pub(crate) enum Make {
    /// a new stance from the claim alone (support 1), at this confidence if not the claim's
    Fresh(Option<f64>),
    /// a new stance from the claim, merged with the prior's (support + 1, magnitude, confidence)
    Merged,
    /// the prior, with one more statement of evidence (and support, if true)
    Noted(bool),
}

/// `stance.decide` without building anything: the outcome, what the stance becomes, and for an
/// escalation why.
pub(crate) fn decision(cfg: &Cfg, prior: Option<&Prior>, claim: &RawClaim) -> (Outcome, Make, String) {
    let Some(pr) = prior else {
        if claim.modality == Modality::Hedged && !claim.explicit {
            // min(claim confidence, prior_min_confidence - 0.05), the first on a tie
            let limit = cfg.prior_min_confidence - 0.05;
            let weak = if limit < claim.confidence { limit } else { claim.confidence };
            return (Outcome::Other, Make::Fresh(Some(weak)), String::new());
        }
        return (Outcome::Other, Make::Fresh(None), String::new());
    };
    if claim.pol != pr.pol {
        if claim.modality == Modality::Hedged {
            return (Outcome::Other, Make::Noted(false), String::new());
        }
        if !claim.explicit {
            if claim.category == Some("explicit_threat")
                && pr.intensity > cfg.escalation_floor
                && claim.confidence >= cfg.escalation_min_confidence
            {
                let reason = format!(
                    "explicit threat after a calm stance ({} -> {})",
                    plus1(pr.intensity),
                    plus1(claim.intensity)
                );
                return (Outcome::Escalation, Make::Fresh(None), reason);
            }
            return (Outcome::Other, Make::Noted(false), String::new());
        }
        if claim.confidence < cfg.min_confidence {
            return (Outcome::Other, Make::Noted(false), String::new());
        }
        if pr.confidence < cfg.prior_min_confidence {
            return (Outcome::Other, Make::Fresh(None), String::new());
        }
        return (Outcome::Contradiction, Make::Fresh(None), String::new());
    }
    if claim.modality == Modality::Hedged {
        return (Outcome::Other, Make::Noted(true), String::new());
    }
    if let Some(reason) = escalation(cfg, pr, claim) {
        if claim.confidence >= cfg.escalation_min_confidence {
            return (Outcome::Escalation, Make::Merged, reason);
        }
    }
    if !claim.explicit && claim.confidence < cfg.prior_min_confidence {
        return (Outcome::Other, Make::Noted(true), String::new());
    }
    (Outcome::Other, Make::Merged, String::new())
}

// -- the stances a claim is compared with ---------------------------------------------------------

/// The stances of one state as the fold's lookups read them, so `Detector._latest_about_a_state`,
/// `_whole`, `_general` and `_warning` are written once: over a state's dict of models (`PyFold`)
/// and over the replay kernel's values (`replay.rs`).
pub(crate) trait Stances {
    /// a stance of the state (a model, an index)
    type Item: Clone;
    /// the date of a stance's basis, as the fold compares them
    type When;
    /// the stance on `key`
    fn get(&self, key: &str) -> Result<Option<Self::Item>, Fallback>;
    /// `f(key, stance)` for each stance, in the state's order
    fn each(&self, f: &mut Visit<'_, Self::Item>) -> Result<(), Fallback>;
    fn when(&self, stance: &Self::Item) -> Result<Self::When, Fallback>;
    /// whether `a` is after `b`
    fn later(&self, a: &Self::When, b: &Self::When) -> Result<bool, Fallback>;
    /// whether the stance refuses its topic (polarity contra)
    fn refusal(&self, stance: &Self::Item) -> Result<bool, Fallback>;
    /// whether the stance is hostile (intensity below zero)
    fn hostile(&self, stance: &Self::Item) -> Result<bool, Fallback>;
    /// the fields `decision` and `escalation` read
    fn facts(&self, stance: &Self::Item) -> Result<Prior, Fallback>;
    /// the stance's `topic` field (its key when it was made)
    fn topic(&self, stance: &Self::Item) -> Result<String, Fallback>;
}

/// What `Stances::each` calls with each key and stance.
pub(crate) type Visit<'f, T> = dyn FnMut(&str, T) -> Result<(), Fallback> + 'f;

/// Keeps the latest of the stances offered to it by basis date, the first on a tie (as `max()`).
struct Latest<S: Stances> {
    best: Option<(S::Item, S::When)>,
}

impl<S: Stances> Latest<S> {
    fn new() -> Self {
        Latest { best: None }
    }

    fn offer(&mut self, stances: &S, stance: S::Item) -> Result<(), Fallback> {
        let at = stances.when(&stance)?;
        let newer = match &self.best {
            None => true,
            Some((_, w)) => stances.later(&at, w)?,
        };
        if newer {
            self.best = Some((stance, at));
        }
        Ok(())
    }

    fn get(self) -> Option<S::Item> {
        self.best.map(|(s, _)| s)
    }
}

/// `Detector._latest_about_a_state`: the latest stance on `key` about any state (`key@state`).
pub(crate) fn latest_about_a_state<S: Stances>(stances: &S, key: &str) -> Result<Option<S::Item>, Fallback> {
    let mut latest = Latest::new();
    stances.each(&mut |k, stance| {
        if k.len() > key.len() && k.starts_with(key) && k.as_bytes()[key.len()] == b'@' {
            latest.offer(stances, stance)?;
        }
        Ok(())
    })?;
    Ok(latest.get())
}

/// `Detector._general(topics, key)`: the stance a claim is compared with when its key has none.
pub(crate) fn general<S: Stances>(
    fold: &PyFold,
    stances: &S,
    claim: &RawClaim,
    key: &str,
) -> Result<Option<S::Item>, Fallback> {
    if !fold.topics[claim.topic as usize].tracked {
        return Ok(None);
    }
    if key.len() > claim.key.len() {
        // a key with a state falls back to the stance stated without one
        return stances.get(&claim.key);
    }
    latest_about_a_state(stances, &claim.key)
}

/// `Detector._whole`: a sub-topic (a weapon system) with no stance yet meets a refusal of its
/// whole topic (on the claim's state first, then naming none); a stance that is no refusal: none.
pub(crate) fn whole<S: Stances>(stances: &S, key: &str) -> Result<Option<S::Item>, Fallback> {
    let (head, state) = match key.split_once('@') {
        Some((h, s)) => (h, Some(s)),
        None => (key, None),
    };
    let topic = head.split_once(':').map_or(head, |(t, _)| t);
    let with_state = state.map(|s| format!("{topic}@{s}"));
    let mut found = None;
    for k in with_state.iter().map(String::as_str).chain(std::iter::once(topic)) {
        found = stances.get(k)?;
        if found.is_some() {
            break;
        }
    }
    if found.is_none() && state.is_none() {
        found = latest_about_a_state(stances, topic)?; // as `general` reads a claim naming no state
    }
    let Some(found) = found else { return Ok(None) };
    Ok(stances.refusal(&found)?.then_some(found))
}

/// `Detector._warning`: the latest hostile stance of the claim's family, not about another state
/// than the claim's, that the claim (clearly hostile) hardens, and why.
pub(crate) fn warning<S: Stances>(
    fold: &PyFold,
    stances: &S,
    key: &str,
    claim: &RawClaim,
) -> Result<Option<(S::Item, String)>, Fallback> {
    let Some(family) = fold.family_of(key) else { return Ok(None) };
    let cfg = &fold.cfg;
    // across topics only a clearly hostile act counts: a threshold below the escalation floor
    if claim.modality == Modality::Hedged
        || claim.intensity > cfg.escalation_floor - cfg.escalation_threshold
        || claim.confidence < cfg.escalation_min_confidence
    {
        return Ok(None);
    }
    let state = key.split_once('@').map(|(_, s)| s);
    let mut latest = Latest::new();
    stances.each(&mut |k, stance| {
        if fold.family_of(k) != Some(family) {
            return Ok(());
        }
        if let (Some(state), Some((_, other))) = (state, k.split_once('@')) {
            if !other.is_empty() && other != state {
                return Ok(());
            }
        }
        if stances.hostile(&stance)? {
            latest.offer(stances, stance)?;
        }
        Ok(())
    })?;
    let Some(prior) = latest.get() else { return Ok(None) };
    let Some(reason) = escalation(cfg, &stances.facts(&prior)?, claim) else { return Ok(None) };
    let name = fold.key_name(&stances.topic(&prior)?)?;
    Ok(Some((prior, format!("{reason}, after a warning on {name}"))))
}

/// A state's dict of stance models, for the lookups above.
struct PyStances<'a, 'py> {
    fold: &'a PyFold,
    topics: &'a Bound<'py, PyDict>,
}

impl<'py> PyStances<'_, 'py> {
    fn fields(&self, stance: &Bound<'py, PyAny>) -> Result<Bound<'py, PyDict>, Fallback> {
        Ok(generic_get(stance, self.fold.names.dict.bind(stance.py()))?.cast_into::<PyDict>()?)
    }
}

impl<'py> Stances for PyStances<'_, 'py> {
    type Item = Bound<'py, PyAny>;
    type When = Bound<'py, PyAny>;

    fn get(&self, key: &str) -> Result<Option<Self::Item>, Fallback> {
        Ok(self.topics.get_item(key)?)
    }

    fn each(&self, f: &mut Visit<'_, Self::Item>) -> Result<(), Fallback> {
        for (k, stance) in self.topics.iter() {
            let k = k.cast_into::<PyString>()?;
            f(k.to_str()?, stance)?;
        }
        Ok(())
    }

    fn when(&self, stance: &Self::Item) -> Result<Self::When, Fallback> {
        let n = &self.fold.names;
        let basis = item(&self.fields(stance)?, &n.basis)?;
        let bd = generic_get(&basis, n.dict.bind(stance.py()))?.cast_into::<PyDict>()?;
        item(&bd, &n.published_at)
    }

    fn later(&self, a: &Self::When, b: &Self::When) -> Result<bool, Fallback> {
        Ok(a.gt(b)?)
    }

    fn refusal(&self, stance: &Self::Item) -> Result<bool, Fallback> {
        let contra = self.fold.objects.contra.bind(stance.py());
        Ok(item(&self.fields(stance)?, &self.fold.names.polarity)?.is(contra))
    }

    fn hostile(&self, stance: &Self::Item) -> Result<bool, Fallback> {
        Ok(item(&self.fields(stance)?, &self.fold.names.intensity)?.extract::<f64>()? < 0.0)
    }

    fn facts(&self, stance: &Self::Item) -> Result<Prior, Fallback> {
        self.fold.prior_of(stance.py(), &self.fields(stance)?)
    }

    fn topic(&self, stance: &Self::Item) -> Result<String, Fallback> {
        Ok(item(&self.fields(stance)?, &self.fold.names.topic)?.extract()?)
    }
}

/// A stance's fields as the fold reads them (`p` of stance.py), checked to be what the Python fold
/// handles the same way.
pub(crate) struct Prior {
    pub(crate) pol: i8,
    pub(crate) intensity: f64,
    pub(crate) confidence: f64,
    pub(crate) modality: Modality,
    pub(crate) magnitude: Option<f64>,
    pub(crate) category: Option<String>,
}

/// The native fold of one `Detector`.
#[pyclass(name = "Fold", module = "monitor_native", frozen)]
pub struct PyFold {
    pub(crate) core: Py<PyCore>,
    pub(crate) topics: Vec<TopicInfo>,
    pub(crate) any_tracked: bool,
    /// whether any topic has a family (`Detector._families` is not empty)
    pub(crate) any_family: bool,
    pub(crate) cfg: Cfg,
    pub(crate) gazetteer: Gazetteer,
    names: Names,
    pub(crate) objects: Objects,
    /// per model, the setters of `__dict__` and pydantic's three slots (see `construct`)
    setters: [[Setter; 4]; 4],
    /// strings the fold writes again and again (cues, stance keys, topic names), one object each
    pub(crate) strings: Mutex<FxHashMap<Box<str>, Py<PyString>>>,
    /// the speaker's words as the rules take them, per speaker
    pub(crate) speakers: Mutex<FxHashMap<Box<str>, Arc<HashSet<String>>>>,
}

/// Entries kept by each memo of the fold (strings, speakers) before it stops adding.
const MEMO_SIZE: usize = 1 << 14;

/// A data descriptor of a model class (`__dict__`, a slot) and its `tp_descr_set`: setting the
/// attribute through it is what `object.__setattr__` does once it has looked the descriptor up.
struct Setter {
    descr: Py<PyAny>,
    set: ffi::descrsetfunc,
}

impl Setter {
    /// The descriptor of `name` on `cls` (found along its MRO, as `_PyType_Lookup` finds it).
    fn of(cls: &Bound<'_, PyType>, name: &str) -> PyResult<Setter> {
        for klass in cls.getattr("__mro__")?.try_iter()? {
            let klass = klass?;
            if let Ok(descr) = klass.getattr("__dict__")?.get_item(name) {
                let slot = unsafe { ffi::PyType_GetSlot(descr.get_type().as_ptr().cast(), ffi::Py_tp_descr_set) };
                if slot.is_null() {
                    break;
                }
                let set = unsafe { std::mem::transmute::<*mut std::ffi::c_void, ffi::descrsetfunc>(slot) };
                return Ok(Setter { descr: descr.unbind(), set });
            }
        }
        Err(PyValueError::new_err(format!("{} has no data descriptor {name:?}", cls.name()?)))
    }

    #[inline]
    fn set(&self, obj: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let r = unsafe { (self.set)(self.descr.as_ptr(), obj.as_ptr(), value.as_ptr()) };
        if r < 0 {
            Err(PyErr::fetch(obj.py()))
        } else {
            Ok(())
        }
    }
}

/// `PyObject_GenericGetAttr`: an attribute read that skips pydantic's `__getattr__` hook.
#[inline]
fn generic_get<'py>(obj: &Bound<'py, PyAny>, name: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
    unsafe { Bound::from_owned_ptr_or_err(obj.py(), ffi::PyObject_GenericGetAttr(obj.as_ptr(), name.as_ptr())) }
}

/// `set(items)` (`PySet_New`: a set or frozenset is copied without iterating in Rust).
#[inline]
fn new_set<'py>(items: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    unsafe { Bound::from_owned_ptr_or_err(items.py(), ffi::PySet_New(items.as_ptr())) }
}

/// Leaves `obj` out of the cyclic garbage collector's lists, as CPython leaves out the tuples and
/// dicts that hold only atomic values: for objects that cannot be part of a reference cycle.
///
/// The fold builds frozen models whose fields hold strings, numbers, enum members, tuples of
/// strings and other such models, never anything that refers back to them: no cycle can pass
/// through a `TopicStance`, a `StatementRef`, their `__dict__`, a fields set or a tuple of cue
/// strings. Untracked, the collector does not traverse them again and again as states pile up
/// (it was a quarter of the step). The same holds for a `StanceState`, its `__dict__`, its dict of
/// topics (strings to stances) and its tuple of fingerprints. Reference counting frees them as
/// before. (Should a caller ever put a tracked object into such a dict, CPython tracks the dict
/// again by itself.)
#[inline]
fn untrack(obj: &Bound<'_, PyAny>) {
    unsafe { ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) }
}

/// `key in seen` for a tuple of strings (`key` a string): the bytes compared, no rich comparisons.
/// Fallback when an item is not an exact string (its `__eq__` could say anything).
fn contains(seen: &Bound<'_, PyTuple>, key: &Bound<'_, PyAny>) -> Result<bool, Fallback> {
    let key = key.cast::<PyString>()?.to_str()?.as_bytes();
    for item in seen.iter() {
        if unsafe { ffi::PyUnicode_CheckExact(item.as_ptr()) } == 0 {
            return Err(Fallback);
        }
        let mut size: ffi::Py_ssize_t = 0;
        let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(item.as_ptr(), &mut size) };
        if data.is_null() {
            return Err(PyErr::fetch(seen.py()).into());
        }
        if size as usize == key.len() && unsafe { std::slice::from_raw_parts(data.cast::<u8>(), key.len()) } == key {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `d[key]` of a dict known to hold it.
#[inline]
fn item<'py>(d: &Bound<'py, PyDict>, key: &Py<PyString>) -> Result<Bound<'py, PyAny>, Fallback> {
    d.get_item(key.bind(d.py())).ok().flatten().ok_or(Fallback)
}

impl From<PyErr> for Fallback {
    fn from(_: PyErr) -> Fallback {
        Fallback
    }
}

impl From<pyo3::CastIntoError<'_>> for Fallback {
    fn from(_: pyo3::CastIntoError<'_>) -> Fallback {
        Fallback
    }
}

impl From<pyo3::CastError<'_, '_>> for Fallback {
    fn from(_: pyo3::CastError<'_, '_>) -> Fallback {
        Fallback
    }
}

impl From<std::convert::Infallible> for Fallback {
    fn from(_: std::convert::Infallible) -> Fallback {
        Fallback
    }
}

/// A memo's lock (a panic while holding it leaves the memo as good as before).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PyFold {
    pub(crate) fn core(&self) -> &crate::types::Core {
        &self.core.get().core
    }

    /// A Python string of `s`: the same object for the same text (while the memo has room).
    fn string<'py>(&self, py: Python<'py>, s: &str) -> Bound<'py, PyString> {
        if let Some(found) = lock(&self.strings).get(s) {
            return found.bind(py).clone();
        }
        let made = PyString::new(py, s);
        let mut memo = lock(&self.strings);
        if memo.len() < MEMO_SIZE {
            memo.insert(s.into(), made.clone().unbind());
        }
        made
    }

    /// A tuple of strings (untracked: see `untrack`).
    fn tuple_of<'py>(&self, py: Python<'py>, items: &[String]) -> PyResult<Bound<'py, PyTuple>> {
        let t = PyTuple::new(py, items.iter().map(|s| self.string(py, s)))?;
        untrack(t.as_any());
        Ok(t)
    }

    /// `frozenset(w.lower().strip(".,") for w in speaker.split())`, as `RuleAnalyzer.analyze` takes it.
    pub(crate) fn speaker_parts(&self, text: &str) -> Result<Arc<HashSet<String>>, Fallback> {
        if let Some(found) = lock(&self.speakers).get(text) {
            return Ok(found.clone());
        }
        let parts: HashSet<String> = if text.is_empty() {
            HashSet::new()
        } else if text.is_ascii() {
            speaker_parts(text)
        } else {
            // the Python helper (attaching to the interpreter: a replay kernel calls this detached)
            Python::attach(|py| -> PyResult<Vec<String>> {
                self.objects.speaker_parts.bind(py).call1((text,))?.extract::<Vec<String>>()
            })?
            .into_iter()
            .collect()
        };
        let parts = Arc::new(parts);
        let mut memo = lock(&self.speakers);
        if memo.len() < MEMO_SIZE {
            memo.insert(text.into(), parts.clone());
        }
        Ok(parts)
    }

    /// `fast.construct(cls, data, fields_set)` (`private`: `__pydantic_private__`, None there).
    ///
    /// The instance is made as `object.__new__` makes it (the class's `tp_alloc`).
    fn construct<'py>(
        &self,
        model: Model,
        data: &Bound<'py, PyDict>,
        fields_set: &Bound<'py, PyAny>,
        private: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        let cls = self.objects.classes[model as usize].bind(py);
        let obj = unsafe {
            let alloc = self.objects.allocs[model as usize];
            Bound::from_owned_ptr_or_err(py, alloc(cls.as_ptr().cast(), 0))?
        };
        let none = py.None().into_bound(py);
        let [dict, fields, extra, private_slot] = &self.setters[model as usize];
        dict.set(&obj, data.as_any())?;
        fields.set(&obj, fields_set)?;
        extra.set(&obj, &none)?;
        private_slot.set(&obj, private.unwrap_or(&none))?;
        Ok(obj)
    }

    /// A new instance's `__dict__`: its fields in declaration order, all None.
    fn template<'py>(&self, py: Python<'py>, model: Model) -> PyResult<Bound<'py, PyDict>> {
        self.objects.templates[model as usize].bind(py).copy()
    }

    /// `fast.replace(obj, update)` for a `TopicStance` whose `__dict__` is `d` (untracked, see
    /// `untrack`).
    fn replace<'py>(
        &self,
        obj: &Bound<'py, PyAny>,
        d: &Bound<'py, PyDict>,
        update: &[(&Py<PyString>, Bound<'py, PyAny>)],
    ) -> Result<Bound<'py, PyAny>, Fallback> {
        let py = obj.py();
        if !obj.get_type().is(self.objects.classes[Model::Stance as usize].bind(py)) {
            return Err(Fallback); // a subclass: the Python fold keeps its type
        }
        let data = d.copy()?;
        let shared = self.objects.stance_fields.bind(py);
        let own = generic_get(obj, self.names.fields_set.bind(py))?;
        let mut fields = if own.is(shared) { None } else { Some(new_set(&own)?.cast_into::<PySet>()?) };
        for (k, v) in update {
            data.set_item(k.bind(py), v)?;
            if let Some(f) = &fields {
                f.add(k.bind(py))?;
            }
        }
        // the shared set when the union comes to it (a stance's fields set holds them all)
        if fields.as_ref().is_some_and(|f| f.eq(shared).unwrap_or(false)) {
            fields = None;
        }
        let fields = fields.unwrap_or_else(|| shared.clone());
        let private = generic_get(obj, self.names.private.bind(py))?;
        untrack(fields.as_any());
        untrack(data.as_any());
        let new = self.construct(Model::Stance, &data, fields.as_any(), Some(&private))?;
        untrack(&new);
        Ok(new)
    }

    /// The `__pydantic_fields_set__` of a new model: one set per model, shared by all instances.
    ///
    /// `fast.construct` gives each instance a copy; the values are equal, so equality and JSON
    /// are the same. A frozen model's fields set is never changed in place (pydantic copies it
    /// before `model_copy` adds to it, `fast.replace` makes a new one), and a set per instance
    /// was a fifth of the memory of a stance and a tenth of the step.
    fn fields<'py>(&self, py: Python<'py>, set: &Py<PySet>) -> Bound<'py, PyAny> {
        set.bind(py).clone().into_any()
    }

    /// `fields_set | extra` for a state: the shared set when that is what it comes to.
    fn state_fields<'py>(
        &self,
        fields_set: &Bound<'py, PyAny>,
        extra: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.objects.state_fields.bind(fields_set.py());
        if fields_set.is(shared) {
            return Ok(shared.clone().into_any()); // holds every field a step sets
        }
        let union = fields_set.bitor(extra)?;
        Ok(if union.eq(shared)? { shared.clone().into_any() } else { union })
    }

    fn modality_obj<'py>(&self, py: Python<'py>, m: Modality) -> &Bound<'py, PyAny> {
        self.objects.modalities[match m {
            Modality::Asserted => 0,
            Modality::Hedged => 1,
            Modality::Conditional => 2,
        }]
        .bind(py)
    }

    fn polarity_obj<'py>(&self, py: Python<'py>, pol: i8) -> &Bound<'py, PyAny> {
        if pol == PRO {
            self.objects.pro.bind(py)
        } else {
            self.objects.contra.bind(py)
        }
    }

    fn category_obj<'py>(&self, py: Python<'py>, c: Option<&str>) -> Bound<'py, PyAny> {
        match c {
            None => py.None().into_bound(py),
            Some("warning") => self.objects.warning.bind(py).clone().into_any(),
            Some("explicit_threat") => self.objects.explicit_threat.bind(py).clone().into_any(),
            Some(other) => PyString::new(py, other).into_any(),
        }
    }

    /// The fields of a stored stance that decide reads, or Fallback when they are not what the
    /// engine itself stores (enum members, numbers).
    pub(crate) fn prior_of(&self, py: Python<'_>, p: &Bound<'_, PyDict>) -> Result<Prior, Fallback> {
        let n = &self.names;
        let o = &self.objects;
        let pol = item(p, &n.polarity)?;
        let pol = if pol.is(o.pro.bind(py)) {
            PRO
        } else if pol.is(o.contra.bind(py)) {
            CONTRA
        } else {
            return Err(Fallback);
        };
        let m = item(p, &n.modality)?;
        let modality = if m.is(o.modalities[0].bind(py)) {
            Modality::Asserted
        } else if m.is(o.modalities[1].bind(py)) {
            Modality::Hedged
        } else if m.is(o.modalities[2].bind(py)) {
            Modality::Conditional
        } else {
            return Err(Fallback);
        };
        let magnitude = item(p, &n.magnitude)?;
        let category = item(p, &n.category)?;
        Ok(Prior {
            pol,
            intensity: item(p, &n.intensity)?.extract::<f64>()?,
            confidence: item(p, &n.confidence)?.extract::<f64>()?,
            modality,
            magnitude: if magnitude.is_none() { None } else { Some(magnitude.extract()?) },
            category: if category.is_none() { None } else { Some(category.extract()?) },
        })
    }

    /// `_stance(claim, key, ref, support, p, confidence)`.
    #[allow(clippy::too_many_arguments)]
    fn stance<'py>(
        &self,
        py: Python<'py>,
        claim: &RawClaim,
        key: &Bound<'py, PyString>,
        reference: &Bound<'py, PyAny>,
        event_id: &Bound<'py, PyAny>,
        support: Bound<'py, PyAny>,
        p: Option<&Bound<'py, PyDict>>,
        confidence: Option<f64>,
    ) -> Result<Bound<'py, PyAny>, Fallback> {
        let n = &self.names;
        let mut magnitude = match claim.magnitude {
            Some(m) => m.into_pyobject(py)?.into_any(),
            None => py.None().into_bound(py),
        };
        let mut basis = reference.clone();
        let mut conf = confidence.unwrap_or(claim.confidence).into_pyobject(py)?.into_any();
        let mut evidence = 0i64.into_pyobject(py)?.into_any();
        if let Some(p) = p {
            if claim.magnitude.is_none() {
                magnitude = item(p, &n.magnitude)?;
                if !magnitude.is_none() {
                    basis = item(p, &n.basis)?;
                }
            }
            let before = item(p, &n.confidence)?;
            if before.gt(&conf)? {
                conf = before;
            }
            evidence = item(p, &n.evidence)?;
        }
        let cues = self.tuple_of(py, &claim.cues[..claim.cues.len().min(6)])?;
        let data = self.template(py, Model::Stance)?;
        data.set_item(n.topic.bind(py), key)?;
        data.set_item(n.polarity.bind(py), self.polarity_obj(py, claim.pol))?;
        data.set_item(n.intensity.bind(py), claim.intensity)?;
        data.set_item(n.category.bind(py), self.category_obj(py, claim.category))?;
        data.set_item(n.confidence.bind(py), conf)?;
        data.set_item(n.basis.bind(py), basis)?;
        data.set_item(n.support.bind(py), support)?;
        data.set_item(n.last_statement_id.bind(py), event_id)?;
        data.set_item(n.cues.bind(py), cues)?;
        data.set_item(n.magnitude.bind(py), magnitude)?;
        data.set_item(n.modality.bind(py), self.modality_obj(py, claim.modality))?;
        data.set_item(n.evidence.bind(py), evidence)?;
        let fields = self.fields(py, &self.objects.stance_fields);
        untrack(data.as_any());
        let stance = self.construct(Model::Stance, &data, &fields, None)?;
        untrack(&stance);
        Ok(stance)
    }

    /// `_noted(prior, p, support=...)`: one more statement of evidence (and support).
    fn noted<'py>(
        &self,
        prior: &Bound<'py, PyAny>,
        p: &Bound<'py, PyDict>,
        support: bool,
    ) -> Result<Bound<'py, PyAny>, Fallback> {
        let n = &self.names;
        let mut update = vec![(&n.evidence, item(p, &n.evidence)?.add(1)?)];
        if support {
            update.push((&n.support, item(p, &n.support)?.add(1)?));
        }
        self.replace(prior, p, &update)
    }

    /// `stance.decide`: the outcome, the stance now held, and for an escalation why.
    #[allow(clippy::too_many_arguments)]
    fn decide<'py>(
        &self,
        py: Python<'py>,
        prior: Option<(&Bound<'py, PyAny>, &Bound<'py, PyDict>)>,
        claim: &RawClaim,
        key: &Bound<'py, PyString>,
        reference: &Bound<'py, PyAny>,
        event_id: &Bound<'py, PyAny>,
    ) -> Result<(Outcome, Bound<'py, PyAny>, String), Fallback> {
        let facts = match prior {
            Some((_, p)) => Some(self.prior_of(py, p)?),
            None => None,
        };
        let (outcome, make, reason) = decision(&self.cfg, facts.as_ref(), claim);
        let stance = match (make, prior) {
            (Make::Fresh(confidence), _) => {
                let one = 1i64.into_pyobject(py)?.into_any();
                self.stance(py, claim, key, reference, event_id, one, None, confidence)?
            }
            (Make::Merged, Some((_, p))) => {
                let support = item(p, &self.names.support)?.add(1)?;
                self.stance(py, claim, key, reference, event_id, support, Some(p), None)?
            }
            (Make::Noted(support), Some((prior, p))) => self.noted(prior, p, support)?,
            (_, None) => unreachable!("decision merges or notes only a prior"),
        };
        Ok((outcome, stance, reason))
    }

    /// The topic a stance key (`topic[:system][@state]`) names, and the key without its state.
    fn topic_of<'k>(&self, key: &'k str) -> Option<(&TopicInfo, &'k str)> {
        let head = key.split_once('@').map_or(key, |(h, _)| h);
        let topic = head.split_once(':').map_or(head, |(t, _)| t);
        let id = *self.core().topic_index.get(topic)?;
        Some((self.topics.get(id as usize)?, head))
    }

    /// The family of the topic a stance key names (`Detector._families` of its topic id).
    pub(crate) fn family_of(&self, key: &str) -> Option<usize> {
        self.topic_of(key).and_then(|(t, _)| t.family)
    }

    /// `Detector._topic_name(key)` for a key whose topic is `info` and whose part before the state is
    /// `head`: the topic's name, its system, and the state's display name.
    pub(crate) fn named(&self, info: &TopicInfo, head: &str, key: &str) -> String {
        let mut name = match head.split_once(':') {
            Some((_, obj)) => format!("{} ({})", info.name, obj.replace('_', " ")),
            None => info.name.clone(),
        };
        if let Some((_, state)) = key.split_once('@') {
            name.push_str(", ");
            match self.gazetteer.ids.iter().position(|id| id == state) {
                Some(k) => name.push_str(&self.gazetteer.display[k]),
                None => name.push_str(state),
            }
        }
        name
    }

    /// `Detector._topic_name(key)` for a key stored in a state (its topic looked up).
    pub(crate) fn key_name(&self, key: &str) -> Result<String, Fallback> {
        let (info, head) = self.topic_of(key).ok_or(Fallback)?;
        Ok(self.named(info, head, key))
    }

    /// `Detector._keys` and `_merged`: one claim per stance key, in the order keys first appear.
    pub(crate) fn merged(&self, claims: Vec<RawClaim>, actor: &str) -> Result<Vec<(String, RawClaim)>, Fallback> {
        let keys: Vec<String> = if self.any_tracked {
            let mut states: Vec<Option<u16>> = vec![None; claims.len()];
            let mut named: Vec<(&str, Vec<u16>)> = Vec::new();
            let mut own: Option<Option<u16>> = None;
            for (i, c) in claims.iter().enumerate() {
                if self.topics[c.topic as usize].tracked {
                    if !actor.is_ascii() {
                        return Err(Fallback);
                    }
                    let own = *own.get_or_insert_with(|| self.gazetteer.own(actor));
                    if let Some(state) = self.gazetteer.counterpart(&c.sentence, own) {
                        states[i] = Some(state);
                        match named.iter_mut().find(|(t, _)| *t == c.key) {
                            Some((_, found)) => {
                                if !found.contains(&state) {
                                    found.push(state);
                                }
                            }
                            None => named.push((&c.key, vec![state])),
                        }
                    }
                }
            }
            claims
                .iter()
                .zip(&states)
                .map(|(c, state)| {
                    let state = state.or_else(|| match named.iter().find(|(t, _)| *t == c.key) {
                        Some((_, found)) if found.len() == 1 => Some(found[0]),
                        _ => None,
                    });
                    match state {
                        Some(s) => format!("{}@{}", c.key, self.gazetteer.ids[s as usize]),
                        None => c.key.clone(),
                    }
                })
                .collect()
        } else {
            claims.iter().map(|c| c.key.clone()).collect()
        };
        if claims.len() == 1 {
            return Ok(keys.into_iter().zip(claims).collect());
        }
        // groups in the order their keys first appear
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let mut slots: Vec<Option<RawClaim>> = claims.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(groups.len());
        for (key, group) in groups {
            if group.len() == 1 {
                out.push((key, slots[group[0]].take().expect("each claim is in one group")));
            } else {
                let members: Vec<&RawClaim> =
                    group.iter().map(|&i| slots[i].as_ref().expect("each claim is in one group")).collect();
                if let Some(m) = merge_claims(&members) {
                    out.push((key, m));
                }
            }
        }
        Ok(out)
    }

    /// `Detector._topic_name(key)`.
    pub(crate) fn topic_name(&self, claim: &RawClaim, key: &str) -> String {
        self.named(&self.topics[claim.topic as usize], &claim.key, key)
    }

    /// `Detector._alert` up to building it: name, severity, confidence, explanation.
    fn plan<'a, 'py>(
        &self,
        ev: &EventFields<'_, 'py>,
        cand: &'a Candidate<'py>,
        claim: &RawClaim,
    ) -> Result<AlertPlan<'a, 'py>, Fallback> {
        let py = cand.prior.py();
        let n = &self.names;
        let pr = self.prior_of(py, &cand.p)?;
        let basis = item(&cand.p, &n.basis)?;
        let bd = generic_get(&basis, n.dict.bind(py))?.cast_into::<PyDict>()?;
        let prior_speaker = item(&bd, &n.speaker)?;
        let before = Said {
            speaker: prior_speaker.cast::<PyString>()?.to_str()?,
            date: &date(self, &item(&bd, &n.published_at)?)?,
        };
        let now = Said { speaker: ev.speaker_str, date: &ev.date };
        let name = self.topic_name(claim, &cand.key);
        Ok(self.explain(ev.actor_str, &before, &now, cand.escalation, &cand.reason, claim, &pr, name, cand))
    }

    /// `Detector._alert`'s wording and grading of an alert on `claim` against the stance `pr` (its
    /// basis said by `before`): severity rank, confidence and explanation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn explain<T>(
        &self,
        actor: &str,
        before: &Said<'_>,
        now: &Said<'_>,
        escalation: bool,
        reason: &str,
        claim: &RawClaim,
        pr: &Prior,
        name: String,
        item: T,
    ) -> Plan<T> {
        // round(min(claim confidence, max(prior confidence, 0.5) + 0.1, 1.0), 3)
        let floor = if 0.5 > pr.confidence { 0.5 } else { pr.confidence };
        let mut confidence = claim.confidence;
        for v in [floor + 0.1, 1.0] {
            if v < confidence {
                confidence = v;
            }
        }
        let confidence = py_round3(confidence);
        let (prior_speaker, prior_date, speaker, date) = (before.speaker, before.date, now.speaker, now.date);
        let rank: i64;
        let mut explanation = if escalation {
            let i = claim.intensity;
            rank = if i <= -8.0 {
                3
            } else if i <= -6.0 {
                2
            } else {
                1
            };
            format!("{actor} hardened its stance on {name}: {reason}; {prior_speaker} ({prior_date}) -> {speaker} ({date})")
        } else {
            let mut r = self.topics[claim.topic as usize].severity;
            if claim.modality != Modality::Asserted || confidence < 0.75 {
                r -= 1;
            }
            rank = r;
            let was = if pr.pol == PRO { "supported" } else { "opposed" };
            let is = if claim.pol == PRO { "supports" } else { "opposes" };
            format!(
                "{actor} reversed its stance on {name}: {prior_speaker} ({prior_date}) {was} it, now {speaker} ({date}) {is} it"
            )
        };
        let cues = claim.cues[..claim.cues.len().min(4)].join(", ");
        if !cues.is_empty() {
            explanation.push_str(" [cues: ");
            explanation.push_str(&cues);
            if !claim.neg_cues.is_empty() {
                explanation.push_str("; negation: ");
                explanation.push_str(&claim.neg_cues[..claim.neg_cues.len().min(3)].join(", "));
            }
            if claim.modality != Modality::Asserted {
                explanation.push_str("; ");
                explanation.push_str(claim.modality.as_str());
                explanation.push_str(": ");
                explanation.push_str(&claim.mod_cues[..claim.mod_cues.len().min(2)].join(", "));
            }
            explanation.push(']');
        }
        explanation.push('.');
        Plan { escalation, name, rank: rank.clamp(0, 3) as usize, confidence, explanation, item }
    }

    /// `Detector._alerts`: one alert per kind, the most severe topic wins, the others are named.
    fn alerts<'py>(
        &self,
        py: Python<'py>,
        ev: &EventFields<'_, 'py>,
        candidates: &[Candidate<'py>],
        claims: &[(String, RawClaim)],
    ) -> Result<Bound<'py, PyList>, Fallback> {
        let mut plans = Vec::with_capacity(candidates.len());
        for cand in candidates {
            plans.push(self.plan(ev, cand, &claims[cand.claim].1)?);
        }
        let out = PyList::empty(py);
        for (plan, explanation) in choose(plans) {
            out.append(self.build_alert(py, ev, &plan, &claims[plan.item.claim].1, &explanation)?)?;
        }
        Ok(out)
    }

    fn build_alert<'py>(
        &self,
        py: Python<'py>,
        ev: &EventFields<'_, 'py>,
        plan: &AlertPlan<'_, 'py>,
        claim: &RawClaim,
        explanation: &str,
    ) -> Result<Bound<'py, PyAny>, Fallback> {
        let n = &self.names;
        let o = &self.objects;
        let cand = plan.item;
        let kind = if cand.escalation { "escalation" } else { "contradiction" };
        // the statement, its quote clipped to _ALERT_QUOTE_CHARS
        let quote = match clip(ev.text_str, 1200) {
            None => ev.text.clone(),
            Some(q) => PyString::new(py, &q).into_any(),
        };
        let sd = self.template(py, Model::Ref)?;
        sd.set_item(n.id.bind(py), &ev.id)?;
        sd.set_item(n.speaker.bind(py), &ev.speaker)?;
        sd.set_item(n.quote.bind(py), quote)?;
        sd.set_item(n.source_url.bind(py), &ev.source_url)?;
        sd.set_item(n.published_at.bind(py), &ev.published_at)?;
        let statement = self.construct(Model::Ref, &sd, &self.fields(py, &o.ref_fields), None)?;
        let id = format!("alr_{}", digest(&[ev.id_str.as_bytes(), kind.as_bytes(), cand.key.as_bytes()], 24));
        let d = self.template(py, Model::Alert)?;
        d.set_item(n.schema_version.bind(py), o.schema_version.bind(py))?;
        d.set_item(n.id.bind(py), id)?;
        d.set_item(n.kind.bind(py), o.kinds[usize::from(cand.escalation)].bind(py))?;
        d.set_item(n.actor.bind(py), &ev.actor)?;
        d.set_item(n.topic.bind(py), &cand.key)?;
        d.set_item(n.topic_name.bind(py), &plan.name)?;
        d.set_item(n.statement.bind(py), statement)?;
        d.set_item(n.prior.bind(py), item(&cand.p, &n.basis)?)?;
        d.set_item(n.severity.bind(py), o.severities[plan.rank].bind(py))?;
        d.set_item(n.confidence.bind(py), plan.confidence)?;
        d.set_item(n.explanation.bind(py), explanation)?;
        d.set_item(n.cues.bind(py), self.tuple_of(py, &claim.cues)?)?;
        d.set_item(n.negation_cues.bind(py), self.tuple_of(py, &claim.neg_cues)?)?;
        d.set_item(n.modality_cues.bind(py), self.tuple_of(py, &claim.mod_cues)?)?;
        d.set_item(n.prior_polarity.bind(py), item(&cand.p, &n.polarity)?)?;
        d.set_item(n.new_polarity.bind(py), self.polarity_obj(py, claim.pol))?;
        d.set_item(n.prior_intensity.bind(py), item(&cand.p, &n.intensity)?)?;
        d.set_item(n.new_intensity.bind(py), claim.intensity)?;
        d.set_item(n.engine.bind(py), o.engine.bind(py))?;
        Ok(self.construct(Model::Alert, &d, &self.fields(py, &o.alert_fields), None)?)
    }

    fn run<'py>(
        &self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
        event: &Bound<'py, PyAny>,
    ) -> Result<Step<'py>, Fallback> {
        let n = &self.names;
        let o = &self.objects;
        if !state.get_type().is(o.classes[Model::State as usize].bind(py)) {
            return Err(Fallback); // a subclass: a republication keeps its type in the Python fold
        }
        let ev_d = generic_get(event, n.dict.bind(py))?.cast_into::<PyDict>()?;
        let st = generic_get(state, n.dict.bind(py))?.cast_into::<PyDict>()?;
        let text = item(&ev_d, &n.text)?;
        let text_str = text.cast::<PyString>()?.to_str()?;
        let ascii = text_str.is_ascii();
        let fp: Bound<'py, PyAny> = if ascii {
            PyString::new(py, &seen_key(text_str)).into_any()
        } else {
            o.seen_key.bind(py).call1((&text,))?
        };
        let seen = item(&st, &n.seen)?.cast_into::<PyTuple>()?;
        let statements = item(&st, &n.statements)?.add(1)?;
        let fields_set = generic_get(state, n.fields_set.bind(py))?;
        if contains(&seen, &fp)? {
            // the same words again (a republication): evidence, never news
            let data = st.copy()?;
            data.set_item(n.statements.bind(py), statements)?;
            let fields = self.state_fields(&fields_set, o.statements_field.bind(py).as_any())?;
            let private = generic_get(state, n.private.bind(py))?;
            untrack(data.as_any());
            let new = self.construct(Model::State, &data, &fields, Some(&private))?;
            untrack(&new);
            return Ok((new, PyList::empty(py)));
        }
        // the text the analyzer reads (RuleAnalyzer.analyze), and the speaker's words
        let normalized;
        let analyzed: &str = if ascii {
            text_str
        } else {
            normalized = o.normalize_any.bind(py).call1((&text,))?.cast_into::<PyString>()?;
            let s = normalized.to_str()?;
            if !s.is_ascii() {
                return Err(Fallback);
            }
            s
        };
        let speaker = item(&ev_d, &n.speaker)?;
        let speaker_str = speaker.cast::<PyString>()?.to_str()?;
        let parts = self.speaker_parts(speaker_str)?;
        let analysis = crate::rules::analyze(self.core(), analyzed, &parts);
        let actor = item(&ev_d, &n.actor)?;
        let actor_str = actor.cast::<PyString>()?.to_str()?;
        let merged = if analysis.claims.is_empty() { Vec::new() } else { self.merged(analysis.claims, actor_str)? };

        let window = self.cfg.seen_window;
        let new_seen = if window == 0 {
            PyTuple::empty(py)
        } else {
            let len = seen.len();
            let keep = (len + 1).min(window);
            let mut items: Vec<Bound<'py, PyAny>> = Vec::with_capacity(keep);
            for i in (len + 1 - keep)..len {
                items.push(seen.get_item(i)?);
            }
            items.push(fp);
            let t = PyTuple::new(py, items)?;
            untrack(t.as_any()); // strings only (checked by `contains`)
            t
        };

        let prior_topics = item(&st, &n.topics)?.cast_into_exact::<PyDict>()?; // (a subclass could read otherwise)
        let view = PyStances { fold: self, topics: &prior_topics };
        let topics = prior_topics.copy()?;
        let event_id = item(&ev_d, &n.id)?;
        let mut candidates: Vec<Candidate<'py>> = Vec::new();
        let mut keys: Vec<Bound<'py, PyString>> = Vec::with_capacity(merged.len());
        if !merged.is_empty() {
            let source_url = item(&ev_d, &n.source_url)?;
            let published_at = item(&ev_d, &n.published_at)?;
            let mut refs: Vec<(&str, Bound<'py, PyAny>)> = Vec::new();
            for (i, (key, claim)) in merged.iter().enumerate() {
                let sentence = claim.sentence.as_str();
                let reference = once_per(&mut refs, sentence, || -> Result<_, Fallback> {
                    let quote = clip(sentence, self.cfg.quote_chars).unwrap_or_else(|| sentence.to_owned());
                    let rd = self.template(py, Model::Ref)?;
                    rd.set_item(n.id.bind(py), &event_id)?;
                    rd.set_item(n.speaker.bind(py), &speaker)?;
                    rd.set_item(n.quote.bind(py), quote)?;
                    rd.set_item(n.source_url.bind(py), &source_url)?;
                    rd.set_item(n.published_at.bind(py), &published_at)?;
                    untrack(rd.as_any());
                    let r = self.construct(Model::Ref, &rd, &self.fields(py, &o.ref_fields), None)?;
                    untrack(&r);
                    Ok(r)
                })?;
                let key_obj = self.string(py, key);
                let mut prior = prior_topics.get_item(&key_obj)?;
                if prior.is_none() && self.any_tracked {
                    prior = general(self, &view, claim, key)?;
                }
                if prior.is_none() && key.contains(':') && !prior_topics.is_empty() {
                    prior = whole(&view, key)?;
                }
                let pd = match &prior {
                    Some(p) => Some(generic_get(p, n.dict.bind(py))?.cast_into::<PyDict>()?),
                    None => None,
                };
                let pair = prior.as_ref().zip(pd.as_ref());
                let (outcome, stance, reason) = self.decide(py, pair, claim, &key_obj, &reference, &event_id)?;
                topics.set_item(&key_obj, stance)?;
                if let (Some(prior), Some(p)) = (prior, pd) {
                    if outcome != Outcome::Other {
                        candidates.push(Candidate {
                            escalation: outcome == Outcome::Escalation,
                            reason,
                            claim: i,
                            key: key.clone(),
                            prior,
                            p,
                        });
                    }
                } else if self.any_family && !prior_topics.is_empty() {
                    if let Some((prior, reason)) = warning(self, &view, key, claim)? {
                        let p = generic_get(&prior, n.dict.bind(py))?.cast_into::<PyDict>()?;
                        candidates.push(Candidate { escalation: true, reason, claim: i, key: key.clone(), prior, p });
                    }
                }
                keys.push(key_obj);
            }
        }
        for rel in &analysis.relations {
            if rel.relation != "same" || merged.iter().any(|(k, _)| *k == rel.topic) {
                continue;
            }
            if let Some(prior) = topics.get_item(rel.topic.as_str())? {
                let p = generic_get(&prior, n.dict.bind(py))?.cast_into::<PyDict>()?;
                let support = item(&p, &n.support)?.add(1)?;
                let updated = self.replace(&prior, &p, &[(&n.support, support)])?;
                topics.set_item(rel.topic.as_str(), updated)?;
            }
        }
        let alerts = if candidates.is_empty() {
            PyList::empty(py)
        } else {
            let published_at = item(&ev_d, &n.published_at)?;
            let fields = EventFields {
                id_str: event_id.cast::<PyString>()?.to_str()?,
                id: event_id.clone(),
                actor: actor.clone(),
                actor_str,
                speaker: speaker.clone(),
                speaker_str,
                text: text.clone(),
                text_str,
                source_url: item(&ev_d, &n.source_url)?,
                date: date(self, &published_at)?,
                published_at,
            };
            self.alerts(py, &fields, &candidates, &merged)?
        };
        let data = st.copy()?;
        data.set_item(n.topics.bind(py), &topics)?;
        data.set_item(n.seen.bind(py), new_seen)?;
        data.set_item(n.statements.bind(py), statements)?;
        if merged.is_empty() && analysis.relations.is_empty() {
            data.set_item(n.undecided.bind(py), item(&st, &n.undecided)?.add(1)?)?;
        }
        let fields = self.state_fields(&fields_set, o.step_fields.bind(py).as_any())?;
        untrack(topics.as_any());
        untrack(data.as_any());
        let new = self.construct(Model::State, &data, &fields, None)?;
        untrack(&new);
        Ok((new, alerts))
    }
}

/// The event's fields an alert reads.
struct EventFields<'a, 'py> {
    id: Bound<'py, PyAny>,
    id_str: &'a str,
    actor: Bound<'py, PyAny>,
    actor_str: &'a str,
    speaker: Bound<'py, PyAny>,
    speaker_str: &'a str,
    text: Bound<'py, PyAny>,
    text_str: &'a str,
    source_url: Bound<'py, PyAny>,
    published_at: Bound<'py, PyAny>,
    /// `f"{published_at:%Y-%m-%d}"`
    date: String,
}

/// `f"{when:%Y-%m-%d}"`: from the fields of a `datetime` of the years 1000-9999, else formatted
/// by Python (`PyObject_Format`: strftime, whose `%Y` is not padded everywhere).
fn date(fold: &PyFold, when: &Bound<'_, PyAny>) -> Result<String, Fallback> {
    let py = when.py();
    let n = &fold.names;
    if when.get_type().is(fold.objects.datetime.bind(py)) {
        let year: i64 = generic_get(when, n.year.bind(py))?.extract()?;
        if (1000..=9999).contains(&year) {
            let month: i64 = generic_get(when, n.month.bind(py))?.extract()?;
            let day: i64 = generic_get(when, n.day.bind(py))?.extract()?;
            return Ok(format!("{year}-{month:02}-{day:02}"));
        }
    }
    let spec = n.date_format.bind(py);
    let out = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyObject_Format(when.as_ptr(), spec.as_ptr())) }?;
    Ok(out.cast::<PyString>()?.to_str()?.to_owned())
}

/// A set of the strings of `items`, untracked (see `untrack`), to be shared.
fn shared_set(items: &Bound<'_, PyAny>) -> PyResult<Py<PySet>> {
    let s = new_set(items)?;
    untrack(&s);
    Ok(s.cast_into::<PySet>()?.unbind())
}

type GazetteerArgs = (Vec<(String, String)>, Vec<(String, String)>, Vec<(String, String)>, Vec<(String, String)>);
type ModelArgs<'py> = (Bound<'py, PyType>, Bound<'py, PyType>, Bound<'py, PyType>, Bound<'py, PyType>);
type FieldArgs<'py> =
    (Bound<'py, PyFrozenSet>, Bound<'py, PyFrozenSet>, Bound<'py, PyFrozenSet>, Bound<'py, PyFrozenSet>);

#[pymethods]
impl PyFold {
    /// `Fold(core, topics, config, gazetteer, engine, models, order, members, fields, helpers)`: see
    /// `monitor/domain/nativefold.py`, which builds it from a `Detector`.
    ///
    /// - `topics`: `[(id, name, severity rank, per_counterpart), ...]` for the core's topics;
    /// - `config`: `EngineConfig`'s `(escalation_threshold, escalation_floor, magnitude_ratio,
    ///   magnitude_min_step, min_confidence, prior_min_confidence, escalation_min_confidence,
    ///   seen_window, quote_chars)`;
    /// - `gazetteer`: `Counterparts`' `(by_name, names, actor_words, actor_prefixes)` as pairs;
    /// - `engine`: `Detector.version`; `models`: `(StanceState, TopicStance, StatementRef, Alert)`,
    ///   `order`: their fields in declaration order (they must be those the fold fills);
    /// - `members`: `(Polarity.PRO, Polarity.CONTRA, Modality.ASSERTED,
    ///   Modality.HEDGED, Modality.CONDITIONAL, AlertKind.CONTRADICTION, AlertKind.ESCALATION,
    ///   Severity.LOW, .MEDIUM, .HIGH, .CRITICAL, SCHEMA_VERSION)`;
    /// - `fields`: the fields sets of a built stance, statement reference and alert, and the
    ///   fields a step sets on a state;
    /// - `helpers`: `(seen_key, normalized, speaker_parts)` for non-ASCII texts and speakers: the seen-window
    ///   key of a text, `normalize_any(text)[0]`, the speaker's words as `RuleAnalyzer.analyze` takes them.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new<'py>(
        py: Python<'py>,
        core: Py<PyCore>,
        topics: Vec<(String, String, i64, bool, Option<String>)>,
        config: (f64, f64, f64, f64, f64, f64, f64, usize, usize),
        gazetteer: GazetteerArgs,
        engine: String,
        models: ModelArgs<'py>,
        order: Vec<Vec<String>>,
        members: Vec<Bound<'py, PyAny>>,
        fields: FieldArgs<'py>,
        helpers: (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>),
    ) -> PyResult<PyFold> {
        let c = core.get();
        let mut infos: Vec<Option<TopicInfo>> = (0..c.core.topics.len()).map(|_| None).collect();
        let mut families: Vec<String> = Vec::new();
        for (id, name, severity, tracked, family) in topics {
            let k =
                *c.core.topic_index.get(&id).ok_or_else(|| PyValueError::new_err(format!("unknown topic {id:?}")))?;
            if !(0..=3).contains(&severity) {
                return Err(PyValueError::new_err(format!("severity rank {severity} of topic {id:?}")));
            }
            let family = family.map(|f| match families.iter().position(|x| *x == f) {
                Some(i) => i,
                None => {
                    families.push(f);
                    families.len() - 1
                }
            });
            infos[k as usize] = Some(TopicInfo { name, severity, tracked, family });
        }
        let topics: Vec<TopicInfo> = infos
            .into_iter()
            .enumerate()
            .map(|(k, t)| {
                t.ok_or_else(|| PyValueError::new_err(format!("topic {:?} not described", c.core.topics[k].id)))
            })
            .collect::<PyResult<_>>()?;
        let any_tracked = topics.iter().any(|t| t.tracked);
        let any_family = topics.iter().any(|t| t.family.is_some());
        let (a, b, cc, d, e, f, g, seen_window, quote_chars) = config;
        let cfg = Cfg {
            escalation_threshold: a,
            escalation_floor: b,
            magnitude_ratio: cc,
            magnitude_min_step: d,
            min_confidence: e,
            prior_min_confidence: f,
            escalation_min_confidence: g,
            seen_window,
            quote_chars,
        };
        let (by_name, names, actor_words, actor_prefixes) = gazetteer;
        let gazetteer = Gazetteer::new(by_name, names, actor_words, actor_prefixes)?;
        if members.len() != 12 {
            return Err(PyValueError::new_err(format!("12 members expected, not {}", members.len())));
        }
        let m = |i: usize| members[i].clone().unbind();
        let classes = [models.0, models.1, models.2, models.3];
        let mut templates = Vec::with_capacity(4);
        let mut allocs = Vec::with_capacity(4);
        for (k, (cls, declared)) in classes.iter().zip(&order).enumerate() {
            if declared.iter().map(String::as_str).ne(MODEL_FIELDS[k].iter().copied()) {
                return Err(PyValueError::new_err(format!(
                    "{} has the fields {declared:?}, the native fold fills {:?}",
                    cls.name()?,
                    MODEL_FIELDS[k]
                )));
            }
            let t = PyDict::new(py);
            for name in MODEL_FIELDS[k] {
                t.set_item(PyString::intern(py, name), py.None())?;
            }
            templates.push(t.unbind());
            // what object.__new__ calls
            let slot = unsafe { ffi::PyType_GetSlot(cls.as_ptr().cast(), ffi::Py_tp_alloc) };
            if slot.is_null() {
                return Err(PyValueError::new_err(format!("{} has no tp_alloc", cls.name()?)));
            }
            allocs.push(unsafe { std::mem::transmute::<*mut std::ffi::c_void, ffi::allocfunc>(slot) });
        }
        let [t0, t1, t2, t3]: [Py<PyDict>; 4] = templates.try_into().map_err(|_| PyValueError::new_err("4 models"))?;
        let [c0, c1, c2, c3] = classes;
        let objects = Objects {
            classes: [c0.unbind(), c1.unbind(), c2.unbind(), c3.unbind()],
            allocs: [allocs[0], allocs[1], allocs[2], allocs[3]],
            templates: [t0, t1, t2, t3],
            pro: m(0),
            contra: m(1),
            modalities: [m(2), m(3), m(4)],
            kinds: [m(5), m(6)],
            severities: [m(7), m(8), m(9), m(10)],
            schema_version: m(11),
            stance_fields: shared_set(fields.0.as_any())?,
            ref_fields: shared_set(fields.1.as_any())?,
            alert_fields: shared_set(fields.2.as_any())?,
            state_fields: {
                let s = shared_set(fields.3.as_any())?;
                s.bind(py).add("actor")?;
                s
            },
            statements_field: PyFrozenSet::new(py, ["statements"])?.unbind(),
            step_fields: fields.3.unbind(),
            engine: PyString::new(py, &engine).unbind(),
            warning: PyString::intern(py, "warning").unbind(),
            explicit_threat: PyString::intern(py, "explicit_threat").unbind(),
            seen_key: helpers.0.unbind(),
            normalize_any: helpers.1.unbind(),
            datetime: py.import("datetime")?.getattr("datetime")?.cast_into::<PyType>()?.unbind(),
            speaker_parts: helpers.2.unbind(),
        };
        let setters = [0, 1, 2, 3].map(|k| {
            let cls = objects.classes[k].bind(py);
            ["__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"]
                .map(|name| Setter::of(cls, name))
        });
        let setters = setters.map(|row| row.into_iter().collect::<PyResult<Vec<Setter>>>());
        let mut rows = Vec::with_capacity(4);
        for row in setters {
            let row: [Setter; 4] = row?.try_into().map_err(|_| PyValueError::new_err("4 setters"))?;
            rows.push(row);
        }
        let setters: [[Setter; 4]; 4] = rows.try_into().map_err(|_| PyValueError::new_err("4 models"))?;
        Ok(PyFold {
            core,
            topics,
            any_tracked,
            any_family,
            cfg,
            gazetteer,
            names: Names::new(py),
            objects,
            setters,
            strings: Mutex::new(FxHashMap::default()),
            speakers: Mutex::new(FxHashMap::default()),
        })
    }

    /// `Detector.step(state, event)`: `(new_state, alerts)`, or None when the Python fold must
    /// take this statement (see the module documentation).
    fn step<'py>(&self, py: Python<'py>, state: &Bound<'py, PyAny>, event: &Bound<'py, PyAny>) -> Option<Step<'py>> {
        self.run(py, state, event).ok()
    }

    /// `digest(fingerprint_text(text), size=16)` for ASCII text (for the tests).
    #[staticmethod]
    fn seen_key(text: &str) -> PyResult<String> {
        if !text.is_ascii() {
            return Err(PyValueError::new_err("ASCII text only"));
        }
        Ok(seen_key(text))
    }

    /// `Counterparts.own(actor)` (ASCII actors), as a state id.
    fn own(&self, actor: &str) -> Option<String> {
        if !actor.is_ascii() {
            return None;
        }
        self.gazetteer.own(actor).map(|k| self.gazetteer.ids[k as usize].clone())
    }

    /// `Counterparts.counterpart(sentence, own)` (ASCII sentences), as a state id.
    fn counterpart(&self, sentence: &str, own: Option<&str>) -> PyResult<Option<String>> {
        if !sentence.is_ascii() {
            return Err(PyValueError::new_err("ASCII text only"));
        }
        // (a state the gazetteer does not know is never named: no own state to leave out)
        let own = own.and_then(|o| self.gazetteer.ids.iter().position(|id| id == o)).map(|k| k as u16);
        Ok(self.gazetteer.counterpart(sentence, own).map(|k| self.gazetteer.ids[k as usize].clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_format() {
        assert_eq!(fmt_g(25.0), "25");
        assert_eq!(fmt_g(12.5), "12.5");
        assert_eq!(fmt_g(123456.5), "123456");
        assert_eq!(fmt_g(1234567.0), "1.23457e+06");
        assert_eq!(fmt_g(0.000025), "2.5e-05");
        assert_eq!(fmt_g(0.0001), "0.0001");
    }

    #[test]
    fn clip_like_python() {
        assert_eq!(clip("abc", 5), None);
        assert_eq!(clip("abcd  efgh", 7).as_deref(), Some("abcd\u{2026}"));
    }
}
