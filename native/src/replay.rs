//! The replay kernel: a replay's records folded natively, from their bytes to the bytes of the
//! alerts and timeline it writes.
//!
//! `monitor/replay/runner.py` folds a range of the statements log through the worker's
//! `Projector`: decode each record (pydantic), `Detector.step` (the native fold, `fold.rs`, which
//! takes and gives Python models), encode each alert (pydantic) and timeline point (orjson). For a
//! replay those Python objects are most of the cost: they are made for every statement and read
//! once. The kernel keeps each actor's state as plain Rust values instead, and for a record:
//!
//! - decodes it with serde, accepting only what it reads exactly as pydantic reads it (a
//!   `StatementEvent` with no unknown or unusual fields, `published_at` in RFC 3339 with a
//!   four-digit year);
//! - folds it with the decisions of the native fold (`fold::decision`, `fold::explain`,
//!   `fold::choose`, the analysis and keying of `PyFold`), on those values;
//! - writes the alerts as `Alert.model_dump_json()` writes them and the timeline points as the
//!   runner's `orjson.dumps(..., OPT_SORT_KEYS)` does.
//!
//! Anything else stops the kernel at that record (`feed` returns where): the runner folds it in
//! Python on the actor's state taken out of the kernel (`take`) and hands the new state back
//! (`put`). The kernel changes nothing before it knows it can finish a record, so stopping never
//! leaves half a step. `tests/test_replay_kernel.py` replays the same logs both ways and requires
//! the same bytes and states.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyAny, PyBytes, PyList, PyString};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;

use crate::fold::{
    choose, clip, decision, digest, general, once_per, seen_key, warning, whole, Fallback, Make, Outcome, Prior, PyFold,
    Said,
    Stances, Visit,
};
use crate::kafka::Records;
use crate::types::{Modality, RawClaim, CONTRA, PRO};

type S = Arc<str>;

/// A seen-window fingerprint (`digest(..., size=16)`: 16 hex digits).
type Fp = [u8; 16];

fn fingerprint(s: &str) -> Option<Fp> {
    s.as_bytes().try_into().ok()
}

// -- time ------------------------------------------------------------------------------------------

/// An aware datetime as the fold and the outputs read it.
#[derive(Clone, Debug)]
struct Time {
    /// as pydantic writes it: `2024-01-01T00:01:00Z`, `...:00.120000+05:30`
    json: S,
    /// the instant, in microseconds since 1970 UTC (what datetime comparison compares)
    micros: i64,
}

impl Time {
    /// `datetime.isoformat()`: pydantic's form, UTC written `+00:00` instead of `Z`.
    fn iso(&self) -> Cow<'_, str> {
        match self.json.strip_suffix('Z') {
            Some(head) => Cow::Owned(format!("{head}+00:00")),
            None => Cow::Borrowed(&self.json),
        }
    }
}

