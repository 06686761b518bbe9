//! The claim rules: a port of `monitor/domain/analysis/rules.py` (`RuleAnalyzer.analyze` and
//! everything it calls).
//!
//! The Python stays the executable specification: a differential test requires the same claims,
//! relations and undecided notes, to the last float bit. So this file follows the Python's
//! structure function by function (the Python names are given in each doc comment), keeps its
//! order of evaluation wherever order can leak into the output (dict insertion order, the first
//! of equal minima, the order floats are summed in), and reproduces Python's `round`.
//!
//! Only ASCII text reaches this code (the Python reads anything else itself), so byte offsets
//! are Python's character offsets, `\w` is `[A-Za-z0-9_]`, and `.lower()` is ASCII lowering.
//! The regular expressions of rules.py are hand-coded as small matchers (module `pattern`):
//! each is anchored, short and simple enough to be matched exactly without a regex engine, and
//! each matcher's comment gives the Python pattern and why the hand-coded reading equals it.

use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use crate::types::{
    AnalysisOut, Core, Hit, Meaning, Modality, Pol, RawClaim, RelationOut, Role, Roles, TopicId, TopicSpec, CONTRA,
    PRO,
};

use self::pattern::{is_space, rstrip};

// -- constants of rules.py ------------------------------------------------------------------

/// characters: "without" negates only what follows closely (`_WITHOUT_SCOPE`)
const WITHOUT_SCOPE: isize = 30;
const MAX_AMP: f64 = 3.0;
/// threat words at or below this are acts ("legitimate targets"), not nouns ("war")
const THREAT_ACT: f64 = -7.0;
/// explicit threats colour every claim of their sentence that points the same way
const SENTENCE_THREAT: f64 = -6.0;
/// characters after "response"/"countermeasures" naming what is responded to
const TRIGGER_SPAN: usize = 24;
/// characters between a negative stance word and the stance word it governs
const OPERATOR_GAP: isize = 30;
/// `_THREAT_NEG_GAP`: characters between a negator and the threat word it denies ("no war")
const THREAT_NEG_GAP: usize = 2;
/// `_DISMISS_GAP`: characters between a stance verb that dismisses ("denies") and the report it dismisses
const DISMISS_GAP: usize = 16;
/// characters between a negating subject ("no one") and the topic it denies
const NEG_TOPIC_GAP: isize = 25;
/// characters before a post-posed judgement where a negator still turns it
const EVAL_NEG_SPAN: usize = 20;
/// below the least confidence of a stance a reversal is alerted on
const BARE_CONFIDENCE: f64 = 0.4;
/// characters between "warn" and the "against" that names what is warned against
const WARN_SPAN: isize = 40;
/// characters between a head noun and the topic cue that modifies it (`_LINK_SPAN`)
const LINK_SPAN: usize = 40;
/// how many cues a claim lists (`_dedupe`)
const MAX_CUES: usize = 8;
/// Python's `10**9`: "no position"
const FAR: usize = 1_000_000_000;

/// what a claim or relation needs (`_CLAIM_ROLES`)
const CLAIM_ROLES: Roles = Roles::of(&[Role::Cue, Role::Stance, Role::Reaffirm, Role::Change, Role::Threat]);
const REPORT_SOURCES: Roles = Roles::of(&[Role::ReportNoun, Role::OtherSource]);
/// a noun an "against" right after is a preposition of (`_FORCE_NOUN`)
const FORCE_NOUN: Roles = Roles::of(&[Role::Threat, Role::Cue]);
/// a noun phrase ends here (`_NOT_NOUN`)
const NOT_NOUN: Roles =
    Roles::of(&[Role::Stance, Role::Neg, Role::Bound, Role::Comma, Role::Cond, Role::Sub, Role::Threat]);

// -- word sets of rules.py (hit texts are lowercase; callers lower other words first) ---------

/// `_TITLES`: a capitalised word before "said" that is no other source
fn is_title(w: &str) -> bool {
    matches!(
        w,
        "president" | "prime" | "minister" | "foreign" | "secretary" | "spokesman" | "spokeswoman"
            | "spokesperson" | "chancellor" | "general" | "deputy" | "press" | "ambassador" | "chairman"
            | "he" | "she" | "i" | "we" | "they" | "it" | "mr" | "mrs" | "ms" | "dr"
    )
}

/// `_NAMED_REPORT_VERBS`
fn is_named_report_verb(w: &str) -> bool {
    matches!(
        w,
        "said" | "says" | "claimed" | "claims" | "alleged" | "alleges" | "suggested" | "suggests" | "wrote"
            | "writes" | "told" | "insisted" | "insists" | "argued" | "argues" | "accused" | "accuses"
    )
}

/// `_PHRASAL_VERB_SET`: a verb whose particle may follow its object ("pulling our soldiers out")
fn is_phrasal_verb(w: &str) -> bool {
    matches!(
        w,
        "pull" | "pulls" | "pulled" | "pulling" | "bring" | "brings" | "brought" | "bringing" | "call"
            | "calls" | "called" | "calling" | "hand" | "hands" | "handed" | "handing" | "cut" | "cuts"
            | "cutting" | "phase" | "phases" | "phased" | "phasing" | "turn" | "turns" | "turned" | "turning"
            | "roll" | "rolls" | "rolled" | "rolling" | "wind" | "winds" | "winding" | "wound" | "break"
            | "breaks" | "broke" | "breaking" | "shut" | "shuts" | "shutting" | "scale" | "scales" | "scaled"
            | "scaling" | "switch" | "switches" | "switched" | "switching" | "give" | "gives" | "gave"
            | "giving" | "put" | "puts" | "putting" | "draw" | "draws" | "drew" | "drawing" | "ramp"
            | "ramps" | "ramped" | "ramping" | "step" | "steps" | "stepped" | "stepping" | "lay" | "lays"
            | "laid" | "laying" | "send" | "sends" | "sent" | "sending"
    )
}

/// `_PARTICLES`
fn is_particle(w: &str) -> bool {
    matches!(w, "out" | "off" | "over" | "back" | "down" | "home" | "up" | "aside")
}

/// `_WARN_VERBS`
fn is_warn_verb(w: &str) -> bool {
    matches!(w, "warn" | "warns" | "warned" | "warning")
}

/// `_TO_HEADS`: verbs whose infinitive is their object ("going to ease" is no purpose clause)
fn is_to_head(w: &str) -> bool {
    matches!(
        w,
        "going" | "want" | "wants" | "wanted" | "plan" | "plans" | "planned" | "intend" | "intends"
            | "intended" | "need" | "needs" | "needed" | "decided" | "decide" | "decides" | "agreed" | "agree"
            | "agrees" | "ready" | "prepared" | "willing" | "able" | "unable" | "refuse" | "refuses"
            | "refused" | "seek" | "seeks" | "sought" | "have" | "has" | "had"
    )
}

/// `_PRONOUNS`: a subject that continues the clause's topic
fn is_pronoun(w: &str) -> bool {
    matches!(
        w,
        "it" | "they" | "this" | "that" | "these" | "those" | "we" | "he" | "she" | "i" | "you" | "nobody"
            | "nothing" | "none" | "everyone" | "everybody" | "everything" | "anyone" | "anything"
            | "someone" | "somebody" | "something" | "all" | "both"
    )
}

/// `_VERB_BEFORE`: words before a container noun that make it a verb ("we will supply weapons")
fn is_verb_before(w: &str) -> bool {
    matches!(
        w,
        "will" | "would" | "shall" | "can" | "could" | "must" | "may" | "might" | "to" | "we" | "they" | "i"
            | "not" | "also" | "still" | "never" | "cannot" | "won't"
    )
}

/// `_CONTAINERS`: nouns naming what is supplied; they take the topic of their content, vote nothing
fn is_container(w: &str) -> bool {
    matches!(
        w,
        "exports" | "export" | "shipments" | "shipment" | "deliveries" | "delivery" | "supplies" | "supply"
            | "imports" | "flows" | "transit" | "purchases" | "purchase" | "cargoes" | "cargo" | "consignments"
    )
}

/// `_NEG_SUBJECTS`: negating subjects that deny a topic only close to it
fn is_neg_subject(w: &str) -> bool {
    matches!(w, "nobody" | "no one" | "nothing" | "none")
}

/// `_DEONTIC`: what a permission turns from a hedge into a grant
fn is_deontic(w: &str) -> bool {
    matches!(w, "may" | "can")
}

/// `_SCOPED`: what a new clause after a comma keeps out of its scope
fn is_scoped(role: Role) -> bool {
    matches!(role, Role::Neg | Role::Hedge)
}

// -- small helpers ---------------------------------------------------------------------------

#[inline]
fn spec(core: &Core, topic: TopicId) -> &TopicSpec {
    &core.topics[topic as usize]
}

/// Python's `round(x, ndigits)` on a float: correctly rounded, ties to even on the exact binary
/// value, for the two and three digits the rules round to.
///
/// Usually the scaled value is clearly off a tie, and the nearest integer `k` says it all:
/// `k / 10^n` is the double nearest to the decimal, as the decimal's parse is (division is
/// correctly rounded). Near a tie the rounding error of the scaling could decide, so there the
/// exact decimal expansion does: Rust's fixed-precision formatting rounds the exact binary value
/// half to even, as Python does, and parsing back is correctly rounded.
fn py_round(x: f64, ndigits: usize) -> f64 {
    let scale = if ndigits == 2 { 100.0 } else { 1000.0 };
    debug_assert!(ndigits == 2 || ndigits == 3);
    let y = x * scale;
    // |y| < 1e9: the scaling errs by less than 1.2e-7, far inside the margin around the tie
    if y.abs() < 1e9 {
        let floor = y.floor();
        let frac = y - floor; // exact
        if (frac - 0.5).abs() > 1e-6 {
            let k = if frac < 0.5 { floor } else { floor + 1.0 };
            // a value rounded to zero keeps its sign, as in Python (round(-0.001, 2) is -0.0)
            return if k == 0.0 { 0.0f64.copysign(x) } else { k / scale };
        }
    }
    format!("{x:.ndigits$}").parse().expect("a formatted float parses back")
}

