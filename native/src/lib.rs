//! `monitor_native`: the native core of monitor's rule analyzer, as a Python extension module.
//!
//! The Python package stays the specification: `monitor/domain/analysis/native.py` builds a
//! [`Core`](PyCore) from what a `RuleAnalyzer` compiled (its phrase table, topic specs and
//! answer lists) and calls `analyze`; a differential test compares the results with the Python
//! analyzer's. The core reads ASCII text only (offsets are byte offsets; see `types.rs`), and
//! every method that takes text raises `ValueError` on anything else.
//!
//! [`Fold`](fold::PyFold) is the rest of `Detector.step` (`fold.rs`): it reads a statement with a
//! core and folds it into an actor's state, building the new state and alerts as Python objects.

pub mod fold;
pub mod kafka;
pub mod replay;
pub mod lexicon;
pub mod rules;
pub mod text;
pub mod types;

use std::collections::{HashMap, HashSet};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::lexicon::Lexicon;
use crate::types::{Core, Meaning, ObjectId, Pol, Role, TopicId, TopicSpec};

/// The extension's own allocations (the rules' strings and vectors, the fold's) go to mimalloc:
/// glibc's malloc and free were a tenth of the instructions of a step.
///
/// Allocations aligned to at most 8 bytes (almost all: strings, vectors of pointers) take
/// mimalloc's plain `mi_malloc`, which aligns every block to 8; `mimalloc::MiMalloc` sends every
/// allocation through the aligned entry points, twice the instructions of the plain ones.
#[global_allocator]
static GLOBAL: Allocator = Allocator;

struct Allocator;

/// The alignment every `mi_malloc` block has (`MI_INTPTR_SIZE` on 64-bit targets).
const PLAIN_ALIGN: usize = 8;

// SAFETY: each branch hands the layout to the mimalloc entry point that honours its alignment,
// and every block, however it was made, is freed and resized by mimalloc
unsafe impl std::alloc::GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.align() <= PLAIN_ALIGN {
            libmimalloc_sys::mi_malloc(layout.size()).cast()
        } else {
            libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.align() <= PLAIN_ALIGN {
            libmimalloc_sys::mi_zalloc(layout.size()).cast()
        } else {
            libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        libmimalloc_sys::mi_free(ptr.cast());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= PLAIN_ALIGN {
            libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast()
        } else {
            libmimalloc_sys::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
        }
    }
}

/// A meaning as Python passes it: `(role, topic, pol, value, obj)`.
type PyMeaning = (String, Option<String>, i64, f64, Option<String>);
/// A topic spec as Python passes it:
/// `(id, intensity_pro, intensity_contra, threat, threat_explicit, trigger_frame, change, percent)`.
type PyTopic = (String, f64, f64, i64, bool, bool, Option<i64>, bool);
/// A meaning as `scan` returns it (role and topic/object names as in Python).
type MeaningOut = (&'static str, Option<String>, i8, f64, Option<String>);
/// A hit as `scan` returns it: `(start, end, text, meanings)`.
type HitOut = (usize, usize, String, Vec<MeaningOut>);
/// A relation as `analyze` returns it: `(topic, relation, cue, sentence)`.
type RelationOut = (String, &'static str, String, String);
/// What `analyze` returns: `(claims, relations, undecided)`.
type AnalysisTuples<'py> = (Vec<Bound<'py, PyTuple>>, Vec<RelationOut>, Vec<String>);

/// The Python role string of a role (the inverse of `Role::from_py`).
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Neg => "neg",
        Role::Cancel => "cancel",
        Role::Stance => "stance",
        Role::Cue => "cue",
        Role::Object => "object",
        Role::Reaffirm => "reaffirm",
        Role::Change => "change",
        Role::Hedge => "hedge",
        Role::Cond => "cond",
        Role::CondCue => "condcue",
        Role::Sub => "sub",
        Role::Bound => "bound",
        Role::Comma => "comma",
        Role::Amp => "amp",
        Role::Threat => "threat",
        Role::ReportNoun => "rnoun",
        Role::OtherSource => "rsrc",
        Role::ReportVerb => "rverb",
        Role::Dismiss => "dismiss",
        Role::DismissVerb => "dverb",
        Role::Question => "question",
        Role::Own => "own",
        Role::Neutral => "neutral",
        Role::Operator => "operator",
        Role::Evaluator => "evaluator",
        Role::Pct => "pct",
        Role::Governor => "governor",
        Role::NegNoun => "negnoun",
        Role::Reverser => "reverser",
        Role::Scenario => "scenario",
        Role::Permit => "permit",
    }
}