impl PartialEq for Time {
    fn eq(&self, other: &Time) -> bool {
        self.micros == other.micros // aware datetimes are equal when their instants are
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// `v` in `width` decimal digits, zero-padded.
fn push_digits(out: &mut String, v: u32, width: u32) {
    for k in (0..width).rev() {
        out.push(char::from(b'0' + (v / 10u32.pow(k) % 10) as u8));
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`, a valid date and time of the years 1000-9999: what
/// pydantic reads as this instant and writes back as `json`. Anything else (other separators,
/// omitted seconds, more digits, offsets in seconds): None, and Python reads it.
fn parse_time(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1000..=9999).contains(&year) || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month as usize - 1];
    if day == 0 || day > month_days {
        return None;
    }
    let mut i = 19;
    let mut micro = 0u32;
    if b[i] == b'.' {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let n = end - start;
        if n == 0 || n > 6 {
            return None;
        }
        micro = digits(&b[start..end])? * 10u32.pow((6 - n) as u32);
        i = end;
    }
    let offset: i64 = match &b[i..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let v = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let mut json = String::with_capacity(32);
    json.push_str(&s[..19]);
    if micro != 0 {
        json.push('.');
        push_digits(&mut json, micro, 6);
    }
    if offset == 0 {
        json.push('Z');
    } else {
        let a = offset.unsigned_abs() as u32;
        json.push(if offset < 0 { '-' } else { '+' });
        push_digits(&mut json, a / 3600, 2);
        json.push(':');
        push_digits(&mut json, a % 3600 / 60, 2);
    }
    let secs = days_from_civil(i64::from(year), month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset;
    Some(Time { json: json.into(), micros: secs * 1_000_000 + i64::from(micro) })
}

// -- JSON out ---------------------------------------------------------------------------------------

/// A JSON string as pydantic and orjson write it: UTF-8 as is, `"` `\` and control characters
/// escaped (`\b \f \n \r \t`, else `\u00XX`).
fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    // most strings need no escape: one pass the compiler vectorises, then a copy
    if !b.iter().fold(false, |any, &c| any | (c < 0x20) | (c == b'"') | (c == b'\\')) {
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    let mut last = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&b[last..i]);
        if esc.is_empty() {
            let _ = write!(Buf(out), "\\u{c:04x}");
        } else {
            out.extend_from_slice(esc);
        }
        last = i + 1;
    }
    out.extend_from_slice(&b[last..]);
    out.push(b'"');
}

/// `fmt::Write` into a byte buffer.
struct Buf<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A float as pydantic and orjson write it, for the values they write as Python's `repr` does
/// (zero and magnitudes from 1e-4 to below 1e15); Fallback for the others.
fn put_float(out: &mut Vec<u8>, x: f64) -> Result<(), Fallback> {
    if !plain_float(x) {
        return Err(Fallback);
    }
    let _ = write!(Buf(out), "{x:?}");
    Ok(())
}

/// Whether `put_float` writes `x`.
fn plain_float(x: f64) -> bool {
    let a = x.abs();
    a == 0.0 || (1e-4..1e15).contains(&a)
}

/// A float for a state handed to pydantic (any finite value; shortest round-trip digits).
fn put_any_float(out: &mut Vec<u8>, x: f64) -> Result<(), Fallback> {
    if !x.is_finite() {
        return Err(Fallback);
    }
    let _ = write!(Buf(out), "{x:?}");
    Ok(())
}

fn put_strs(out: &mut Vec<u8>, items: impl IntoIterator<Item = impl AsRef<str>>) {
    out.push(b'[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put_str(out, s.as_ref());
    }
    out.push(b']');
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn polarity_name(pol: i8) -> &'static str {
    if pol == PRO {
        "pro"
    } else {
        "contra"
    }
}

// -- the state -----------------------------------------------------------------------------------

/// `StatementRef`.
#[derive(Clone, PartialEq, Debug)]
struct Ref {
    id: S,
    speaker: S,
    quote: S,
    source_url: Option<S>,
    at: Time,
}

impl Ref {
    fn put(&self, out: &mut Vec<u8>) {
        put_ref(out, &self.id, &self.speaker, &self.quote, self.source_url.as_deref(), &self.at);
    }
}

/// A `StatementRef` as pydantic writes it.
fn put_ref(out: &mut Vec<u8>, id: &str, speaker: &str, quote: &str, source_url: Option<&str>, at: &Time) {
    out.extend_from_slice(b"{\"id\":");
    put_str(out, id);
    out.extend_from_slice(b",\"speaker\":");
    put_str(out, speaker);
    out.extend_from_slice(b",\"quote\":");
    put_str(out, quote);
    out.extend_from_slice(b",\"source_url\":");
    put_opt_str(out, source_url);
    out.extend_from_slice(b",\"published_at\":\"");
    out.extend_from_slice(at.json.as_bytes());
    out.extend_from_slice(b"\"}");
}

/// `TopicStance`.
#[derive(Clone, PartialEq, Debug)]
struct Stance {
    topic: S,
    pol: i8,
    intensity: f64,
    category: Option<S>,
    confidence: f64,
    basis: Arc<Ref>,
    support: i64,
    last_statement_id: S,
    cues: Arc<[S]>,
    magnitude: Option<f64>,
    modality: Modality,
    evidence: i64,
}

impl Stance {
    fn facts(&self) -> Prior {
        Prior {
            pol: self.pol,
            intensity: self.intensity,
            confidence: self.confidence,
            modality: self.modality,
            magnitude: self.magnitude,
            category: self.category.as_deref().map(str::to_owned),
        }
    }

    fn put(&self, out: &mut Vec<u8>) -> Result<(), Fallback> {
        out.extend_from_slice(b"{\"topic\":");
        put_str(out, &self.topic);
        let _ = write!(Buf(out), ",\"polarity\":\"{}\",\"intensity\":", polarity_name(self.pol));
        put_any_float(out, self.intensity)?;
        out.extend_from_slice(b",\"category\":");
        put_opt_str(out, self.category.as_deref());
        out.extend_from_slice(b",\"confidence\":");
        put_any_float(out, self.confidence)?;
        out.extend_from_slice(b",\"basis\":");
        self.basis.put(out);
        let _ = write!(Buf(out), ",\"support\":{},\"last_statement_id\":", self.support);
        put_str(out, &self.last_statement_id);
        out.extend_from_slice(b",\"cues\":");
        put_strs(out, self.cues.iter());
        out.extend_from_slice(b",\"magnitude\":");
        match self.magnitude {
            Some(m) => put_any_float(out, m)?,
            None => out.extend_from_slice(b"null"),
        }
        let _ = write!(Buf(out), ",\"modality\":\"{}\",\"evidence\":{}}}", self.modality.as_str(), self.evidence);
        Ok(())
    }
}

/// `StanceState` of one actor (its id is the kernel's key).
#[derive(Clone, Debug, Default)]
struct State {
    topics: Vec<(S, Stance)>,
    seen: VecDeque<Fp>,
    statements: i64,
    undecided: i64,
    /// folded since it came into the kernel (else `export` leaves the caller's object)
    stepped: bool,
}

impl State {
    fn get(&self, key: &str) -> Option<usize> {
        self.topics.iter().position(|(k, _)| &**k == key)
    }

    fn stance(&self, key: &str) -> Option<&Stance> {
        self.get(key).map(|i| &self.topics[i].1)
    }

    fn put(&self, actor: &str, out: &mut Vec<u8>) -> Result<(), Fallback> {
        out.extend_from_slice(b"{\"schema_version\":1,\"actor\":");
        put_str(out, actor);
        out.extend_from_slice(b",\"topics\":{");
        for (i, (k, s)) in self.topics.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            put_str(out, k);
            out.push(b':');
            s.put(out)?;
        }
        out.extend_from_slice(b"},\"seen\":");
        put_strs(out, self.seen.iter().map(|f| std::str::from_utf8(f).unwrap_or("")));
        let _ = write!(Buf(out), ",\"statements\":{},\"undecided\":{}}}", self.statements, self.undecided);
        Ok(())
    }
}

/// A state's stances (by index), for the fold's lookups (`fold::Stances`).
struct Held<'a>(&'a State);