/// Python's `min(a, b)`: the first argument unless the second is smaller (keeps the sign of a zero
/// the way Python does, where `f64::min` may not).
#[inline]
fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// Python's `max(a, b)`: the first argument unless the second is greater.
#[inline]
fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// `_dedupe`: the first eight distinct items, in order.
fn dedupe<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for x in items {
        let x = x.as_ref();
        if !seen.iter().any(|s| s == x) {
            seen.push(x.to_owned());
        }
    }
    seen.truncate(MAX_CUES);
    seen
}

/// `_pct_intensity`: tariff-like rates on the conflict scale (10% -> -4, 100% -> -6.5).
fn pct_intensity(pct: f64) -> f64 {
    if pct <= 0.0 {
        return 0.0;
    }
    -py_min(9.0, 1.5 + 2.5 * py_max(pct, 1.0).log10())
}

/// The least of the threat values, Python's `min(v for _, v in threats)` (threats is not empty).
fn least(threats: &[(&Hit, f64)]) -> f64 {
    threats[1..].iter().fold(threats[0].1, |acc, &(_, v)| py_min(acc, v))
}

/// `_names`: the hit names `topic` as a cue.
fn names(h: &Hit, topic: TopicId) -> bool {
    h.meanings.iter().any(|m| m.role == Role::Cue && m.topic == Some(topic))
}

/// `_verb_use`: the word at `pos` is used as a verb ("we will supply weapons"), judged by the word
/// before it.
fn verb_use(sentence: &str, pos: usize) -> bool {
    // the last word before `pos`, past any adverbs ("will directly supply")
    let adverb = |w: &str| w.len() > 3 && w[w.len() - 2..].eq_ignore_ascii_case("ly");
    sentence[pos.saturating_sub(24)..pos]
        .rsplit(|c: char| is_space(c as u8))
        .filter(|w| !w.is_empty())
        .find(|w| !adverb(w))
        .is_some_and(|w| is_verb_before(&w.to_ascii_lowercase()))
}

/// `_word_before`: the word before `pos` (within 24 characters), lowercased.
fn word_before(text: &str, pos: usize) -> String {
    let head = rstrip(&text[pos.saturating_sub(24)..pos]);
    let last = match head.rfind(' ') {
        Some(i) => &head[i + 1..],
        None => head,
    };
    last.to_ascii_lowercase()
}

/// The `(Meaning(COND),)` of an inverted condition ("Should Tokyo host ...").
fn cond_meaning() -> Arc<[Meaning]> {
    Arc::from([Meaning { role: Role::Cond, topic: None, pol: 0, value: 0.0, obj: None }])
}

// -- claim keys --------------------------------------------------------------------------------

/// A claim key, "topic" or "topic:object" (`_key`), kept as its parts until it is output.
///
/// Topic ids are `[a-z0-9_]+` (the topic pack's schema), so two keys are equal strings exactly
/// when their topics and object names are equal; the object is compared by name, as Python
/// compares the strings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Key<'c> {
    topic: TopicId,
    obj: Option<&'c str>,
}

impl<'c> Key<'c> {
    fn bare(topic: TopicId) -> Key<'c> {
        Key { topic, obj: None }
    }

    fn render(self, core: &Core) -> String {
        let id = &spec(core, self.topic).id;
        match self.obj {
            Some(obj) => format!("{id}:{obj}"),
            None => id.clone(),
        }
    }
}

/// The first object named per topic in a sentence (`objects` of `_sentence`).
struct Objects<'c>(Vec<(TopicId, &'c str)>);

impl<'c> Objects<'c> {
    fn of(core: &'c Core, hits: &[Hit]) -> Objects<'c> {
        let mut out: Vec<(TopicId, &'c str)> = Vec::new();
        for h in hits {
            for m in h.meanings.iter() {
                if let (Role::Object, Some(t), Some(o)) = (m.role, m.topic, m.obj) {
                    if !out.iter().any(|&(x, _)| x == t) {
                        out.push((t, core.objects[o as usize].as_str()));
                    }
                }
            }
        }
        Objects(out)
    }

    /// `_key`: the topic with its object, if the sentence names one (an empty name counts as none,
    /// as an empty string is falsy in Python)
    fn key(&self, topic: TopicId) -> Key<'c> {
        let obj = self.0.iter().find(|&&(t, _)| t == topic).map(|&(_, o)| o).filter(|o| !o.is_empty());
        Key { topic, obj }
    }
}

/// Positions by topic: Python's `dict[str, list[int]]`, whose order of topics leaks into the
/// output (`_nearest` takes the first of equal distances, in the dict's order).
///
/// One flat list of (topic, position): the topics are in the order they first appear in it,
/// and each topic's positions in their own order. That is the dict's order for a dict that only
/// grows (`cue_pos`); `_heads`, which also moves positions between topics, is built apart and
/// laid out this way when done (`HeadsBuilder`).
#[derive(Clone, Default, Debug)]
struct PosMap {
    entries: SmallVec<[(TopicId, usize); 8]>,
}

impl PosMap {
    fn contains(&self, topic: TopicId) -> bool {
        self.entries.iter().any(|&(t, _)| t == topic)
    }

    /// `d[topic]`, as an iterator (empty when the topic is not there)
    fn of(&self, topic: TopicId) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().filter(move |&&(t, _)| t == topic).map(|&(_, p)| p)
    }

    /// `d[topic][0]`
    fn first(&self, topic: TopicId) -> Option<usize> {
        self.of(topic).next()
    }

    /// `d.setdefault(topic, []).append(pos)`
    fn push(&mut self, topic: TopicId, pos: usize) {
        self.entries.push((topic, pos));
    }

    /// every position, of any topic
    fn positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().map(|&(_, p)| p)
    }

    /// `_nearest`: the topic with a position nearest to `pos` (the first of equal distances, in
    /// the dict's order)
    fn nearest(&self, pos: usize) -> Option<TopicId> {
        let mut best = None;
        let mut dist = FAR;
        for (i, &(topic, _)) in self.entries.iter().enumerate() {
            if self.entries[..i].iter().any(|&(t, _)| t == topic) {
                continue; // the topic's positions were read at its first
            }
            for p in self.of(topic) {
                let d = p.abs_diff(pos);
                if d < dist {
                    best = Some(topic);
                    dist = d;
                }
            }
        }
        best
    }
}

/// `_heads`' dict while it is built: positions move between topics, and a topic emptied is
/// deleted (and goes last if it comes back).
#[derive(Default)]
struct HeadsBuilder {
    order: Vec<TopicId>,
    entries: Vec<(TopicId, usize)>,
}

impl HeadsBuilder {
    /// `d.setdefault(topic, []).append(pos)`
    fn push(&mut self, topic: TopicId, pos: usize) {
        if !self.order.contains(&topic) {
            self.order.push(topic);
        }
        self.entries.push((topic, pos));
    }

    /// `d[topic].remove(pos)`: the first occurrence
    fn remove_one(&mut self, topic: TopicId, pos: usize) {
        if let Some(i) = self.entries.iter().position(|&e| e == (topic, pos)) {
            self.entries.remove(i);
        }
    }

    /// `if not d[topic]: del d[topic]`
    fn drop_if_empty(&mut self, topic: TopicId) {
        if !self.entries.iter().any(|&(t, _)| t == topic) {
            self.order.retain(|&t| t != topic);
        }
    }

    /// The dict as a `PosMap`: grouped by topic, in the dict's order.
    fn done(self) -> PosMap {
        let mut entries = Vec::with_capacity(self.entries.len());
        for &topic in &self.order {
            entries.extend(self.entries.iter().filter(|&&(t, _)| t == topic));
        }
        PosMap { entries: entries.into() }
    }
}

// -- clauses -----------------------------------------------------------------------------------

/// `_Segment.kind`: main | cond | sub
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Main,
    Cond,
    Sub,
}

/// A clause of a sentence while the sentence is split (`_Segment` without its hits): where its
/// run of hits starts in the list of all the clauses' hits.
#[derive(Clone, Copy)]
struct Clause {
    kind: Kind,
    start: usize,
    /// opened after a comma by a subject that is no pronoun: it inherits no topic
    named_subject: bool,
    from: usize,
}

impl Clause {
    fn new(kind: Kind, start: usize, from: usize) -> Clause {
        Clause { kind, start, named_subject: false, from }
    }
}

/// A clause of a sentence (`_Segment`), with its hits.
struct Segment<'a, 'h> {
    kind: Kind,
    start: usize,
    /// opened after a comma by a subject that is no pronoun: it inherits no topic
    named_subject: bool,
    hits: &'a [&'h Hit],
}

/// One claim before it is output (`_Raw`); the sentence is added when it is.
#[derive(Debug)]
struct Raw<'c> {
    key: Key<'c>,
    topic: TopicId,
    pol: Pol,
    explicit: bool,
    confidence: f64,
    intensity: f64,
    modality: Modality,
    category: Option<&'static str>,
    pos: usize,
    cues: Vec<String>,
    neg_cues: Vec<String>,
    mod_cues: Vec<String>,
    magnitude: Option<f64>,
    /// where its stance words start (its first vote; `pos` when it has none)
    at: usize,
}

impl Raw<'_> {
    fn into_claim(self, core: &Core, sentence: &str) -> RawClaim {
        RawClaim {
            key: self.key.render(core),
            topic: self.topic,
            pol: self.pol,
            explicit: self.explicit,
            confidence: self.confidence,
            intensity: self.intensity,
            modality: self.modality,
            category: self.category,
            pos: self.pos,
            sentence: sentence.to_owned(),
            cues: self.cues,
            neg_cues: self.neg_cues,
            mod_cues: self.mod_cues,
            magnitude: self.magnitude,
        }
    }
}

// -- the analysis ------------------------------------------------------------------------------