fn value_error(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}

fn ascii<'a>(what: &str, text: &'a str) -> PyResult<&'a str> {
    if text.is_ascii() {
        Ok(text)
    } else {
        Err(value_error(format!("the native core reads ASCII text only; {what} is not ASCII")))
    }
}

/// +1 / -1 as a polarity.
fn sign(what: &str, v: i64) -> PyResult<Pol> {
    match v {
        1 => Ok(1),
        -1 => Ok(-1),
        _ => Err(value_error(format!("{what} must be +1 or -1, not {v}"))),
    }
}

/// Builds the core from plain Python values (see `Core.__new__`).
fn build_core(
    phrases: Vec<(String, Vec<PyMeaning>)>,
    topics: Vec<PyTopic>,
    answers_no: Vec<String>,
    answers_yes: Vec<String>,
    threat_default: Option<String>,
    red_lines: Vec<String>,
) -> PyResult<Core> {
    let mut specs = Vec::with_capacity(topics.len());
    let mut topic_index: HashMap<String, TopicId> = HashMap::new();
    for (id, pro, contra, threat, threat_explicit, trigger_frame, change, percent) in topics {
        let index = TopicId::try_from(specs.len()).map_err(|_| value_error("too many topics".into()))?;
        if topic_index.insert(id.clone(), index).is_some() {
            return Err(value_error(format!("topic {id:?} is given twice")));
        }
        specs.push(TopicSpec {
            threat: sign(&format!("threat of topic {id:?}"), threat)?,
            change: change.map(|c| sign(&format!("change of topic {id:?}"), c)).transpose()?,
            id,
            intensity_pro: pro,
            intensity_contra: contra,
            threat_explicit,
            trigger_frame,
            percent,
        });
    }
    let topic = |name: &str| -> PyResult<TopicId> {
        topic_index.get(name).copied().ok_or_else(|| value_error(format!("unknown topic {name:?}")))
    };

    // objects are numbered in the order they are first seen
    let mut objects: Vec<String> = Vec::new();
    let mut object_index: HashMap<String, ObjectId> = HashMap::new();
    let mut table: Vec<(String, Vec<Meaning>)> = Vec::with_capacity(phrases.len());
    for (phrase, meanings) in phrases {
        if meanings.is_empty() {
            return Err(value_error(format!("phrase {phrase:?} has no meaning")));
        }
        let mut converted = Vec::with_capacity(meanings.len());
        for (role, topic_name, pol, value, obj) in meanings {
            let role = Role::from_py(&role)
                .ok_or_else(|| value_error(format!("unknown role {role:?} (phrase {phrase:?})")))?;
            let pol = i8::try_from(pol).map_err(|_| value_error(format!("polarity {pol} of phrase {phrase:?}")))?;
            let obj = match obj {
                None => None,
                Some(name) => Some(match object_index.get(&name) {
                    Some(&k) => k,
                    None => {
                        let k =
                            ObjectId::try_from(objects.len()).map_err(|_| value_error("too many objects".into()))?;
                        object_index.insert(name.clone(), k);
                        objects.push(name);
                        k
                    }
                }),
            };
            let topic = topic_name.as_deref().map(topic).transpose()?;
            converted.push(Meaning { role, topic, pol, value, obj });
        }
        table.push((phrase, converted));
    }
    let threat_default = threat_default.as_deref().map(topic).transpose()?;
    Ok(Core {
        lexicon: Lexicon::new(&table),
        topics: specs,
        topic_index,
        objects,
        answers_no: answers_no.into_iter().collect(),
        answers_yes: answers_yes.into_iter().collect(),
        threat_default,
        red_lines: red_lines.into_iter().collect(),
    })
}

/// The compiled analyzer: lexicon, topic specs and answer lists of one `RuleAnalyzer`.
#[pyclass(name = "Core", module = "monitor_native", frozen)]
struct PyCore {
    core: Core,
}

impl PyCore {
    fn meaning_out(&self, m: &Meaning) -> MeaningOut {
        (
            role_name(m.role),
            m.topic.map(|t| self.core.topics[t as usize].id.clone()),
            m.pol,
            m.value,
            m.obj.map(|o| self.core.objects[o as usize].clone()),
        )
    }
}