impl Stances for Held<'_> {
    type Item = usize;
    type When = i64;

    fn get(&self, key: &str) -> Result<Option<usize>, Fallback> {
        Ok(self.0.get(key))
    }

    fn each(&self, f: &mut Visit<'_, usize>) -> Result<(), Fallback> {
        for (i, (k, _)) in self.0.topics.iter().enumerate() {
            f(k, i)?;
        }
        Ok(())
    }

    fn when(&self, &i: &usize) -> Result<i64, Fallback> {
        Ok(self.0.topics[i].1.basis.at.micros)
    }

    fn later(&self, a: &i64, b: &i64) -> Result<bool, Fallback> {
        Ok(a > b)
    }

    fn refusal(&self, &i: &usize) -> Result<bool, Fallback> {
        Ok(self.0.topics[i].1.pol == CONTRA)
    }

    fn hostile(&self, &i: &usize) -> Result<bool, Fallback> {
        Ok(self.0.topics[i].1.intensity < 0.0)
    }

    fn facts(&self, &i: &usize) -> Result<Prior, Fallback> {
        Ok(self.0.topics[i].1.facts())
    }

    fn topic(&self, &i: &usize) -> Result<String, Fallback> {
        Ok(self.0.topics[i].1.topic.to_string())
    }
}

// -- JSON in --------------------------------------------------------------------------------------

/// A field that may be left out but not given as null (`language: str = "en"`).
struct Given<T>(Option<T>);

impl<T> Default for Given<T> {
    fn default() -> Self {
        Given(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Given<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|v| Given(Some(v)))
    }
}

/// `StatementEvent` as the wire holds it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent<'a> {
    #[serde(default)]
    schema_version: Given<u8>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    speaker: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(borrow)]
    published_at: Cow<'a, str>,
    #[serde(default, borrow)]
    source_url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    #[allow(dead_code)] // read to check it is a string
    language: Given<Cow<'a, str>>,
    #[serde(default, borrow)]
    kind: Given<Cow<'a, str>>,
    #[serde(default, borrow)]
    #[allow(dead_code)]
    speaker_as_written: Option<Cow<'a, str>>,
    #[serde(default)]
    offset: Option<u64>,
}

/// The event's fields the fold reads, checked as `StatementEvent` checks them.
struct Event<'a> {
    id: Cow<'a, str>,
    actor: Cow<'a, str>,
    speaker: Cow<'a, str>,
    text: Cow<'a, str>,
    at: Time,
    source_url: Option<Cow<'a, str>>,
}

/// Length in characters within `lo..=hi`, and nothing `str.strip()` would remove.
fn stripped_within(s: &str, lo: usize, hi: usize) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().next_back()) else { return lo == 0 };
    if crate::fold::py_isspace(first) || crate::fold::py_isspace(last) {
        return false;
    }
    let n = if s.is_ascii() { s.len() } else { s.chars().count() };
    (lo..=hi).contains(&n)
}

fn actor_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-'))
}