/// `_RHETORICAL_NO` matched where a question ends: the "no" the next sentence answers it with
/// ("When did he ever say the goals were changing? Never."), or "".
fn rhetorical_no(rest: &str) -> &'static str {
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c', '"', '\'']);
    for word in ["no one", "nobody", "never", "none", "not", "no"] {
        if rest.starts_with(word) && !rest[word.len()..].starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return word;
        }
    }
    ""
}

/// `RuleAnalyzer.analyze(text, speaker=...)` without its sentence cache (which changes speed, not
/// output); `speaker_parts` is the speaker's words as Python computed them.
pub fn analyze(core: &Core, text: &str, speaker_parts: &HashSet<String>) -> AnalysisOut {
    let (cased, low) = crate::text::normalize(text);
    let mut out = AnalysisOut::default();
    let mut carry: Vec<Key<'_>> = Vec::new();
    for (s0, s1) in crate::text::sentences(&cased) {
        let (s_cased, s_low) = (&cased[s0..s1], &low[s0..s1]);
        let mut hits = core.lexicon.scan(s_low);
        if ["should ", "were ", "had "].iter().any(|p| s_low.starts_with(p)) && !rstrip(s_low).ends_with('?') {
            // "Should Tokyo host a NATO office, ..." / "Were they to ...": an inverted condition
            let sp = s_low.find(' ').expect("the inversion ends in a space");
            hits.insert(0, Hit::new(0, sp, s_low[..sp].to_owned(), cond_meaning()));
        }
        if pattern::particle_hint(s_low) {
            hits = phrasal(core, hits, s_low);
        }
        let denied = if rstrip(s_low).ends_with('?') { rhetorical_no(&low[s1..]) } else { "" };
        let cued = read_sentence(core, &hits, s_cased, s_low, &carry, speaker_parts, denied, &mut out);
        if !cued.is_empty() {
            carry = cued;
        }
    }
    if out.claims.is_empty() && out.relations.is_empty() && out.undecided.is_empty() {
        out.undecided.push("no topic recognised".to_owned());
    }
    out
}

/// `_phrasal`: phrasal verbs split by their object ("pulling our last soldiers out", "hand them
/// back"). The verb takes the meaning of the joined phrase ("pull out") when the lexicon knows
/// it, and the particle's own reading ("back" = support) is dropped; the object keeps its hits.
///
/// (The Python memoises the lexicon's reading of each joined phrase; the lexicon is fixed, so
/// scanning the two words again reads the same.)
fn phrasal(core: &Core, hits: Vec<Hit>, low: &str) -> Vec<Hit> {
    let mut out = hits;
    let words = pattern::words(low);
    for (j, &(p0, p1)) in words.iter().enumerate() {
        let particle = &low[p0..p1];
        if !is_particle(particle) {
            continue;
        }
        // the nearest phrasal verb one to four words before the particle, no punctuation between
        // (Python's `range(j - 2, max(j - 6, -1), -1)`)
        let stop = (j as isize - 6).max(-1);
        let mut k = j as isize - 2;
        while k > stop && !is_phrasal_verb(&low[words[k as usize].0..words[k as usize].1]) {
            k -= 1;
        }
        if k <= stop {
            continue;
        }
        let (v0, v1) = words[k as usize];
        if !pattern::spaces_and_words(&low[v1..p0]) {
            continue;
        }
        let joined = format!("{} {}", &low[v0..v1], particle);
        let scanned = core.lexicon.scan(&joined);
        if scanned.len() != 1 || scanned[0].text != joined {
            continue;
        }
        let found = Arc::clone(&scanned[0].meanings);
        out.retain(|h| !(h.start == v0 && h.end == v1) && h.start != p0);
        out.push(Hit::new(v0, v1, joined, found));
        out.sort_by_key(|h| h.start); // stable, as Python's sort
    }
    out
}

/// `_sentence`: the claims, relations and notes of one sentence; returns the keys it names (the
/// topics a following sentence without its own inherits).
#[allow(clippy::too_many_arguments)]
fn read_sentence<'c>(
    core: &'c Core,
    hits: &[Hit],
    cased: &str,
    low: &str,
    carry: &[Key<'c>],
    speaker_parts: &HashSet<String>,
    denied: &str,
    out: &mut AnalysisOut,
) -> Vec<Key<'c>> {
    if !hits.iter().any(|h| h.roles.meets(CLAIM_ROLES)) {
        // Without topic cues, stance, continuity or threat words a sentence can make no claim,
        // relation or "stance words without a topic" note, whatever it carries or frames.
        return Vec::new();
    }
    let mut hits = hits;
    let muted_hits: Vec<Hit>;
    let sentence = cased;
    let s1 = cased.len();

    // -- attribution frame: which span is someone else's words, and is it dismissed?
    let mut region: Option<(usize, usize)> = None;
    let mut flip_cue = String::new();
    let asked = hits.iter().any(|h| h.role == Role::Question);
    if !denied.is_empty() {
        // a question the next sentence answers "no": "Who ever suggested surrendering it? No one."
        region = Some((0, s1));
        flip_cue = format!("? -> {denied}");
    } else if let Some(q) = hits.iter().find(|h| h.role == Role::Question) {
        let answer = pattern::answer(low).map_or("", |a| a.trim_matches([' ', ',']));
        if core.answers_no.contains(answer) {
            region = Some((q.start, s1));
            flip_cue = format!("{} -> {}", q.text, answer);
        } else if !core.answers_yes.contains(answer) {
            // "asked about the drills, the spokesman said they will go ahead": the question is
            // someone else's words; after the comma that closes it comes the answer, the speaker's own
            let end = hits
                .iter()
                .find(|h| h.start >= q.end && matches!(h.role, Role::Comma | Role::Bound))
                .map_or(s1, |h| h.start);
            region = Some((q.start, end));
        }
    } else {
        let muted;
        (region, flip_cue, muted) = report_frame(hits, s1, cased, speaker_parts);
        if let Some(at) = muted {
            // "the ministry denies reports that ...": the verb dismisses the report, it is no stance
            let meaning: Arc<[Meaning]> =
                Arc::from([Meaning { role: Role::DismissVerb, topic: None, pol: 0, value: 0.0, obj: None }]);
            muted_hits = hits
                .iter()
                .map(|h| if h.start == at { Hit::new(h.start, h.end, h.text.clone(), Arc::clone(&meaning)) } else { h.clone() })
                .collect::<Vec<Hit>>();
            hits = &muted_hits;
        }
    }

    // -- clauses
    // "is not going to ease the sanctions": a "to ..." subordinator after a verb that takes an
    // infinitive is the infinitive, read without its "to" (or dropped when that reads as nothing).
    // This depends on the hit alone, so it is decided before the walk below.
    // (hit index, its replacement or None to drop it), for the few hits it concerns
    let infinitives: Vec<(usize, Option<Hit>)> = hits
        .iter()
        .enumerate()
        .filter(|(_, h)| h.role == Role::Sub && h.text.starts_with("to ") && is_to_head(&word_before(cased, h.start)))
        .map(|(i, h)| {
            let inner = low.get(h.start + 3..h.end).map(|s| core.lexicon.scan(s)).unwrap_or_default();
            let x = inner.into_iter().find(|x| x.start == 0);
            (i, x.map(|x| Hit::new(h.start + 3, h.end, x.text, x.meanings)))
        })
        .collect();
    // the sentence has a negator or hedge (Python computes it at the first comma that asks)
    let scoped = hits.iter().any(|x| is_scoped(x.role));
    // Each hit goes to the clause open at the time, so the clauses' hits are consecutive runs of
    // one list: a clause is its `Clause` and the run `from..` the next clause starts at.
    let mut flat: Vec<&Hit> = Vec::with_capacity(hits.len());
    let mut spans: Vec<(Clause, Range<usize>)> = Vec::new();
    let mut cur = Clause::new(Kind::Main, 0, 0);
    let mut after_comma = false;
    for (i, orig) in hits.iter().enumerate() {
        let mut h = orig;
        let mut role = h.role;
        if after_comma && h.text == "in support of" && cur.kind == Kind::Main {
            // ", in support of stable oil markets": a trailing purpose adjunct, not a stance
            role = Role::Sub;
        } else {
            // (exclusive with the branch above: a purpose phrase does not start with "to ")
            if let Some((_, replaced)) = infinitives.iter().find(|(j, _)| *j == i) {
                let Some(x) = replaced else { continue };
                h = x;
                role = h.role;
            }
        }
        after_comma = role == Role::Comma;
        if role == Role::Bound {
            spans.push((cur, cur.from..flat.len()));
            cur = Clause::new(Kind::Main, h.end, flat.len());
            continue;
        }
        if role == Role::Comma {
            // (a conditional or subordinate clause, and only such a clause, closes at a comma)
            if cur.kind != Kind::Main {
                spans.push((cur, cur.from..flat.len()));
                cur = Clause::new(Kind::Main, h.end, flat.len());
            } else if let Some(end) = (scoped && scoped_around(&flat[cur.from..], hits, i))
                .then(|| pattern::new_clause(cased, h.end))
                .flatten()
            {
                // ", Russia has decided to resume ...", ", and vessels may leave port": a new subject
                // and its verb start a clause; negation and hedges before the comma stay behind, and
                // a named subject ("the offensive will continue") takes no topic from before the comma
                spans.push((cur, cur.from..flat.len()));
                cur = Clause::new(Kind::Main, h.end, flat.len());
                cur.named_subject = !cased[h.end..end]
                    .split(|c: char| c.is_ascii() && is_space(c as u8))
                    .any(|w| !w.is_empty() && is_pronoun(&w.to_ascii_lowercase()));
            } else {
                flat.push(h);
            }
            continue;
        }
        if role == Role::Cond || role == Role::Sub {
            // a subordinate clause ends at the next comma or boundary, wherever it starts (an empty
            // main clause before it is dropped)
            if flat.len() > cur.from || cur.kind != Kind::Main {
                spans.push((cur, cur.from..flat.len()));
            }
            cur = Clause::new(if role == Role::Cond { Kind::Cond } else { Kind::Sub }, h.start, flat.len());
            flat.push(h);
            continue;
        }
        flat.push(h);
    }
    spans.push((cur, cur.from..flat.len()));
    let segments: Vec<Segment<'_, '_>> = spans
        .into_iter()
        .map(|(c, run)| Segment { kind: c.kind, start: c.start, named_subject: c.named_subject, hits: &flat[run] })
        .collect();
    let conditional = segments.iter().any(|s| s.kind == Kind::Cond);
    let objects = Objects::of(core, hits);

    let mut cued_keys: Vec<Key<'c>> = Vec::new();
    let mut prev: Cow<'_, [Key<'c>]> = Cow::Borrowed(carry);
    let mut prev_cond = false; // the carried topics were named by this sentence's condition
    let mut cond_keys: Vec<Key<'c>> = Vec::new(); // every topic named by this sentence's conditions so far
    let mut any_votes = false;
    let mut raws: Vec<Raw<'c>> = Vec::new();
    let mut sentence_threat = 0.0f64;
    let mut threat_cue: &str = "";
    let mut cond_segs: Vec<(usize, Vec<TopicId>, Option<PosMap>)> = Vec::new();
    for seg in segments.iter().filter(|s| s.kind == Kind::Main) {
        for (i, h) in seg.hits.iter().enumerate() {
            if h.roles.has(Role::Threat) && negated_threat(seg.hits, i) {
                continue;
            }
            for m in h.meanings.iter() {
                if m.role == Role::Threat && m.value < sentence_threat {
                    sentence_threat = m.value;
                    threat_cue = &h.text;
                }
            }
        }
    }
    for (si, seg) in segments.iter().enumerate() {
        let own_topics = segment_topics(seg);
        let mut heads: Option<PosMap> = None;
        let keys: Vec<Key<'c>> = if own_topics.len() > 1 {
            // what the next clause talks about is the head, not a modifier ("the oil sanctions ...
            // and we will not end them")
            let cue_hits: Vec<(&Hit, TopicId)> = seg
                .hits
                .iter()
                .flat_map(|&h| h.meanings.iter().filter(|m| m.role == Role::Cue).filter_map(move |m| Some((h, m.topic?))))
                .collect();
            let found = heads_of(&cue_hits, seg.hits, sentence);
            let keys = own_topics.iter().filter(|&&t| found.contains(t)).map(|&t| objects.key(t)).collect();
            heads = Some(found);
            keys
        } else {
            own_topics.iter().map(|&t| objects.key(t)).collect()
        };
        for k in &keys {
            if !cued_keys.contains(k) {
                cued_keys.push(*k);
            }
        }
        if seg.kind == Kind::Main {
            let (made, voted) = claims(
                core,
                sentence,
                seg,
                &own_topics,
                &prev,
                &objects,
                conditional,
                &mut out.relations,
                heads.as_ref(),
                prev_cond,
                &cond_keys,
            );
            any_votes = any_votes || voted;
            for mut raw in made {
                // a claim answering a question stands where its stance words are ("asked about the
                // drills, he said they will go ahead"); one inside a report, where it starts
                let at = if asked { raw.at } else { raw.pos };
                if let Some((a, b)) = region {
                    if a <= at && at < b {
                        if flip_cue.is_empty() {
                            out.undecided.push(format!("reported speech of others: {}", spec(core, raw.topic).id));
                            continue;
                        }
                        raw.pol = -raw.pol;
                        raw.confidence = py_round(raw.confidence * 0.85, 3);
                        raw.intensity = spec(core, raw.topic).intensity(raw.pol); // `_intensity_for_flip`
                        raw.neg_cues.push(flip_cue.clone());
                    }
                }
                raws.push(raw);
            }
        }
        if seg.kind == Kind::Cond && !own_topics.is_empty() {
            cond_keys.extend(own_topics.iter().map(|&t| objects.key(t)));
        }
        if !keys.is_empty() {
            prev_cond = seg.kind == Kind::Cond;
            if prev_cond {
                cond_segs.push((si, own_topics, heads));
            }
            prev = Cow::Owned(keys);
        }
    }
    if sentence_threat <= THREAT_ACT && !cond_segs.is_empty() && region.is_none() {
        // "if they let Ukraine strike with long-range weapons, NATO countries are at war with us": an
        // act of force threatened on a condition that affirms a topic the threat opposes (supplies,
        // membership) opposes that topic; "if the ceasefire is violated, we will strike" does not
        let claimed: Vec<Key<'c>> = raws.iter().map(|r| r.key).collect();
        let mut affirmed: Vec<Key<'c>> = Vec::new();
        let mut unused = Vec::new();
        for (si, ctopics, cheads) in &cond_segs {
            let (made, _) = claims(
                core,
                sentence,
                &segments[*si],
                ctopics,
                &[],
                &objects,
                true,
                &mut unused,
                cheads.as_ref(),
                false,
                &[],
            );
            for r in made {
                if r.pol == PRO && r.explicit && !affirmed.contains(&r.key) {
                    affirmed.push(r.key);
                }
            }
        }
        for k in affirmed {
            let sp = spec(core, k.topic);
            if claimed.contains(&k) || sp.trigger_frame || sp.threat != CONTRA {
                continue;
            }
            raws.push(Raw {
                key: k,
                topic: k.topic,
                pol: sp.threat,
                explicit: false,
                confidence: 0.6,
                intensity: py_min(sp.intensity(sp.threat), sentence_threat),
                modality: Modality::Conditional,
                category: Some("explicit_threat"),
                pos: 0,
                cues: vec![threat_cue.to_owned()],
                neg_cues: Vec::new(),
                mod_cues: Vec::new(),
                magnitude: None,
                at: 0,
            });
        }
    }
    if sentence_threat <= SENTENCE_THREAT {
        for raw in &mut raws {
            if raw.pol == spec(core, raw.topic).threat && raw.intensity > sentence_threat {
                raw.intensity = sentence_threat;
                raw.cues = dedupe(raw.cues.iter().map(String::as_str).chain([threat_cue]));
            }
        }
    }
    if any_votes && cued_keys.is_empty() && carry.is_empty() {
        out.undecided.push("stance words without a recognised topic".to_owned());
    }
    out.claims.extend(raws.into_iter().map(|r| r.into_claim(core, sentence)));
    cued_keys
}