#[pymethods]
impl PyCore {
    /// `Core(phrases, topics, answers_no, answers_yes, threat_default, red_lines=[])`:
    ///
    /// - `phrases`: `[(phrase, [(role, topic, pol, value, obj), ...]), ...]` in insertion order
    ///   (`RuleAnalyzer._lexicon.phrases`);
    /// - `topics`: `[(id, intensity_pro, intensity_contra, threat, threat_explicit, trigger_frame,
    ///   change, percent), ...]` (threat and change are +1/-1, change may be None);
    /// - `answers_no`, `answers_yes`: the answer lists; `threat_default`: a topic id or None;
    /// - `red_lines`: the threat phrases that warn of retaliation in a sentence naming no topic.
    #[new]
    #[pyo3(signature = (phrases, topics, answers_no, answers_yes, threat_default, red_lines=Vec::new()))]
    fn new(
        phrases: Vec<(String, Vec<PyMeaning>)>,
        topics: Vec<PyTopic>,
        answers_no: Vec<String>,
        answers_yes: Vec<String>,
        threat_default: Option<String>,
        red_lines: Vec<String>,
    ) -> PyResult<PyCore> {
        Ok(PyCore { core: build_core(phrases, topics, answers_no, answers_yes, threat_default, red_lines)? })
    }

    /// Number of phrases compiled.
    #[getter]
    fn size(&self) -> usize {
        self.core.lexicon.size()
    }

    /// `text.normalize(text)`: `(cased, lowered)`.
    fn normalize(&self, text: &str) -> PyResult<(String, String)> {
        Ok(text::normalize(ascii("the text", text)?))
    }

    /// `text.sentences(cased)`: sentence spans `[(start, end), ...]`.
    fn sentences(&self, cased: &str) -> PyResult<Vec<(usize, usize)>> {
        Ok(text::sentences(ascii("the text", cased)?))
    }

    /// `Lexicon.scan(low)` as plain values: `[(start, end, text, [(role, topic, pol, value, obj), ...]), ...]`.
    fn scan(&self, low: &str) -> PyResult<Vec<HitOut>> {
        let hits = self.core.lexicon.scan(ascii("the text", low)?);
        Ok(hits
            .into_iter()
            .map(|h| {
                let meanings = h.meanings.iter().map(|m| self.meaning_out(m)).collect();
                (h.start, h.end, h.text, meanings)
            })
            .collect())
    }

    /// `RuleAnalyzer.analyze(text, speaker=...)` with the speaker already split into its parts:
    /// `(claims, relations, undecided)`, where a claim is `(key, polarity, intensity, modality,
    /// category, confidence, sentence, cues, neg_cues, mod_cues, magnitude, explicit)` and a
    /// relation `(topic, relation, cue, sentence)`.
    fn analyze<'py>(&self, py: Python<'py>, text: &str, speaker_parts: Vec<String>) -> PyResult<AnalysisTuples<'py>> {
        let text = ascii("the text", text)?;
        let parts: HashSet<String> = speaker_parts.into_iter().collect();
        let out = py.detach(|| rules::analyze(&self.core, text, &parts));
        let mut claims = Vec::with_capacity(out.claims.len());
        for c in out.claims {
            let claim = (
                c.key,
                if c.pol > 0 { "pro" } else { "contra" },
                c.intensity,
                c.modality.as_str(),
                c.category,
                c.confidence,
                c.sentence,
                PyTuple::new(py, c.cues)?,
                PyTuple::new(py, c.neg_cues)?,
                PyTuple::new(py, c.mod_cues)?,
                c.magnitude,
                c.explicit,
            );
            claims.push(claim.into_pyobject(py)?);
        }
        let relations = out.relations.into_iter().map(|r| (r.topic, r.relation, r.cue, r.sentence)).collect();
        Ok((claims, relations, out.undecided))
    }
}

/// The `_TOKEN` tokens of a phrase as the native lexicon reads them (for the differential test).
#[pyfunction]
fn phrase_tokens(phrase: &str) -> Vec<String> {
    lexicon::phrase_tokens(phrase).into_iter().map(str::to_owned).collect()
}

#[pymodule]
fn monitor_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCore>()?;
    m.add_class::<fold::PyFold>()?;
    m.add_class::<replay::Kernel>()?;
    m.add_class::<kafka::Records>()?;
    m.add_function(wrap_pyfunction!(kafka::read_batches, m)?)?;
    m.add_function(wrap_pyfunction!(phrase_tokens, m)?)?;
    // the digest of the Python rules this port was last checked against (tools/native_spec.py)
    m.add("SPEC", include_str!("../SPEC").trim())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