/// The event in `raw`, when the kernel reads it exactly as `decode_statement` does; else None.
fn decode(raw: &[u8]) -> Option<Event<'_>> {
    // one UTF-8 check of the whole record (serde checks each string of a byte slice again)
    let text = std::str::from_utf8(raw).ok()?;
    let w: WireEvent<'_> = serde_json::from_str(text).ok()?;
    if w.schema_version.0.is_some_and(|v| v != 1)
        || w.kind.0.as_deref().is_some_and(|k| !matches!(k, "direct" | "indirect" | "unknown"))
        || w.offset.is_some_and(|o| o > i64::MAX as u64)
        || !stripped_within(&w.id, 1, 256)
        || !actor_id(&w.actor)
        || !stripped_within(&w.speaker, 1, usize::MAX)
        || !stripped_within(&w.text, 1, 20_000)
    {
        return None;
    }
    let at = parse_time(&w.published_at)?;
    Some(Event { id: w.id, actor: w.actor, speaker: w.speaker, text: w.text, at, source_url: w.source_url })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireStance {
    topic: String,
    polarity: String,
    intensity: f64,
    category: Option<String>,
    confidence: f64,
    basis: WireRef,
    support: i64,
    last_statement_id: String,
    cues: Vec<String>,
    magnitude: Option<f64>,
    modality: String,
    evidence: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRef {
    id: String,
    speaker: String,
    quote: String,
    source_url: Option<String>,
    published_at: String,
}

/// `topics` of a stored state: a JSON object read in order (serde reads a map into a sequence
/// of pairs only through a visitor).
mod ordered {
    use super::WireStance;
    use serde::de::{MapAccess, Visitor};
    use serde::Deserializer;
    use std::fmt;

    pub fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, WireStance)>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<(String, WireStance)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of stances")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, WireStance>()? {
                    if out.iter().any(|(seen, _): &(String, WireStance)| *seen == k) {
                        return Err(serde::de::Error::custom("a topic twice"));
                    }
                    out.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// A stored `StanceState` (as `encode(state)` writes it) the kernel can hold exactly; else None.
fn import(raw: &[u8]) -> Option<(String, State)> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct W {
        schema_version: u8,
        actor: String,
        #[serde(deserialize_with = "ordered::read")]
        topics: Vec<(String, WireStance)>,
        seen: Vec<String>,
        statements: i64,
        undecided: i64,
    }
    let w: W = serde_json::from_slice(raw).ok()?;
    if w.schema_version != 1 {
        return None;
    }
    let mut topics = Vec::with_capacity(w.topics.len());
    for (key, s) in w.topics {
        let pol = match s.polarity.as_str() {
            "pro" => PRO,
            "contra" => CONTRA,
            _ => return None,
        };
        let modality = match s.modality.as_str() {
            "asserted" => Modality::Asserted,
            "hedged" => Modality::Hedged,
            "conditional" => Modality::Conditional,
            _ => return None,
        };
        let b = s.basis;
        let basis = Ref {
            id: b.id.into(),
            speaker: b.speaker.into(),
            quote: b.quote.into(),
            source_url: b.source_url.map(Into::into),
            at: parse_time(&b.published_at)?,
        };
        if basis.at.json.as_ref() != b.published_at {
            return None; // not pydantic's own form: Python keeps it
        }
        topics.push((
            key.into(),
            Stance {
                topic: s.topic.into(),
                pol,
                intensity: s.intensity,
                category: s.category.map(Into::into),
                confidence: s.confidence,
                basis: Arc::new(basis),
                support: s.support,
                last_statement_id: s.last_statement_id.into(),
                cues: s.cues.into_iter().map(Into::into).collect(),
                magnitude: s.magnitude,
                modality,
                evidence: s.evidence,
            },
        ));
    }
    let state = State {
        topics,
        seen: w.seen.iter().map(|f| fingerprint(f)).collect::<Option<_>>()?,
        statements: w.statements,
        undecided: w.undecided,
        stepped: false,
    };
    Some((w.actor, state))
}

// -- the step ---------------------------------------------------------------------------------------

/// An alert candidate: the claim (by index) contradicts or hardens the stance `prior` of the state.
struct Candidate {
    escalation: bool,
    reason: String,
    claim: usize,
    key: S,
    prior: usize,
}

/// What one statement does to a state, before it is applied.
struct Step {
    /// the same words again: evidence, never news
    republished: bool,
    /// stances set, in the order first set (the dict's order for new keys)
    changes: Vec<(S, Stance)>,
    fingerprint: Fp,
    undecided: bool,
    /// the alerts' JSON lines (whether an escalation, topic, line), in the runner's order (kind,
    /// topic, id): `choose` gives at most one per kind, contradictions first
    alerts: Vec<(bool, S, Vec<u8>)>,
}

fn set(changes: &mut Vec<(S, Stance)>, key: S, stance: Stance) {
    match changes.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = stance,
        None => changes.push((key, stance)),
    }
}

/// The replay kernel of one fold (see the module documentation).
#[pyclass(name = "ReplayKernel", module = "monitor_native")]
pub struct Kernel {
    fold: Py<PyFold>,
    states: FxHashMap<Box<str>, State>,
    /// actors whose state the caller holds: their records stop the kernel
    held: FxHashSet<Box<str>>,
    timeline: bool,
    /// the alert topics kept (all when None)
    topics: Option<FxHashSet<String>>,
    /// the actors replayed (all when None)
    actors: Option<FxHashSet<String>>,
    engine: S,
    /// strings written again and again (stance keys, cues), one allocation each
    strings: FxHashMap<Box<str>, S>,
}

impl Kernel {
    /// Whether the actor filter skips a record with this key (a record without a key is
    /// decoded and filtered by its actor).
    fn skips(&self, key: Option<&[u8]>) -> bool {
        match (&self.actors, key) {
            (Some(actors), Some(key)) => !std::str::from_utf8(key).is_ok_and(|k| actors.contains(k)),
            _ => false,
        }
    }

    fn string(&mut self, s: &str) -> S {
        if let Some(found) = self.strings.get(s) {
            return found.clone();
        }
        let made: S = s.into();
        if self.strings.len() < 1 << 14 {
            self.strings.insert(s.into(), made.clone());
        }
        made
    }

    /// The stance `claim` makes (`_stance`).
    #[allow(clippy::too_many_arguments)]
    fn stance(
        &mut self,
        claim: &RawClaim,
        key: &S,
        reference: &Arc<Ref>,
        event_id: &S,
        support: i64,
        p: Option<&Stance>,
        confidence: Option<f64>,
    ) -> Stance {
        let mut magnitude = claim.magnitude;
        let mut basis = reference.clone();
        let mut conf = confidence.unwrap_or(claim.confidence);
        let mut evidence = 0;
        if let Some(p) = p {
            if claim.magnitude.is_none() {
                magnitude = p.magnitude;
                if magnitude.is_some() {
                    basis = p.basis.clone();
                }
            }
            if p.confidence > conf {
                conf = p.confidence;
            }
            evidence = p.evidence;
        }
        let cues: Arc<[S]> = claim.cues[..claim.cues.len().min(6)].iter().map(|c| self.string(c)).collect();
        Stance {
            topic: key.clone(),
            pol: claim.pol,
            intensity: claim.intensity,
            category: claim.category.map(|c| self.string(c)),
            confidence: conf,
            basis,
            support,
            last_statement_id: event_id.clone(),
            cues,
            magnitude,
            modality: claim.modality,
            evidence,
        }
    }