/// `_report_frame`: the span of this sentence attributed to someone else, the dismissal cue if
/// any (an empty cue: the span is dropped, not flipped), and the start of a dismissing verb that is
/// also a stance word (it then votes nothing).
fn report_frame(
    hits: &[Hit],
    s1: usize,
    cased: &str,
    speaker_parts: &HashSet<String>,
) -> (Option<(usize, usize)>, String, Option<usize>) {
    // the source as (start, end, the hit when it is one)
    let mut src: Option<(usize, usize, Option<&Hit>)> = None;
    for h in hits {
        if h.roles.meets(REPORT_SOURCES) {
            if (h.text == "article" || h.text == "articles") && pattern::digit_follows(cased, h.end) {
                continue; // "Article 51 of the UN Charter": a legal article, not a press one
            }
            src = Some((h.start, h.end, Some(h)));
            break;
        }
        if h.role == Role::ReportVerb && is_named_report_verb(&h.text) {
            let before = rstrip(&cased[..h.start]);
            let word = match before.rfind(' ') {
                Some(i) => &before[i + 1..],
                None => before,
            }
            .trim_matches(['"', '\'', '(', ',']);
            let lowered = word.to_ascii_lowercase();
            if word.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
                && !speaker_parts.contains(&lowered)
                && !is_title(&lowered)
                && (h.end as isize) < s1 as isize - 2
                && before.len() > word.len()
            // not the first word: "Russia says" stays own
            {
                // (never below 0: `before` holds the word and something more, and ends before the verb)
                src = Some((h.start.saturating_sub(word.len() + 1), h.end, None));
                break;
            }
        }
    }
    let Some((src_start, src_end, src_hit)) = src else {
        return (None, String::new(), None);
    };
    if let Some(h) = src_hit.filter(|h| h.roles.has(Role::DismissVerb)) {
        // "rejected reports that ...": the dismissal and its report in one phrase
        return (Some((h.end, s1)), h.text.clone(), None);
    }
    if let Some(h) = hits.iter().find(|h| h.start >= src_end && h.roles.has(Role::Dismiss)) {
        return (Some((src_start, h.start)), h.text.clone(), None);
    }
    for h in hits.iter().filter(|h| h.start < src_start && h.roles.has(Role::DismissVerb)) {
        // a verb that is also a stance word ("denies") dismisses only the report it governs right
        // after it ("denied media reports that ..."; not "denied access, reports say"), and then
        // votes nothing itself
        let close = src_start.saturating_sub(h.end) <= DISMISS_GAP;
        if h.role == Role::DismissVerb || close {
            let muted = (close && h.roles.0.count_ones() > 1).then_some(h.start);
            return (Some((src_start, s1)), h.text.clone(), muted);
        }
    }
    // trailing attribution: "..., the newspaper claimed."
    // (a source noun ending the sentence with no reporting verb after it is no attribution:
    // "a cessation of hostilities, to be monitored by international observers")
    let mut rest = hits.iter().filter(|h| h.start > src_end);
    let only_verbs = rest.clone().all(|h| matches!(h.role, Role::ReportVerb | Role::Comma));
    if only_verbs
        && rest.any(|h| h.role == Role::ReportVerb)
        && hits.iter().any(|h| h.role == Role::Comma && h.start < src_start)
    {
        return (Some((0, src_start)), String::new(), None);
    }
    (Some((src_start, s1)), String::new(), None)
}