    /// `Detector.step` on `state` (not changed: the caller applies the step).
    fn step(&mut self, fold: &PyFold, state: &State, ev: &Event<'_>) -> Result<Step, Fallback> {
        let text: &str = &ev.text;
        let ascii = text.is_ascii();
        let key = if ascii {
            seen_key(text)
        } else {
            Python::attach(|py| fold.objects.seen_key.bind(py).call1((text,))?.extract::<String>())?
        };
        let fingerprint = self::fingerprint(&key).ok_or(Fallback)?;
        if state.seen.iter().any(|k| *k == fingerprint) {
            return Ok(Step { republished: true, changes: Vec::new(), fingerprint, undecided: false, alerts: Vec::new() });
        }
        let normalized: String;
        let analyzed: &str = if ascii {
            text
        } else {
            normalized = Python::attach(|py| fold.objects.normalize_any.bind(py).call1((text,))?.extract())?;
            if !normalized.is_ascii() {
                return Err(Fallback);
            }
            &normalized
        };
        let speaker: &str = &ev.speaker;
        let parts = fold.speaker_parts(speaker)?;
        let analysis = crate::rules::analyze(fold.core(), analyzed, &parts);
        let actor: &str = &ev.actor;
        let merged = if analysis.claims.is_empty() { Vec::new() } else { fold.merged(analysis.claims, actor)? };
        if merged.iter().any(|(_, c)| c.magnitude.is_some_and(|m| !m.is_finite())) {
            return Err(Fallback);
        }
        let event_id: S = ev.id.as_ref().into();
        let speaker_s: S = speaker.into();
        let source_url: Option<S> = ev.source_url.as_deref().map(Into::into);
        let mut changes: Vec<(S, Stance)> = Vec::new();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut refs: Vec<(&str, Arc<Ref>)> = Vec::new();
        for (i, (key, claim)) in merged.iter().enumerate() {
            let sentence = claim.sentence.as_str();
            let reference = once_per(&mut refs, sentence, || -> Result<_, Fallback> {
                let quote = clip(sentence, fold.cfg.quote_chars).unwrap_or_else(|| sentence.to_owned());
                Ok(Arc::new(Ref {
                    id: event_id.clone(),
                    speaker: speaker_s.clone(),
                    quote: quote.into(),
                    source_url: source_url.clone(),
                    at: ev.at.clone(),
                }))
            })?;
            let key_s = self.string(key);
            let mut prior = state.get(key);
            if prior.is_none() && fold.any_tracked {
                prior = general(fold, &Held(state), claim, key)?;
            }
            if prior.is_none() && key.contains(':') && !state.topics.is_empty() {
                prior = whole(&Held(state), key)?;
            }
            let p = prior.map(|k| &state.topics[k].1);
            let facts = p.map(Stance::facts);
            let (outcome, make, reason) = decision(&fold.cfg, facts.as_ref(), claim);
            let stance = match (make, p) {
                (Make::Fresh(confidence), _) => self.stance(claim, &key_s, &reference, &event_id, 1, None, confidence),
                (Make::Merged, Some(p)) => self.stance(claim, &key_s, &reference, &event_id, p.support + 1, Some(p), None),
                (Make::Noted(support), Some(p)) => {
                    let mut s = p.clone();
                    s.evidence += 1;
                    if support {
                        s.support += 1;
                    }
                    s
                }
                (_, None) => unreachable!("decision merges or notes only a prior"),
            };
            set(&mut changes, key_s.clone(), stance);
            if let Some(prior) = prior {
                if outcome != Outcome::Other {
                    candidates.push(Candidate {
                        escalation: outcome == Outcome::Escalation,
                        reason,
                        claim: i,
                        key: key_s,
                        prior,
                    });
                }
            } else if fold.any_family && !state.topics.is_empty() {
                if let Some((prior, reason)) = warning(fold, &Held(state), key, claim)? {
                    candidates.push(Candidate { escalation: true, reason, claim: i, key: key_s, prior });
                }
            }
        }
        for rel in &analysis.relations {
            if rel.relation != "same" || merged.iter().any(|(k, _)| *k == rel.topic) {
                continue;
            }
            let current = match changes.iter().find(|(k, _)| **k == *rel.topic) {
                Some((_, s)) => Some(s.clone()),
                None => state.stance(&rel.topic).cloned(),
            };
            if let Some(mut s) = current {
                s.support += 1;
                let key = self.string(&rel.topic);
                set(&mut changes, key, s);
            }
        }
        let alerts = if candidates.is_empty() { Vec::new() } else { self.alerts(fold, state, ev, &candidates, &merged)? };
        // a timeline point writes these: values JSON writes otherwise than `put_float` are Python's
        if changes.iter().any(|(_, s)| !(plain_float(s.confidence) && plain_float(s.intensity))) {
            return Err(Fallback);
        }
        let undecided = merged.is_empty() && analysis.relations.is_empty();
        Ok(Step { republished: false, changes, fingerprint, undecided, alerts })
    }

    /// `feed`'s fold of the records it found: how many it folded, the alert and timeline lines, the counts.
    fn fold_items(
        &mut self,
        fold: &PyFold,
        items: &[Option<(Raw, i64)>],
        start: i64,
        partition: i64,
    ) -> (usize, Vec<u8>, Vec<u8>, Counts) {
        let window = fold.cfg.seen_window;
        // room for a few hundred bytes a record at first (batches of Kafka record sets run to tens
        // of thousands of records; most make no alert), growing as needed
        let room = items.len().min(4096) * 256;
        let mut alerts: Vec<u8> = Vec::with_capacity(room);
        let mut timeline: Vec<u8> = Vec::with_capacity(if self.timeline { room } else { 0 });
        let mut c = Counts::default();
        for (i, item) in items.iter().enumerate() {
            let Some((value, offset)) = item else {
                c.skipped += 1;
                continue;
            };
            let offset = *offset;
            // SAFETY: `feed` holds a reference to the bytes object until the fold returns, and a
            // bytes object's contents never change
            let value = unsafe { std::slice::from_raw_parts(value.0, value.1) };
            let Some(ev) = decode(value) else { return (i, alerts, timeline, c) };
            let actor: &str = &ev.actor;
            if self.held.contains(actor) {
                return (i, alerts, timeline, c);
            }
            // the state out of its slot for the step (its key stays allocated), back after
            let mut state = match self.states.get_mut(actor) {
                Some(slot) => std::mem::take(slot),
                None => State::default(),
            };
            let mut step = match self.step(fold, &state, &ev) {
                Ok(step) => step,
                Err(Fallback) => {
                    if let Some(slot) = self.states.get_mut(actor) {
                        *slot = state;
                    }
                    return (i, alerts, timeline, c);
                }
            };
            let step_alerts = std::mem::take(&mut step.alerts);
            let moved = apply(&mut state, step, window, self.timeline);
            match self.states.get_mut(actor) {
                Some(slot) => *slot = state,
                None => {
                    self.states.insert(actor.into(), state);
                }
            }
            let in_range = offset >= start;
            if !in_range {
                c.folded += 1;
                continue;
            }
            if self.actors.as_ref().is_some_and(|a| !a.contains(actor)) {
                c.skipped += 1;
                continue;
            }
            c.in_range += 1;
            for (escalation, topic, line) in &step_alerts {
                if self.topics.as_ref().is_some_and(|t| !t.contains(&**topic)) {
                    continue;
                }
                alerts.extend_from_slice(line);
                if *escalation {
                    c.escalations += 1;
                } else {
                    c.contradictions += 1;
                }
            }
            for (key, s) in &moved {
                if self.topics.as_ref().is_some_and(|t| !t.contains(&**key)) {
                    continue;
                }
                timeline.extend_from_slice(b"{\"actor\":");
                put_str(&mut timeline, actor);
                timeline.extend_from_slice(b",\"confidence\":");
                // (`step` declined stances whose values `put_float` does not write)
                let _ = put_float(&mut timeline, s.confidence);
                timeline.extend_from_slice(b",\"intensity\":");
                let _ = put_float(&mut timeline, s.intensity);
                let _ = write!(
                    Buf(&mut timeline),
                    ",\"offset\":{offset},\"partition\":{partition},\"polarity\":\"{}\",\"published_at\":\"{}\",\"statement_id\":",
                    polarity_name(s.pol),
                    ev.at.iso()
                );
                put_str(&mut timeline, &ev.id);
                timeline.extend_from_slice(b",\"topic\":");
                put_str(&mut timeline, key);
                timeline.extend_from_slice(b"}\n");
            }
        }
        (items.len(), alerts, timeline, c)
    }