/// `_segment_topics`: the topics a clause's cues name, in order.
fn segment_topics(seg: &Segment<'_, '_>) -> Vec<TopicId> {
    let mut out: Vec<TopicId> = Vec::new();
    for h in seg.hits {
        for m in h.meanings.iter() {
            if let (Role::Cue, Some(t)) = (m.role, m.topic) {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

/// `_scoped_around`: a negator or hedge in the clause so far, or between this comma and the next one.
fn scoped_around(before: &[&Hit], hits: &[Hit], i: usize) -> bool {
    if before.iter().any(|x| is_scoped(x.role)) {
        return true;
    }
    for x in &hits[i + 1..] {
        if is_scoped(x.role) {
            return true;
        }
        if matches!(x.role, Role::Comma | Role::Bound) {
            return false;
        }
    }
    false
}

/// `_negations`: how many negators between `seg_start` and `pos` count.
fn negations(negs: &[&Hit], seg_start: usize, pos: usize, commas: &[usize]) -> usize {
    let mut n = 0;
    for h in negs {
        if seg_start <= h.start && h.start < pos {
            if h.text == "without" && pos as isize - h.end as isize > WITHOUT_SCOPE {
                continue;
            }
            if h.text == "no" && commas.iter().any(|&c| h.end <= c && c < pos) {
                continue; // "no sanctions relief for the regime, and the restrictions remain": "no" negates its noun
            }
            n += 1;
        }
    }
    n
}

/// `_heads`: cue positions by topic, each counted as the head of its noun phrase's.
///
/// "restrictions on Syria's energy sector": the restrictions are the head; "grain talks": the last
/// noun of a compound is; "shipments of Patriot interceptors": a container noun (shipments,
/// exports, deliveries) takes the topic of what it contains.
fn heads_of(cue_hits: &[(&Hit, TopicId)], hits: &[&Hit], sentence: &str) -> PosMap {
    let mut out = HeadsBuilder::default();
    let mut prev: Option<(&Hit, TopicId)> = None; // the current head
    let mut members: Vec<usize> = Vec::new(); // positions of the current phrase counted under the head so far
    for &(h, topic) in cue_hits {
        let mut joined = false;
        if let Some((ph, pt)) = prev {
            if pt != topic && ph.end <= h.start && h.start <= ph.end + LINK_SPAN {
                let compound = h.start - ph.end <= 1 && !ph.text.contains(' '); // "grain talks"
                if compound || is_container(&ph.text) {
                    // compound or container: the phrase so far belongs to this cue's topic
                    for &p in &members {
                        out.remove_one(pt, p);
                        out.push(topic, p);
                    }
                    out.drop_if_empty(pt);
                    prev = Some((h, topic));
                    members.push(h.start);
                    out.push(topic, h.start);
                    continue;
                }
                if pattern::link(sentence, ph.end)
                    && !hits.iter().any(|x| ph.end <= x.start && x.start < h.start && x.roles.meets(NOT_NOUN))
                {
                    out.push(pt, h.start);
                    members.push(h.start);
                    joined = true;
                }
            }
        }
        if !joined {
            out.push(topic, h.start);
            prev = Some((h, topic));
            members.clear();
            members.push(h.start);
        }
    }
    out.done()
}

/// `_relatives`: stance words right after "<topic noun> <subject> has": "the missiles the UK has
/// supplied".
fn relatives(hits: &[&Hit], sentence: &str) -> Vec<usize> {
    hits.windows(2)
        .filter(|w| {
            let (p, h) = (w[0], w[1]);
            p.roles.has(Role::Cue)
                && h.roles.has(Role::Stance)
                && h.start as isize - p.end as isize <= 30
                && pattern::relative(sentence, p.end, h.start)
        })
        .map(|w| w[1].start)
        .collect()
}

/// `_prepositions`: "against" as a preposition after a threat or topic noun ("a ground offensive
/// against"), or naming what is warned against ("we warn the United States against ...").
fn prepositions_of(hits: &[&Hit]) -> Vec<usize> {
    let mut out: Vec<usize> = hits
        .windows(2)
        .filter(|w| w[1].text == "against" && w[1].start as isize - w[0].end as isize <= 1 && w[0].roles.meets(FORCE_NOUN))
        .map(|w| w[1].start)
        .collect();
    let warns: Vec<usize> = hits.iter().filter(|h| is_warn_verb(&h.text)).map(|h| h.end).collect();
    for h in hits {
        if h.text == "against" && warns.iter().any(|&w| (0..=WARN_SPAN).contains(&(h.start as isize - w as isize))) {
            out.push(h.start);
        }
    }
    out
}

/// `_frames`: a cue of `topic` in the clause introduces what is responded to ("our response to ...").
fn frames(seg: &Segment<'_, '_>, topic: TopicId, sentence: &str) -> bool {
    seg.hits.iter().any(|h| {
        h.meanings.iter().any(|m| {
            m.role == Role::Cue
                && m.topic == Some(topic)
                && (pattern::trigger_prep(sentence, h.end) || pattern::trigger_end(&h.text))
        })
    })
}

/// `_outside_triggers`: threat words naming the trigger of a response ("our response to any
/// seizure") are not threats.
fn outside_triggers<'h>(
    core: &Core,
    seg: &Segment<'_, 'h>,
    threats: Vec<(&'h Hit, f64)>,
    sentence: &str,
) -> Vec<(&'h Hit, f64)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for h in seg.hits {
        for m in h.meanings.iter() {
            if let (Role::Cue, Some(t)) = (m.role, m.topic) {
                // "our response to the seizure" names the trigger; "we will answer with more
                // firepower", "the response will be massive" name the response itself
                if spec(core, t).trigger_frame && (pattern::trigger_prep(sentence, h.end) || pattern::trigger_end(&h.text))
                {
                    spans.push((h.end, h.end + TRIGGER_SPAN));
                }
            }
        }
    }
    if spans.is_empty() {
        return threats;
    }
    threats.into_iter().filter(|(h, _)| !spans.iter().any(|&(a, b)| a < h.start && h.start <= b)).collect()
}

/// `_implied_threat_topic`: the default threat topic when a conditional sentence threatens force
/// without naming it ("If one more rocket is fired, we will flatten the district" threatens
/// retaliation); a topic whose threats are the stance itself (nuclear use) already says what is
/// threatened.
fn implied_threat_topic(
    core: &Core,
    topics: &[(TopicId, Key<'_>)],
    threats: &[(&Hit, f64)],
    conditional: bool,
) -> Option<TopicId> {
    let default = core.threat_default?;
    if threats.is_empty() {
        return None;
    }
    // a conditional act of force, or an explicit warning to someone ("we warn the enemy"), or a red
    // line drawn ("we will not tolerate this")
    let warned =
        topics.is_empty() && threats.iter().any(|(h, _)| is_warn_verb(&h.text) || core.red_lines.contains(&h.text));
    // an act of force threatened outright that names no topic is a threat of retaliation too
    let acts = least(threats) <= THREAT_ACT;
    if !warned && !acts {
        return None;
    }
    if !warned && !conditional && !topics.is_empty() {
        return None;
    }
    if topics.iter().any(|&(t, _)| t == default || spec(core, t).threat_explicit) {
        return None;
    }
    Some(default)
}

/// `_negated_threat`: the threat word `hits[i]` right after a negator threatens nothing ("will not
/// answer tariffs with tariffs", "dialogue rather than retaliation", "there will be no war").
fn negated_threat(hits: &[&Hit], i: usize) -> bool {
    i > 0 && {
        let prev = hits[i - 1];
        prev.role == Role::Neg && hits[i].start.saturating_sub(prev.end) <= THREAT_NEG_GAP
    }
}

/// `_claims`: the claims of one main clause (or of a condition, when the conditional threat rule
/// asks what it affirms), and whether any stance or continuity word voted.
#[allow(clippy::too_many_arguments)]
fn claims<'c, 'h>(
    core: &'c Core,
    sentence: &str,
    seg: &Segment<'_, 'h>,
    own_topics: &[TopicId],
    inherited: &[Key<'c>],
    objects: &Objects<'c>,
    conditional: bool,
    relations: &mut Vec<RelationOut>,
    heads: Option<&PosMap>,
    from_condition: bool,
    cond_keys: &[Key<'c>],
) -> (Vec<Raw<'c>>, bool) {
    let mut cue_pos = PosMap::default();
    let mut votes_raw: SmallVec<[(&'h Hit, &'h Meaning); 8]> = SmallVec::new();
    let mut negs: SmallVec<[&'h Hit; 8]> = SmallVec::new();
    let mut threats: Vec<(&'h Hit, f64)> = Vec::new();
    let mut amp = 0.0f64;
    let mut amp_cues: SmallVec<[&'h str; 8]> = SmallVec::new();
    let mut hedges: SmallVec<[&'h str; 8]> = SmallVec::new();
    let mut condcues: SmallVec<[&'h str; 8]> = SmallVec::new();
    let mut pcts: SmallVec<[f64; 8]> = SmallVec::new();
    let mut continuity: SmallVec<[(&'h Hit, i8); 8]> = SmallVec::new();
    let mut specific = PosMap::default(); // per topic, the phrases it reads its own way
    let mut against = false;
    let mut permit = false; // "imports may continue under licence": a permission, "may" is no hedge
    let mut scenario = FAR; // "training to close the sea lanes": what is rehearsed is no stance on the drill
    for (i, &h) in seg.hits.iter().enumerate() {
        let unthreat = h.roles.has(Role::Threat) && negated_threat(seg.hits, i);
        for m in h.meanings.iter() {
            match m.role {
                Role::Cue => {
                    if let Some(t) = m.topic {
                        cue_pos.push(t, h.start);
                    }
                    if m.pol != 0 && h.start < scenario {
                        votes_raw.push((h, m));
                        if let Some(t) = m.topic {
                            specific.push(t, h.start);
                        }
                    }
                }
                Role::Stance if h.start < scenario => {
                    votes_raw.push((h, m));
                    if let Some(t) = m.topic {
                        specific.push(t, h.start);
                    } else if h.text == "against" {
                        against = true;
                    }
                }
                Role::Scenario => scenario = scenario.min(h.end),
                Role::Neg => negs.push(h),
                Role::Threat if !unthreat => threats.push((h, m.value)),
                Role::Amp => {
                    amp += m.value;
                    amp_cues.push(&h.text);
                }
                Role::Hedge => {
                    if h.text == "may" && h.start > 0 && sentence.as_bytes()[h.start..].starts_with(b"May") {
                        continue; // "from May", "until 5 May": the month, not a hedge
                    }
                    hedges.push(&h.text);
                }
                Role::Permit => permit = true,
                Role::CondCue => condcues.push(&h.text),
                Role::Pct => pcts.push(m.value),
                Role::Reaffirm => continuity.push((h, 1)),
                Role::Change => continuity.push((h, -1)),
                _ => {}
            }
        }
    }
    if permit && !hedges.is_empty() {
        hedges.retain(|x| !is_deontic(x));
    }
    let commas: Vec<usize> = if negs.is_empty() {
        Vec::new()
    } else {
        seg.hits
            .iter()
            .filter(|h| h.role == Role::Comma && pattern::clause_comma(sentence, h.end))
            .map(|h| h.start)
            .collect()
    };
    let voted = !votes_raw.is_empty() || !continuity.is_empty();
    let only_generic: Vec<(&'h Hit, &'h Meaning)>;
    let generic: &[(&'h Hit, &'h Meaning)] = if votes_raw.len() > 1 {
        only_generic = votes_raw.iter().copied().filter(|(_, m)| m.topic.is_none()).collect();
        &only_generic
    } else {
        &votes_raw
    };
    if !threats.is_empty() {
        threats = outside_triggers(core, seg, threats, sentence);
    }
    let mut carried = false;
    let mut topics: Vec<(TopicId, Key<'c>)> = if !own_topics.is_empty() {
        own_topics.iter().map(|&t| (t, objects.key(t))).collect()
    } else if !inherited.is_empty() && !seg.named_subject {
        carried = true;
        inherited.iter().map(|&k| (k.topic, k)).collect()
    } else if !threats.is_empty() && implied_threat_topic(core, &[], &threats, conditional).is_some() {
        Vec::new()
    } else {
        return (Vec::new(), voted);
    };
    let multi = topics.len() > 1 && !carried;
    // generic stance words attach to the head of a noun phrase: in "restrictions on Syria's
    // energy sector are lifted" the restrictions are lifted, not the energy
    // "against" right after a threat or topic noun is a preposition ("a ground offensive against")
    let mut prepositions: Vec<usize> = if against { prepositions_of(seg.hits) } else { Vec::new() };
    // "the missiles the UK has supplied are for use within Ukraine": a stance verb in an object
    // relative clause after its topic noun describes a past act, not the stance of the clause
    if sentence.contains(" ha") {
        prepositions.extend(relatives(seg.hits, sentence));
    }
    // the topic each generic stance word attaches to, computed once per word
    let mut nearest: SmallVec<[(usize, Option<TopicId>); 8]> = SmallVec::new();
    let mut near_pos: &PosMap = &cue_pos;
    if multi {
        near_pos = heads.unwrap_or(&cue_pos);
        for &(h, m) in &votes_raw {
            if m.topic.is_none() && !nearest.iter().any(|&(p, _)| p == h.start) {
                nearest.push((h.start, near_pos.nearest(h.start)));
            }
        }
    }
    let implied = if threats.is_empty() { None } else { implied_threat_topic(core, &topics, &threats, conditional) };
    if let Some(t) = implied {
        topics.push((t, Key::bare(t)));
    }
    // "Should NATO weapons be deployed in Finland, its territory becomes a legitimate target for our
    // armed forces": an act of force threatened on a condition speaks to the topics the condition
    // names, even when the threat names topics of its own
    let mut implied_set: Vec<TopicId> = implied.into_iter().collect();
    if !cond_keys.is_empty() && !own_topics.is_empty() && !threats.is_empty() && least(&threats) <= THREAT_ACT {
        let mut named: Vec<TopicId> = topics.iter().map(|&(t, _)| t).collect();
        for &k in cond_keys {
            if !named.contains(&k.topic) {
                topics.push((k.topic, k));
                named.push(k.topic);
                implied_set.push(k.topic);
            }
        }
    }
    // "our response to the sanctions": the sanctions are the trigger, not a stance
    // only a cue followed by what it responds to frames ("our response to", "countermeasures
    // against"); "we will use every weapon in our arsenal, nuclear ones included" frames nothing
    let framing: Vec<TopicId> = topics
        .iter()
        .map(|&(t, _)| t)
        .filter(|&t| spec(core, t).trigger_frame && (Some(t) == implied || frames(seg, t, sentence)))
        .collect();

    let modality = if !hedges.is_empty() {
        Modality::Hedged
    } else if conditional || !condcues.is_empty() {
        Modality::Conditional
    } else {
        Modality::Asserted
    };

    let mut out: Vec<Raw<'c>> = Vec::new();
    // per topic (allocated once, cleared for each)
    let mut votes: SmallVec<[(i8, &'h Hit); 8]> = SmallVec::new();
    let mut neg_used: SmallVec<[&str; 8]> = SmallVec::new();
    let mut cands: SmallVec<[(&'h Hit, &'h Meaning); 8]> = SmallVec::new();
    let mut noun_led: SmallVec<[bool; 8]> = SmallVec::new(); // per vote: it stands under a negative noun a passive reverser can undo
    let mut op_negated: SmallVec<[usize; 8]> = SmallVec::new(); // change words negated by the operator right before them
    for &(topic, key) in &topics {
        let sp = spec(core, topic);
        votes.clear();
        neg_used.clear();
        let framed = multi && !framing.contains(&topic) && !framing.is_empty();
        cands.clear();
        // a topic's own reading of a word wins over the generic one ("cut" from SWIFT is a sanction)
        let own = specific.contains(topic);
        // only this topic's own readings and the generic ones, in hit order
        let pool = if own { &votes_raw[..] } else { generic };
        if !implied_set.contains(&topic) {
            for &(h, m) in pool {
                if m.topic.is_some_and(|t| t != topic) {
                    continue;
                }
                if is_container(&h.text) && m.role == Role::Stance && !verb_use(sentence, h.start) {
                    continue; // "deliveries", "shipments": the noun names what is supplied, it votes nothing
                }
                if prepositions.contains(&h.start) {
                    continue; // "an offensive against the militia": a preposition, not opposition
                }
                if m.topic.is_none()
                    && ((own && specific.of(topic).any(|p| p == h.start))
                        || framed
                        || (multi
                            && !framing.contains(&topic)
                            && nearest.iter().find(|&&(p, _)| p == h.start).and_then(|&(_, t)| t) != Some(topic)))
                {
                    continue;
                }
                if cands.iter().any(|(c, _)| c.start == h.start) {
                    continue; // one vote per phrase and topic (`voted_at`: the candidates' positions)
                }
                cands.push((h, m));
            }
        }
        let mut ops = 0usize; // negative verbs governing the next stance word (they chain: "lifted the ban on exports")
        let mut by_noun = false; // the pending operator chain is headed by a negative noun ("the ban on ...")
        noun_led.clear();
        op_negated.clear();
        for (idx, &(h, m)) in cands.iter().enumerate() {
            let nxt = cands.get(idx + 1).map(|&(x, _)| x);
            let close = nxt.is_some_and(|x| x.start as isize - h.end as isize <= OPERATOR_GAP);
            if m.pol < 0 && !continuity.is_empty() && h.roles.has(Role::Operator) {
                // "no plans to change its policy", "refused to revise": the operator negates the
                // change word right after it (a reaffirmation) and casts no vote of its own
                let after = continuity.iter().map(|&(c, _)| c).find(|c| {
                    c.start >= h.end
                        && c.start as isize - h.end as isize <= OPERATOR_GAP
                        && nxt.is_none_or(|x| c.start < x.start)
                        && !cue_pos.positions().any(|p| h.end <= p && p < c.start)
                });
                if let Some(c) = after {
                    op_negated.push(c.start);
                    neg_used.push(&h.text);
                    continue;
                }
            }
            // `_cue_between`: a topic noun between this word and the next (asked only when it matters)
            let cue_before_next = || nxt.is_some_and(|x| cue_pos.positions().any(|p| h.end <= p && p < x.start));
            if !votes.is_empty()
                && noun_led.last() == Some(&true)
                && (h.roles.has(Role::Reverser) || m.pol > 0)
            {
                // the predicate of a stop named as a noun: "the ban on imports will be lifted" undoes
                // it, "the ban will stay in place" confirms it, "will not stay" undoes it
                let last = votes.len() - 1;
                let (prev_pol, prev_hit) = votes[last];
                let between =
                    negations(&negs, prev_hit.end, h.start, &commas) + usize::from(h.roles.has(Role::Reverser));
                if !between.is_multiple_of(2) {
                    votes[last] = (-prev_pol, prev_hit);
                    *noun_led.last_mut().expect("a flag per vote") = false;
                }
                neg_used.push(&h.text);
                continue;
            }
            // a negative stance word right before another stance word scopes over it:
            // "no plans to send", "opposes lifting", "refused to resume" -> one negated vote
            // ("the ban on exports will stay": a stop named as a noun governs no verb across its
            // object; nor does a verb whose object is a topic noun)
            if m.pol < 0 && close && h.roles.has(Role::Operator) && !cue_before_next() {
                ops += 1;
                by_noun = by_noun || h.roles.has(Role::NegNoun);
                neg_used.push(&h.text);
                continue;
            }
            // a supporting verb right before another stance word defers to it: "we support a
            // ban" is the ban, "they propose to resume" the resumption
            if m.pol > 0 && close && h.roles.has(Role::Governor) && !cue_before_next() {
                continue;
            }
            // a post-posed judgement carries its own negation ("is not a priority"); only a negator
            // right before it turns it ("would not be a mistake"), not one of an earlier predicate
            let evaluator = h.roles.has(Role::Evaluator);
            let neg_from = if evaluator { seg.start.max(h.start.saturating_sub(EVAL_NEG_SPAN)) } else { seg.start };
            let n = negations(&negs, neg_from, h.start, &commas) + ops;
            let led = by_noun || h.roles.has(Role::NegNoun);
            ops = 0;
            by_noun = false;
            if n > 0 {
                neg_used.extend(negs.iter().filter(|x| seg.start <= x.start && x.start < h.start).map(|x| x.text.as_str()));
            }
            let pol_vote = if n.is_multiple_of(2) { m.pol } else { -m.pol };
            if !votes.is_empty() && m.pol < 0 && evaluator {
                // "lifting the sanctions would be a mistake": the judgement flips what it judges
                let last = votes.len() - 1;
                let (prev_pol, prev_hit) = votes[last];
                votes[last] = (if n.is_multiple_of(2) { -prev_pol } else { prev_pol }, prev_hit);
                neg_used.push(&h.text);
                continue;
            }
            votes.push((pol_vote, h));
            noun_led.push(led);
        }
        for &(h, sign) in &continuity {
            let n = negations(&negs, seg.start, h.start, &commas) + op_negated.iter().filter(|&&p| p == h.start).count();
            let same = if n.is_multiple_of(2) { sign } else { -sign };
            if n > 0 {
                neg_used.extend(negs.iter().filter(|x| x.start < h.start).map(|x| x.text.as_str()));
            }
            if let Some(change) = sp.change {
                let changed_pol: i8 = if change == PRO { 1 } else { -1 };
                votes.push((if same > 0 { -changed_pol } else { changed_pol }, h));
            } else {
                relations.push(RelationOut {
                    topic: key.render(core),
                    relation: if same > 0 { "same" } else { "changed" },
                    cue: h.text.clone(),
                    sentence: sentence.to_owned(),
                });
            }
        }
        let mut explicit = true;
        // the topic's own noun ("lift the oil embargo", "end the blockade") is no act against it
        let acts = threats.iter().filter(|(h, _)| !names(h, topic)).fold(None, |acc: Option<f64>, &(_, v)| {
            Some(acc.map_or(v, |a| py_min(a, v)))
        });
        let acts = acts.unwrap_or(0.0);
        let topic_cue = cue_pos.first(topic); // `cue_pos[topic][0]`, if the clause names the topic
        let mut pol: Pol;
        let mut confidence: f64;
        let cues: Vec<&str>;
        if !votes.is_empty() {
            let total: i32 = votes.iter().map(|&(v, _)| i32::from(v)).sum();
            if total == 0 {
                continue;
            }
            pol = if total > 0 { PRO } else { CONTRA };
            confidence = if total.unsigned_abs() as usize == votes.len() { 0.9 } else { 0.7 };
            cues = votes.iter().map(|(_, h)| h.text.as_str()).collect();
            if acts <= THREAT_ACT && pol != sp.threat && !framed {
                // "the countries supplying them become parties to the conflict": an explicit
                // threat against the topic outweighs a stance verb describing others
                pol = sp.threat;
                explicit = false;
                confidence = 0.6;
            }
        } else if sp.percent && !pcts.is_empty() && !framed && topic_cue.is_some() {
            pol = PRO; // "a tariff of 20% will apply": the rate is the claim
            confidence = 0.75;
            cues = Vec::new();
        } else if !threats.is_empty() && !framed && (topic_cue.is_some() || carried || implied_set.contains(&topic)) {
            pol = sp.threat;
            explicit = sp.threat_explicit;
            confidence = if explicit { 0.85 } else { 0.6 };
            cues = Vec::new();
        } else if let Some(first_neg) = negs.first().filter(|n0| {
            continuity.is_empty() // "no amendments to our doctrine": the negator is the change word's
                && topic_cue.is_some_and(|c| {
                    n0.start < c
                        // "that does not mean the question of legitimacy has gone away": no denial of the topic
                        && !sentence.as_bytes().get(n0.end..).is_some_and(|s| s.starts_with(b" mean"))
                        && (!is_neg_subject(&n0.text) || c as isize - n0.end as isize <= NEG_TOPIC_GAP)
                })
                && (!multi || near_pos.contains(topic))
        }) {
            // "will not conduct any negotiations"; not a modifier: "will not lift the sanctions on oil"
            pol = CONTRA;
            confidence = 0.75;
            cues = vec![first_neg.text.as_str()];
            neg_used.push(&first_neg.text);
        } else if amp < 0.0 && sp.threat == PRO && topic_cue.is_some() && !framed {
            // "the drills were routine": a described act of force, softly worded
            pol = PRO;
            explicit = false;
            confidence = 0.5;
            cues = Vec::new();
        } else if sp.threat == PRO
            && near_pos.contains(topic)
            && !framed
            && negs.is_empty()
            && votes_raw.is_empty()
            && continuity.is_empty()
            && !carried
            && !implied_set.contains(&topic)
        {
            // "coast guard vessels patrol the shoal", "the aim of the operation is to protect
            // Donbas": a posture described, not argued. Weak (it establishes a baseline an
            // escalation is measured from, too weak to be reversed with an alert)
            pol = PRO;
            explicit = false;
            confidence = BARE_CONFIDENCE;
            cues = Vec::new();
        } else {
            continue;
        }
        if carried && !from_condition {
            // "if Kyiv is invited into the alliance, we will respond with every means": a threat
            // whose condition names the topic speaks to it as surely as one naming it
            confidence *= 0.85;
        }
        if modality == Modality::Conditional {
            confidence *= 0.9;
        } else if modality == Modality::Hedged {
            confidence = py_min(confidence, 0.5);
        }
        // intensity on the conflict-cooperation scale
        let mut value = sp.intensity(pol);
        let mut threat_cues: SmallVec<[&str; 8]> = SmallVec::new();
        let mut min_threat = 0.0f64;
        if !threats.is_empty() && pol == sp.threat && !framed {
            min_threat = least(&threats);
            value = py_min(value, min_threat);
            threat_cues = threats.iter().map(|(h, _)| h.text.as_str()).collect();
        }
        let mut magnitude = None;
        if sp.percent && !pcts.is_empty() && pol == PRO {
            let top = pcts[1..].iter().fold(pcts[0], |a, &b| py_max(a, b));
            magnitude = Some(top);
            value = py_min(value, pct_intensity(top));
        }
        let a = py_max(-MAX_AMP, py_min(MAX_AMP, amp));
        if value < 0.0 {
            value = py_min(0.0, value - a);
        } else if value > 0.0 {
            value = py_max(0.0, value + a);
        }
        value = py_round(py_max(-10.0, py_min(10.0, value)), 2);
        let category = if min_threat <= -7.0 {
            Some("explicit_threat")
        } else if min_threat <= -5.0 {
            Some("warning")
        } else {
            None
        };
        let pos = votes
            .iter()
            .map(|(_, h)| h.start)
            .chain(cue_pos.of(topic))
            .fold(if carried { seg.start } else { FAR }, usize::min);
        let at = votes.iter().map(|(_, h)| h.start).min().unwrap_or(pos);
        out.push(Raw {
            key,
            topic,
            pol,
            explicit,
            confidence: py_round(confidence, 3),
            intensity: value,
            modality,
            category,
            pos,
            cues: dedupe(cues.iter().chain(&threat_cues).chain(&amp_cues)),
            neg_cues: dedupe(&neg_used),
            mod_cues: hedges.iter().chain(&condcues).map(|&s| s.to_owned()).collect(),
            magnitude,
            at,
        });
    }
    (out, voted)
}

// -- the regular expressions of rules.py, hand-coded ---------------------------------------------

/// Matchers for the patterns of rules.py. Each takes the text and the position Python's
/// `pattern.match(text, pos)` starts at; none of the patterns looks behind its start.
///
/// Whitespace is what Python's `\s` and `str.isspace()` call whitespace (after normalisation it is
/// single spaces anyway). The patterns' greedy runs are each followed by something their class
/// cannot match (a word by a space, spaces by a letter), so they never give characters back and
/// a single left-to-right reading decides the match; where a pattern has a real choice (the
/// optional "and " of `_NEW_CLAUSE`, the lazy words of `_NEW_CLAUSE` and `_ANSWER`), the matcher
/// tries the alternatives in the order Python's backtracking does.
mod pattern {
    /// Python's `str.isspace()` on an ASCII byte (also what `\s` matches in it).
    #[inline]
    pub fn is_space(b: u8) -> bool {
        matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f)
    }

    /// `\w` on ASCII
    #[inline]
    fn is_word(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b == b'_'
    }

    /// `[\w'-]`
    #[inline]
    fn is_wordish(b: u8) -> bool {
        is_word(b) || b == b'\'' || b == b'-'
    }

    /// `str.rstrip()`
    pub fn rstrip(s: &str) -> &str {
        s.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8))
    }

    fn skip_space(s: &[u8], mut i: usize) -> usize {
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        i
    }

    /// The run of `\w` characters at `i`: the word a pattern's `(?:a|b)\b` must equal.
    fn word_run(s: &[u8], i: usize) -> &[u8] {
        let mut j = i.min(s.len());
        while j < s.len() && is_word(s[j]) {
            j += 1;
        }
        &s[i.min(s.len())..j]
    }

    /// The end of a `[\w'-]*`-run (a token of `_NEW_CLAUSE` and `_RELATIVE`) starting at `i`.
    fn wordish_end(s: &[u8], mut i: usize) -> usize {
        while i < s.len() && is_wordish(s[i]) {
            i += 1;
        }
        i
    }

    /// `_PARTICLE_HINT.search(low)`: ` (?:o(?:ut|ff|ver)|back|down|home|up|aside)\b`, a particle as
    /// a whole word after a space.
    pub fn particle_hint(low: &str) -> bool {
        let s = low.as_bytes();
        let whole = |i: usize, p: &[u8]| s[i..].starts_with(p) && s.get(i + p.len()).is_none_or(|&c| !is_word(c));
        // (a byte loop: spaces are too close together for memchr to pay)
        (0..s.len().saturating_sub(1)).any(|i| {
            s[i] == b' ' && {
                let j = i + 1;
                match s[j] {
                    b'o' => whole(j, b"out") || whole(j, b"off") || whole(j, b"over"),
                    b'b' => whole(j, b"back"),
                    b'd' => whole(j, b"down"),
                    b'h' => whole(j, b"home"),
                    b'u' => whole(j, b"up"),
                    b'a' => whole(j, b"aside"),
                    _ => false,
                }
            }
        })
    }

    /// `_WORD.finditer(low)`: the spans of `[a-z0-9'-]+`.
    pub fn words(low: &str) -> Vec<(usize, usize)> {
        let s = low.as_bytes();
        let in_word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'\'' || b == b'-';
        let mut out = Vec::new();
        let mut i = 0;
        while i < s.len() {
            if in_word(s[i]) {
                let start = i;
                while i < s.len() && in_word(s[i]) {
                    i += 1;
                }
                out.push((start, i));
            } else {
                i += 1;
            }
        }
        out
    }

    /// `_SPACES_AND_WORDS.fullmatch(...)`: `[a-z0-9'\- ]*`
    pub fn spaces_and_words(s: &str) -> bool {
        s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'\'' | b'-' | b' '))
    }

    /// `cased[end:end + 2].strip()[:1].isdigit()`: a number follows ("Article 51")
    pub fn digit_follows(cased: &str, end: usize) -> bool {
        let s = cased.as_bytes();
        let window = &s[end.min(s.len())..(end + 2).min(s.len())];
        window.iter().find(|&&b| !is_space(b)).is_some_and(u8::is_ascii_digit)
    }

    /// `_TRIGGER_PREP.match(text, pos)`, ignoring case:
    /// `\s+(?:\w+ly\s+)?(?:to|against|for|on|over|at)\b` ("respond harshly to").
    ///
    /// The adverb must be the whole word run after the spaces (a space follows its "ly").
    pub fn trigger_prep(text: &str, pos: usize) -> bool {
        let s = text.as_bytes();
        if pos >= s.len() || !is_space(s[pos]) {
            return false;
        }
        let i = skip_space(s, pos);
        let prep = |w: &[u8]| {
            [&b"to"[..], b"against", b"for", b"on", b"over", b"at"].iter().any(|p| w.eq_ignore_ascii_case(p))
        };
        let first = word_run(s, i);
        if first.len() >= 3 && first[first.len() - 2..].eq_ignore_ascii_case(b"ly") {
            let j = i + first.len();
            if j < s.len() && is_space(s[j]) && prep(word_run(s, skip_space(s, j))) {
                return true;
            }
        }
        prep(first)
    }

    /// `_TRIGGER_END.search(text)`: `\b(?:to|against|for|on|over|at)$`, the phrase ends in the
    /// preposition as a word of its own.
    pub fn trigger_end(text: &str) -> bool {
        let s = text.as_bytes();
        [&b"to"[..], b"against", b"for", b"on", b"over", b"at"]
            .iter()
            .any(|p| s.ends_with(p) && (s.len() == p.len() || !is_word(s[s.len() - p.len() - 1])))
    }

    /// `_CLAUSE_COMMA.match(text, pos)`: `\s*(?:and|but|while|so|yet|whereas)\b`
    pub fn clause_comma(text: &str, pos: usize) -> bool {
        let s = text.as_bytes();
        matches!(word_run(s, skip_space(s, pos)), b"and" | b"but" | b"while" | b"so" | b"yet" | b"whereas")
    }

    /// `_LINK.match(text, pos)`, ignoring case: `\s*(?:'s\s+)?(?:of|on|against|for|from|in|to|over)\s+`
    pub fn link(text: &str, pos: usize) -> bool {
        let s = text.as_bytes();
        let prep_then_space = |i: usize| {
            [&b"of"[..], b"on", b"against", b"for", b"from", b"in", b"to", b"over"].iter().any(|p| {
                s.get(i..i + p.len()).is_some_and(|w| w.eq_ignore_ascii_case(p)) && s.get(i + p.len()).is_some_and(|&c| is_space(c))
            })
        };
        let i = skip_space(s, pos);
        if s.get(i..i + 2).is_some_and(|w| w.eq_ignore_ascii_case(b"'s")) && s.get(i + 2).is_some_and(|&c| is_space(c)) {
            return prep_then_space(skip_space(s, i + 2));
        }
        // (without "'s" the preposition would have to start at the apostrophe: no match either)
        prep_then_space(i)
    }

    /// `_RELATIVE.match(text, start, end)` (the pattern ends in `$`, so it must span `start..end`):
    /// `\s+(?:the\s+|our\s+|its\s+|their\s+)?[\w'-]+(?:\s+[\w'-]+)?\s+(?:has|have|had)\s+$`
    ///
    /// That is: spaces, one or two `[\w'-]+` words (three when the first is a determiner), "has",
    /// "have" or "had", spaces, the end.
    pub fn relative(text: &str, start: usize, end: usize) -> bool {
        if end <= start {
            return false; // Python matches nothing where the end lies before the start
        }
        let s = &text.as_bytes()[start..end];
        if !is_space(s[0]) || !is_space(s[s.len() - 1]) {
            return false;
        }
        let mut tokens = s.split(|&b| is_space(b)).filter(|t| !t.is_empty());
        let mut words: [&[u8]; 4] = [&[]; 4];
        let mut n = 0;
        for t in tokens.by_ref() {
            if n == 4 || !t.iter().all(|&b| is_wordish(b)) {
                return false;
            }
            words[n] = t;
            n += 1;
        }
        if !(2..=4).contains(&n) || !matches!(words[n - 1], b"has" | b"have" | b"had") {
            return false;
        }
        n < 4 || matches!(words[0], b"the" | b"our" | b"its" | b"their")
    }

    /// `_NEW_CLAUSE.match(text, pos)`: the end of the match, if any.
    ///
    /// ```text
    /// \s*(?:and\s+|so\s+)?(?!(?:as|if|...|why)\b)([A-Za-z][\w'-]*)\s+
    /// (?:(?!(?:and|or|nor)\b)[A-Za-z][\w'-]*\s+){0,4}?(?:has|have|...|did)\s
    /// ```
    /// A subject word (no preposition, subordinator or conjunction), at most four more words, the
    /// first auxiliary. Python first tries the match with a leading "and "/"so " and, failing that,
    /// reads "and"/"so" as the subject itself (", and then we will" matches that way).
    pub fn new_clause(text: &str, pos: usize) -> Option<usize> {
        let s = text.as_bytes();
        let i = skip_space(s, pos);
        for lead in [&b"and"[..], b"so"] {
            if s[i..].starts_with(lead) && s.get(i + lead.len()).is_some_and(|&c| is_space(c)) {
                if let Some(end) = clause_from(s, skip_space(s, i + lead.len())) {
                    return Some(end);
                }
            }
        }
        clause_from(s, i)
    }

    /// `_NEW_CLAUSE` from its negative lookahead on.
    fn clause_from(s: &[u8], i: usize) -> Option<usize> {
        const NOT_SUBJECT: &[&[u8]] = &[
            b"as", b"if", b"when", b"whether", b"which", b"who", b"whom", b"whose", b"that", b"in", b"on", b"at",
            b"for", b"with", b"of", b"to", b"by", b"from", b"including", b"although", b"though", b"since",
            b"because", b"after", b"before", b"until", b"unless", b"while", b"where", b"once", b"even", b"not",
            b"nor", b"or", b"but", b"then", b"than", b"what", b"how", b"why",
        ];
        const AUX: [&[u8]; 18] = [
            b"has", b"have", b"had", b"will", b"would", b"shall", b"may", b"might", b"can", b"could", b"must",
            b"is", b"are", b"was", b"were", b"does", b"do", b"did",
        ];
        if NOT_SUBJECT.contains(&word_run(s, i)) {
            return None;
        }
        // a word of `[A-Za-z][\w'-]*` followed by spaces: the position after them
        let word = |j: usize| -> Option<usize> {
            if j >= s.len() || !s[j].is_ascii_alphabetic() {
                return None;
            }
            let e = wordish_end(s, j + 1);
            (e < s.len() && is_space(s[e])).then(|| skip_space(s, e))
        };
        let mut j = word(i)?;
        for k in 0..=4 {
            // lazily: the auxiliary as early as it comes
            if let Some(aux) = AUX.iter().find(|a| s[j..].starts_with(a) && s.get(j + a.len()).is_some_and(|&c| is_space(c)))
            {
                return Some(j + aux.len() + 1);
            }
            if k == 4 || matches!(word_run(s, j), b"and" | b"or" | b"nor") {
                return None;
            }
            j = word(j)?;
        }
        None
    }

    /// `_ANSWER.search(low).group(1)`:
    /// `(?:said|replied|answered|responded|:)\s*"?\s*([a-z][a-z ,']*?)\s*[.!]*"?\s*[.!]*$`
    ///
    /// The leftmost position a match starts at; there the shortest answer after which only
    /// spaces, "." / "!" and one closing quote remain (the tail reads greedily: each of its
    /// parts takes characters the next one cannot).
    pub fn answer(low: &str) -> Option<&str> {
        let s = low.as_bytes();
        let tail_ok = |mut i: usize| {
            i = skip_space(s, i);
            while i < s.len() && matches!(s[i], b'.' | b'!') {
                i += 1;
            }
            if i < s.len() && s[i] == b'"' {
                i += 1;
            }
            i = skip_space(s, i);
            while i < s.len() && matches!(s[i], b'.' | b'!') {
                i += 1;
            }
            i == s.len()
        };
        for p in 0..s.len() {
            let after = [&b"said"[..], b"replied", b"answered", b"responded", b":"]
                .iter()
                .find(|w| s[p..].starts_with(w))
                .map(|w| p + w.len());
            let Some(after) = after else { continue };
            let mut i = skip_space(s, after);
            if i < s.len() && s[i] == b'"' {
                i += 1;
            }
            i = skip_space(s, i);
            if i >= s.len() || !s[i].is_ascii_lowercase() {
                continue;
            }
            let mut e = i + 1;
            loop {
                if tail_ok(e) {
                    return Some(&low[i..e]);
                }
                if e < s.len() && matches!(s[e], b'a'..=b'z' | b' ' | b',' | b'\'') {
                    e += 1;
                } else {
                    break;
                }
            }
        }
        None
    }
}