    /// `Detector._alerts`, written as JSON lines.
    fn alerts(
        &self,
        fold: &PyFold,
        state: &State,
        ev: &Event<'_>,
        candidates: &[Candidate],
        claims: &[(String, RawClaim)],
    ) -> Result<Vec<(bool, S, Vec<u8>)>, Fallback> {
        let date = &ev.at.json[..10];
        let now = Said { speaker: &ev.speaker, date };
        let mut plans = Vec::with_capacity(candidates.len());
        for cand in candidates {
            let claim = &claims[cand.claim].1;
            let p = &state.topics[cand.prior].1;
            let before = Said { speaker: &p.basis.speaker, date: &p.basis.at.json[..10] };
            let name = fold.topic_name(claim, &cand.key);
            plans.push(fold.explain(&ev.actor, &before, &now, cand.escalation, &cand.reason, claim, &p.facts(), name, cand));
        }
        let mut out = Vec::with_capacity(2);
        for (plan, explanation) in choose(plans) {
            let cand = plan.item;
            let claim = &claims[cand.claim].1;
            let p = &state.topics[cand.prior].1;
            let kind = if cand.escalation { "escalation" } else { "contradiction" };
            let id = format!("alr_{}", digest(&[ev.id.as_bytes(), kind.as_bytes(), cand.key.as_bytes()], 24));
            let mut j = Vec::with_capacity(1024 + ev.text.len());
            let _ = write!(Buf(&mut j), "{{\"schema_version\":1,\"id\":\"{id}\",\"kind\":\"{kind}\",\"actor\":");
            put_str(&mut j, &ev.actor);
            j.extend_from_slice(b",\"topic\":");
            put_str(&mut j, &cand.key);
            j.extend_from_slice(b",\"topic_name\":");
            put_str(&mut j, &plan.name);
            j.extend_from_slice(b",\"statement\":");
            let quote = clip(&ev.text, 1200); // the statement's quote, clipped to _ALERT_QUOTE_CHARS
            put_ref(&mut j, &ev.id, &ev.speaker, quote.as_deref().unwrap_or(&ev.text), ev.source_url.as_deref(), &ev.at);
            j.extend_from_slice(b",\"prior\":");
            p.basis.put(&mut j);
            let severity = ["low", "medium", "high", "critical"][plan.rank];
            let _ = write!(Buf(&mut j), ",\"severity\":\"{severity}\",\"confidence\":");
            put_float(&mut j, plan.confidence)?;
            j.extend_from_slice(b",\"explanation\":");
            put_str(&mut j, &explanation);
            j.extend_from_slice(b",\"cues\":");
            put_strs(&mut j, claim.cues.iter());
            j.extend_from_slice(b",\"negation_cues\":");
            put_strs(&mut j, claim.neg_cues.iter());
            j.extend_from_slice(b",\"modality_cues\":");
            put_strs(&mut j, claim.mod_cues.iter());
            let _ = write!(
                Buf(&mut j),
                ",\"prior_polarity\":\"{}\",\"new_polarity\":\"{}\",\"prior_intensity\":",
                polarity_name(p.pol),
                polarity_name(claim.pol)
            );
            put_float(&mut j, p.intensity)?;
            j.extend_from_slice(b",\"new_intensity\":");
            put_float(&mut j, claim.intensity)?;
            j.extend_from_slice(b",\"engine\":");
            put_str(&mut j, &self.engine);
            j.extend_from_slice(b"}\n");
            out.push((cand.escalation, cand.key.clone(), j));
        }
        Ok(out)
    }
}

/// A step applied to its state; the stances it changed (by value), sorted by key.
fn apply(state: &mut State, step: Step, window: usize, timeline: bool) -> Vec<(S, Stance)> {
    state.statements += 1;
    state.stepped = true;
    if step.republished {
        return Vec::new();
    }
    if window == 0 {
        state.seen.clear();
    } else {
        state.seen.push_back(step.fingerprint);
        while state.seen.len() > window {
            state.seen.pop_front();
        }
    }
    if step.undecided {
        state.undecided += 1;
    }
    let mut moved = Vec::new();
    for (key, stance) in step.changes {
        match state.get(&key) {
            Some(i) => {
                if timeline && state.topics[i].1 != stance {
                    moved.push((key.clone(), stance.clone()));
                }
                state.topics[i].1 = stance;
            }
            None => {
                if timeline {
                    moved.push((key.clone(), stance.clone()));
                }
                state.topics.push((key, stance));
            }
        }
    }
    moved.sort_by(|a, b| a.0.cmp(&b.0));
    moved
}

/// What `feed` counted: folded before the range, in range, skipped by a filter, alerts by kind.
#[derive(Default)]
struct Counts {
    folded: u64,
    in_range: u64,
    skipped: u64,
    contradictions: u64,
    escalations: u64,
}

/// The contents of a bytes object `feed` holds (pointer, length), readable while detached.
struct Raw(*const u8, usize);

// SAFETY: read only while `feed` holds the object (see `fold_items`); bytes are immutable
unsafe impl Send for Raw {}
unsafe impl Sync for Raw {}

type Fed<'py> = (usize, Bound<'py, PyBytes>, Bound<'py, PyBytes>, (u64, u64, u64, u64, u64));

#[pymethods]
impl Kernel {
    /// `ReplayKernel(fold, timeline, topics, actors)`: a kernel folding with `fold` (a `Fold`),
    /// writing timeline points if `timeline`, keeping alerts and points of the `topics` given
    /// and the statements of the `actors` given (all when None).
    #[new]
    #[pyo3(signature = (fold, timeline, topics=None, actors=None))]
    fn new(
        py: Python<'_>,
        fold: Py<PyFold>,
        timeline: bool,
        topics: Option<Vec<String>>,
        actors: Option<Vec<String>>,
    ) -> PyResult<Kernel> {
        let engine: String = fold.get().objects.engine.bind(py).extract()?;
        Ok(Kernel {
            fold,
            states: FxHashMap::default(),
            held: FxHashSet::default(),
            timeline,
            topics: topics.map(|t| t.into_iter().collect()),
            actors: actors.map(|a| a.into_iter().collect()),
            engine: engine.into(),
            strings: FxHashMap::default(),
        })
    }

    /// Fold `records` (a list of objects with `key`, `value` and `offset`, or a `Records` set read
    /// by `read_batches`) of one partition from index `pos`; those before offset `start` only into
    /// the states. Returns `(stop, alerts, timeline, (folded, in_range, skipped, contradictions,
    /// escalations))`: `stop` is the index of the first record the kernel did not fold (the caller
    /// folds it in Python), `len(records)` when it folded them all; the alerts and timeline points
    /// are JSON lines.
    ///
    /// The records' bytes are read in place (their bytes objects, or the record set's, are held
    /// until the fold returns); the fold runs detached from the interpreter, so another thread
    /// (the replay's reader) runs Python meanwhile.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
        pos: usize,
        start: i64,
        partition: i64,
    ) -> PyResult<Fed<'py>> {
        let fold_py = self.fold.clone_ref(py);
        // the records from `pos` up to the first whose value is not bytes: None for one the
        // actor filter skips, else its value (bytes kept alive in `held`, or in the record set) and offset
        let mut held: Vec<Bound<'py, PyBytes>> = Vec::new();
        let mut items: Vec<Option<(Raw, i64)>> = Vec::new();
        if let Ok(set) = records.cast::<Records>() {
            let set = set.get();
            let data = set.data.bind(py).as_bytes();
            items.reserve(set.entries.len().saturating_sub(pos));
            for e in set.entries.iter().skip(pos) {
                if self.skips(Records::slice(data, e.key)) {
                    items.push(None);
                    continue;
                }
                let Some(value) = Records::slice(data, e.value) else { break };
                items.push(Some((Raw(value.as_ptr(), value.len()), e.offset)));
            }
        } else {
            let records = records.cast::<PyList>()?;
            let (n_key, n_value, n_offset) =
                (PyString::intern(py, "key"), PyString::intern(py, "value"), PyString::intern(py, "offset"));
            held.reserve(records.len().saturating_sub(pos));
            items.reserve(held.capacity());
            for i in pos..records.len() {
                let rec = records.get_item(i)?;
                if self.actors.is_some() {
                    let key = rec.getattr(&n_key)?;
                    let key = if key.is_none() { None } else { Some(key.cast_into::<PyBytes>()?) };
                    if self.skips(key.as_ref().map(|k| k.as_bytes())) {
                        items.push(None);
                        continue;
                    }
                }
                let Ok(value) = rec.getattr(&n_value)?.cast_into::<PyBytes>() else { break };
                let offset: i64 = rec.getattr(&n_offset)?.extract()?;
                let bytes = value.as_bytes();
                items.push(Some((Raw(bytes.as_ptr(), bytes.len()), offset)));
                held.push(value);
            }
        }
        let fold = fold_py.get();
        let (done, alerts, timeline, c) = py.detach(|| self.fold_items(fold, &items, start, partition));
        drop(held); // (attached again: the bytes objects outlived the fold that read them)
        Ok((
            pos + done,
            PyBytes::new(py, &alerts),
            PyBytes::new(py, &timeline),
            (c.folded, c.in_range, c.skipped, c.contradictions, c.escalations),
        ))
    }

    /// The state of `actor` as JSON (`StanceState`), taken out of the kernel; None if it has none.
    fn take<'py>(&mut self, py: Python<'py>, actor: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let Some(state) = self.states.remove(actor) else { return Ok(None) };
        let mut out = Vec::with_capacity(1024);
        if state.put(actor, &mut out).is_err() {
            self.states.insert(actor.into(), state);
            return Err(pyo3::exceptions::PyValueError::new_err(format!("the state of {actor:?} cannot be written")));
        }
        Ok(Some(PyBytes::new(py, &out)))
    }

    /// Hold the state `raw` (`encode(state)`; `stepped`: folded since the replay began). False
    /// when the kernel cannot hold it exactly: the caller keeps it, and the actor's records stop
    /// the kernel from then on.
    fn put(&mut self, raw: &[u8], stepped: bool) -> bool {
        match import(raw) {
            Some((actor, mut state)) => {
                state.stepped = stepped;
                self.held.remove(actor.as_str());
                self.states.insert(actor.into(), state);
                true
            }
            None => {
                if let Ok(actor) = serde_json::from_slice::<ActorOnly>(raw) {
                    self.states.remove(actor.actor.as_str());
                    self.held.insert(actor.actor.into());
                }
                false
            }
        }
    }

    /// Leave `actor`'s state with the caller: its records stop the kernel until `put` gives it
    /// (a snapshot's state, handed over by the Python path when the actor first turns up).
    fn hold(&mut self, actor: &str) {
        self.states.remove(actor);
        self.held.insert(actor.into());
    }

    /// The actors folded since the replay began, with their states as JSON.
    fn export<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Bound<'py, PyBytes>)>> {
        let mut out = Vec::new();
        let mut actors: Vec<&Box<str>> = self.states.iter().filter(|(_, s)| s.stepped).map(|(a, _)| a).collect();
        actors.sort();
        for actor in actors {
            let mut buf = Vec::with_capacity(1024);
            self.states[actor]
                .put(actor, &mut buf)
                .map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("the state of {actor:?} cannot be written")))?;
            out.push((actor.to_string(), PyBytes::new(py, &buf)));
        }
        Ok(out)
    }

    /// Actors whose states the kernel holds.
    fn __len__(&self) -> usize {
        self.states.len()
    }

    /// `Time` of an RFC 3339 text as the kernel reads it: `(json, isoformat, microseconds)` or
    /// None (for the tests).
    #[staticmethod]
    fn read_time(text: &str) -> Option<(String, String, i64)> {
        parse_time(text).map(|t| (t.json.to_string(), t.iso().into_owned(), t.micros))
    }
}

#[derive(Deserialize)]
struct ActorOnly {
    actor: String,
}
