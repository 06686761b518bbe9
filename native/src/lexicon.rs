//! The phrase lexicon compiled into one token trie (`monitor/domain/analysis/lexicon.py`).
//!
//! Every phrase the rules know is a path of tokens in one trie; a trailing `*` makes its last
//! token a stem. [`Lexicon::scan`] tokenises a sentence, walks the trie from each token and
//! keeps the longest phrase there ("no doubt" before "no"), exactly as `Lexicon.scan` does.
//!
//! Python memoises what each word starts (`Lexicon._first`: the root child for the word, with
//! any single-token stem the word matches merged in). Here that is precomputed instead: every
//! token of the phrases gets a number and its starting node when the trie is built, and a word
//! no phrase holds finds its stem (if any) in a byte trie of the root stems. The result is the
//! same, and `scan` needs no mutable state: it looks each token up once, then walks the trie by
//! numbers.
//!
//! Input of `scan` is ASCII text (see `types.rs`): it is tokenised byte by byte, and its byte
//! offsets are Python's character offsets. The phrases themselves may hold any character.

use std::cmp::Reverse;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::types::{Hit, Meaning, Role, Roles};

type NodeId = u32;
/// Number of a token of the phrases (`NO_WORD`: a token no phrase holds).
type WordId = u32;
const NO_WORD: WordId = u32::MAX;

/// The meanings of one phrase, with what the scanner and the rules ask of them precomputed
/// (`role` is the first meaning's role, `roles` all of them, as in `Hit`).
#[derive(Clone, Debug)]
struct Found {
    meanings: Arc<[Meaning]>,
    role: Role,
    roles: Roles,
    /// some meaning names a topic (a longer topic phrase may start inside another match)
    topical: bool,
}

impl Found {
    fn new(meanings: Arc<[Meaning]>) -> Found {
        assert!(!meanings.is_empty(), "a phrase needs at least one meaning");
        let mut roles = Roles::EMPTY;
        for m in meanings.iter() {
            roles.add(m.role);
        }
        Found { role: meanings[0].role, roles, topical: meanings.iter().any(|m| m.topic.is_some()), meanings }
    }

    #[inline]
    fn hit(&self, start: usize, end: usize, text: &str) -> Hit {
        Hit {
            start,
            end,
            text: text.to_owned(),
            meanings: Arc::clone(&self.meanings),
            role: self.role,
            roles: self.roles,
        }
    }
}

/// A stem ending a phrase at a node: the token after the node matches if it starts with `stem`.
#[derive(Clone, Debug)]
struct Star {
    stem: Box<str>,
    found: Found,
}

/// `_Node` of lexicon.py.
#[derive(Clone, Debug, Default)]
struct Node {
    /// `(word, child)`, sorted by word
    children: Vec<(WordId, NodeId)>,
    /// the phrase ending here (`_Node.meanings`)
    found: Option<Found>,
    /// stems after this node, longest first (stable among equal lengths)
    stars: Vec<Star>,
    /// no longer phrase can start here: a match ends at this token
    leaf: bool,
}

impl Node {
    #[inline]
    fn child(&self, word: WordId) -> Option<NodeId> {
        if word == NO_WORD {
            return None;
        }
        self.children.binary_search_by_key(&word, |&(w, _)| w).ok().map(|k| self.children[k].1)
    }
}

/// A token of the phrases: its number (the trie's edges are numbers, so walking the trie
/// compares no strings) and where matching starts at it (`_first`: its root child, merged with
/// the stem it starts with, or that stem alone, or nothing).
struct Word {
    id: WordId,
    first: Option<NodeId>,
}

/// A token of the scanned text.
struct Tok {
    start: usize,
    end: usize,
    /// `NO_WORD` for a token no phrase holds
    word: WordId,
    first: Option<NodeId>,
}

/// The root stems (`_Lexicon._root_stars`) as a byte trie: the longest stem a word starts with.
///
/// Python takes the first stem of the longest-first list that the word starts with: that is the
/// longest such stem, and among equal stems (two phrases, one stem) the first one added.
struct StemTrie {
    /// `(byte, next state)` per state, few per state: searched linearly
    next: Vec<Vec<(u8, u32)>>,
    /// the root's next state per byte (0: none), looked up directly: every token starts there
    root: Box<[u32; 256]>,
    /// the star-only node of the stem ending at a state
    target: Vec<Option<NodeId>>,
}

impl Default for StemTrie {
    fn default() -> StemTrie {
        StemTrie::new()
    }
}

impl StemTrie {
    fn new() -> StemTrie {
        StemTrie { next: vec![Vec::new()], root: Box::new([0; 256]), target: vec![None] }
    }

    /// Adds `stem` (unless an equal stem was added before: the first one wins).
    fn insert(&mut self, stem: &str, node: NodeId) {
        let mut s = 0usize;
        for &b in stem.as_bytes() {
            s = match self.next[s].iter().find(|(c, _)| *c == b) {
                Some(&(_, t)) => t as usize,
                None => {
                    let t = self.next.len();
                    self.next.push(Vec::new());
                    self.target.push(None);
                    self.next[s].push((b, t as u32));
                    if s == 0 {
                        self.root[b as usize] = t as u32;
                    }
                    t
                }
            };
        }
        self.target[s].get_or_insert(node);
    }

    /// The node of the longest stem `word` starts with.
    #[inline]
    fn longest(&self, word: &[u8]) -> Option<NodeId> {
        let (&first, rest) = word.split_first()?;
        let mut s = self.root[first as usize] as usize;
        if s == 0 {
            return None;
        }
        let mut best = self.target[s];
        for &b in rest {
            match self.next[s].iter().find(|(c, _)| *c == b) {
                Some(&(_, t)) => s = t as usize,
                None => break,
            }
            if let Some(node) = self.target[s] {
                best = Some(node);
            }
        }
        best
    }
}

/// The compiled matcher: `scan(text)` returns every known phrase in order.
pub struct Lexicon {
    /// the trie; `nodes[0]` is the root, followed by the nodes `Word::first` and `stems` point to
    nodes: Vec<Node>,
    /// every token of the phrases
    words: FxHashMap<Box<str>, Word>,
    /// where matching starts for any other word that starts with a root stem
    stems: StemTrie,
    bound: Found,
    comma: Found,
    size: usize,
}

const ROOT: NodeId = 0;

impl Lexicon {
    /// Compiles the phrase table (phrase -> meanings, in insertion order), as `Lexicon.__init__`.
    ///
    /// Phrases are already normalised (`normalize_phrase`); a trailing `*` makes the last token a
    /// stem. Tokens are those of the `_TOKEN` regex; a later phrase with the same tokens as an
    /// earlier one replaces its meanings, as in Python. Every phrase needs at least one meaning.
    pub fn new(phrases: &[(String, Vec<Meaning>)]) -> Lexicon {
        let mut nodes: Vec<Node> = vec![Node::default()];
        let mut ids: FxHashMap<Box<str>, WordId> = FxHashMap::default();
        let mut edges: FxHashMap<(NodeId, WordId), NodeId> = FxHashMap::default();
        for (phrase, meanings) in phrases {
            let star = phrase.ends_with('*');
            let body = if star { &phrase[..phrase.len() - 1] } else { phrase.as_str() };
            let mut toks = phrase_tokens(body);
            if toks.is_empty() {
                continue;
            }
            let stem = if star { toks.pop() } else { None };
            let mut node = ROOT;
            for t in toks {
                let next = ids.len() as WordId;
                let word = *ids.entry(t.into()).or_insert(next);
                node = *edges.entry((node, word)).or_insert_with(|| {
                    nodes.push(Node::default());
                    (nodes.len() - 1) as NodeId
                });
            }
            let found = Found::new(meanings.as_slice().into());
            match stem {
                Some(stem) => nodes[node as usize].stars.push(Star { stem: stem.into(), found }),
                None => nodes[node as usize].found = Some(found),
            }
        }
        for (&(parent, word), &child) in &edges {
            nodes[parent as usize].children.push((word, child));
        }
        for node in &mut nodes {
            node.children.sort_unstable();
            // Python re-sorts after each append: the same as one stable sort at the end
            node.stars.sort_by_key(|s| Reverse(s.stem.chars().count()));
            node.leaf = node.children.is_empty() && node.stars.is_empty();
        }

        // single-token stems: a star-only node per stem, found through the stem trie
        let mut stems = StemTrie::new();
        let root_stars = nodes[ROOT as usize].stars.clone();
        for star in &root_stars {
            nodes.push(Node { found: Some(merge(None, &star.found)), leaf: true, ..Node::default() });
            stems.insert(&star.stem, (nodes.len() - 1) as NodeId);
        }
        // where matching starts at each word: its root child, merged with the stem it starts with
        let mut words = FxHashMap::default();
        for (tok, id) in ids {
            let first = match nodes[ROOT as usize].child(id) {
                None => stems.longest(tok.as_bytes()),
                Some(child) => match root_stars.iter().find(|s| tok.starts_with(&*s.stem)) {
                    None => Some(child),
                    Some(star) => {
                        let literal = &nodes[child as usize];
                        let merged = Node {
                            children: literal.children.clone(),
                            found: Some(merge(literal.found.as_ref(), &star.found)),
                            stars: literal.stars.clone(),
                            leaf: literal.leaf,
                        };
                        nodes.push(merged);
                        Some((nodes.len() - 1) as NodeId)
                    }
                },
            };
            words.insert(tok, Word { id, first });
        }

        let punct = |role| Found::new(Arc::from([Meaning { role, topic: None, pol: 0, value: 0.0, obj: None }]));
        Lexicon { nodes, words, stems, bound: punct(Role::Bound), comma: punct(Role::Comma), size: phrases.len() }
    }

    /// Number of phrases compiled (`Lexicon.size`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The tokens of `text` with their word numbers and where matching starts at each.
    fn tokens(&self, text: &str) -> Vec<Tok> {
        tokens(text.as_bytes())
            .into_iter()
            .map(|(start, end)| {
                let t = &text[start..end];
                match self.words.get(t) {
                    Some(w) => Tok { start, end, word: w.id, first: w.first },
                    None => Tok { start, end, word: NO_WORD, first: self.stems.longest(t.as_bytes()) },
                }
            })
            .collect()
    }

    /// The hit of a punctuation token that no phrase starts with (`_PUNCT_HITS`).
    #[inline]
    fn punct(&self, tok: &str) -> Option<&Found> {
        match tok {
            ";" | ":" | "(" | ")" | "\u{2014}" | "\u{2013}" => Some(&self.bound),
            "," => Some(&self.comma),
            _ => None,
        }
    }

    /// All phrases in `text` (lowercased ASCII), left to right (`Lexicon.scan`).
    ///
    /// Where a longer topic phrase starts inside a matched one and runs past it ("will return"
    /// then "return to their permanent bases"), both are kept.
    pub fn scan(&self, text: &str) -> Vec<Hit> {
        let toks = self.tokens(text);
        let n = toks.len();
        let word = |k: usize| &text[toks[k].start..toks[k].end];
        let mut out = Vec::new();
        let mut i = 0;
        while i < n {
            let Tok { start, end, .. } = toks[i];
            let Some(first) = toks[i].first else {
                let tok = word(i);
                if let Some(found) = self.punct(tok) {
                    out.push(found.hit(start, end, tok));
                } else if tok.as_bytes()[0].is_ascii_digit() {
                    // "5 %", "12 percent", "34 per cent": a percentage (a number Python's float() cannot
                    // read is no hit); `_percent_end`: the sign's last token
                    let last = if i + 1 < n && matches!(word(i + 1), "%" | "percent") {
                        Some(i + 1)
                    } else if i + 2 < n && word(i + 1) == "per" && word(i + 2) == "cent" {
                        Some(i + 2)
                    } else {
                        None
                    };
                    if let (Some(last), Some(value)) = (last, py_float(tok)) {
                        let pct = Meaning { role: Role::Pct, topic: None, pol: 0, value, obj: None };
                        out.push(Found::new(Arc::from([pct])).hit(start, toks[last].end, &format!("{tok}%")));
                        i = last;
                    }
                }
                i += 1;
                continue;
            };
            let node = &self.nodes[first as usize];
            if node.leaf {
                // no longer phrase can start here: the match (if any) is this token
                if let Some(found) = &node.found {
                    out.push(found.hit(start, end, word(i)));
                }
                i += 1;
                continue;
            }
            let (stop, found) = self.longest(text, &toks, i, node);
            let Some(found) = found else {
                i += 1;
                continue;
            };
            let stop_at = toks[stop - 1].end;
            out.push(found.hit(start, stop_at, &text[start..stop_at]));
            let mut next = stop;
            for k in i + 1..stop {
                let Some(first2) = toks[k].first else { continue };
                let (stop2, found2) = self.longest(text, &toks, k, &self.nodes[first2 as usize]);
                if let Some(found2) = found2 {
                    if stop2 > stop && found2.topical {
                        let (a, b) = (toks[k].start, toks[stop2 - 1].end);
                        out.push(found2.hit(a, b, &text[a..b]));
                        next = stop2;
                        break;
                    }
                }
            }
            i = next;
        }
        out
    }

    /// The longest phrase starting at token `i` from `node` (`Lexicon._longest`): the token index
    /// after it and its meanings (`None`: no phrase starts here).
    #[inline]
    fn longest<'a>(&'a self, text: &str, toks: &[Tok], i: usize, node: &'a Node) -> (usize, Option<&'a Found>) {
        let mut node = node;
        let mut best_end = i;
        let mut best = None;
        let mut j = i;
        loop {
            if let Some(found) = &node.found {
                best_end = j + 1;
                best = Some(found);
            }
            j += 1;
            if j >= toks.len() {
                break;
            }
            if !node.stars.is_empty() {
                let t = &text[toks[j].start..toks[j].end];
                if let Some(star) = node.stars.iter().find(|s| t.starts_with(&*s.stem)) {
                    best_end = j + 1;
                    best = Some(&star.found);
                }
            }
            match node.child(toks[j].word) {
                Some(child) => node = &self.nodes[child as usize],
                None => break,
            }
        }
        (best_end, best)
    }
}

/// The meanings of a literal root child followed by those of its stem not already there.
fn merge(literal: Option<&Found>, star: &Found) -> Found {
    let mut merged: Vec<Meaning> = literal.map(|f| f.meanings.to_vec()).unwrap_or_default();
    for m in star.meanings.iter() {
        if !merged.contains(m) {
            merged.push(*m);
        }
    }
    Found::new(merged.into())
}

// -- tokens --------------------------------------------------------------------------------------
//
// `_TOKEN = \w+n't|\w+|'\w+|[;:,()—–%]`, tried left to right at each position. Only the first
// alternative can give back characters, and only to end before "n't": a word run of at least
// two characters ending in "n" and followed by "'t" is one token with it ("don't", "can't"); a
// lone "n't" is not. A word run is otherwise one token, an apostrophe starts one before a
// word character ("'s"), and each listed punctuation mark is one.

/// `\w` in ASCII: letters, digits and `_` (a table: the tokeniser asks for every byte).
const WORD_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    table
};

#[inline]
fn is_word_byte(b: u8) -> bool {
    WORD_BYTE[b as usize]
}

/// Token spans of ASCII text (non-ASCII bytes are skipped like punctuation outside the set).
fn tokens(b: &[u8]) -> Vec<(usize, usize)> {
    let n = b.len();
    let mut out = Vec::with_capacity(n / 4 + 1);
    let mut p = 0;
    while p < n {
        let c = b[p];
        if is_word_byte(c) {
            let mut q = p + 1;
            while q < n && is_word_byte(b[q]) {
                q += 1;
            }
            if q - p >= 2 && b[q - 1] == b'n' && q + 1 < n && b[q] == b'\'' && b[q + 1] == b't' {
                q += 2;
            }
            out.push((p, q));
            p = q;
        } else if c == b'\'' && p + 1 < n && is_word_byte(b[p + 1]) {
            let mut q = p + 2;
            while q < n && is_word_byte(b[q]) {
                q += 1;
            }
            out.push((p, q));
            p = q;
        } else {
            if matches!(c, b';' | b':' | b',' | b'(' | b')' | b'%') {
                out.push((p, p + 1));
            }
            p += 1;
        }
    }
    out
}

/// A word character of a phrase: Python's `\w` is `str.isalnum()` or `_`; Rust's
/// `is_alphanumeric` agrees on letters and digits (it differs only on a few combining marks,
/// which no phrase holds).
#[inline]
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The `_TOKEN` tokens of a phrase (any characters; `—` and `–` are punctuation tokens).
pub fn phrase_tokens(phrase: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = phrase.char_indices().collect();
    let n = chars.len();
    let at = |k: usize| if k < n { chars[k].0 } else { phrase.len() };
    let mut out = Vec::new();
    let mut p = 0;
    while p < n {
        let c = chars[p].1;
        if is_word_char(c) {
            let mut q = p + 1;
            while q < n && is_word_char(chars[q].1) {
                q += 1;
            }
            if q - p >= 2 && chars[q - 1].1 == 'n' && q + 1 < n && chars[q].1 == '\'' && chars[q + 1].1 == 't' {
                q += 2;
            }
            out.push(&phrase[at(p)..at(q)]);
            p = q;
        } else if c == '\'' && p + 1 < n && is_word_char(chars[p + 1].1) {
            let mut q = p + 2;
            while q < n && is_word_char(chars[q].1) {
                q += 1;
            }
            out.push(&phrase[at(p)..at(q)]);
            p = q;
        } else {
            if matches!(c, ';' | ':' | ',' | '(' | ')' | '%' | '\u{2014}' | '\u{2013}') {
                out.push(&phrase[at(p)..at(p + 1)]);
            }
            p += 1;
        }
    }
    out
}

/// Python's `float(word)` for a token that starts with a digit (`None` where it raises).
///
/// A token holds only word characters (and maybe "n't"), so the only forms `float` accepts are
/// digits with single underscores between them ("1_000"), optionally followed by an exponent
/// in the same form ("5e3"); the value is the correctly rounded one, as in Python (and may be
/// `inf`: `float("1e999")`).
fn py_float(word: &str) -> Option<f64> {
    let b = word.as_bytes();
    let mut k = 0;
    let mut plain = String::with_capacity(b.len());
    // digitpart: digit (["_"] digit)*
    let digitpart = |k: &mut usize, plain: &mut String| -> bool {
        if *k >= b.len() || !b[*k].is_ascii_digit() {
            return false;
        }
        while *k < b.len() {
            if b[*k].is_ascii_digit() {
                plain.push(b[*k] as char);
                *k += 1;
            } else if b[*k] == b'_' && *k + 1 < b.len() && b[*k + 1].is_ascii_digit() {
                *k += 1;
            } else {
                break;
            }
        }
        true
    };
    if !digitpart(&mut k, &mut plain) {
        return None;
    }
    if k < b.len() && (b[k] == b'e' || b[k] == b'E') {
        plain.push('e');
        k += 1;
        if !digitpart(&mut k, &mut plain) {
            return None;
        }
    }
    if k != b.len() {
        return None;
    }
    plain.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: Role) -> Meaning {
        Meaning { role, topic: None, pol: 0, value: 0.0, obj: None }
    }

    fn texts(lex: &Lexicon, low: &str) -> Vec<String> {
        lex.scan(low).into_iter().map(|h| h.text).collect()
    }

    #[test]
    fn tokens_follow_the_token_regex() {
        let s = "don't n't xn't 'tis can'ts a_b, (x); 5% it's";
        let got: Vec<&str> = tokens(s.as_bytes()).into_iter().map(|(a, b)| &s[a..b]).collect();
        assert_eq!(
            got,
            ["don't", "n", "'t", "xn't", "'tis", "can't", "s", "a_b", ",", "(", "x", ")", ";", "5", "%", "it", "'s"]
        );
        assert_eq!(phrase_tokens("press attaché — no"), ["press", "attaché", "—", "no"]);
    }

    #[test]
    fn floats_as_python_reads_them() {
        assert_eq!(py_float("1_000"), Some(1000.0));
        assert_eq!(py_float("5e3"), Some(5000.0));
        assert_eq!(py_float("1e999"), Some(f64::INFINITY));
        for bad in ["1__0", "1_", "1e", "1_e5", "1e_5", "5n't", "12abc"] {
            assert_eq!(py_float(bad), None, "{bad}");
        }
    }

    #[test]
    fn longest_phrase_stems_and_percentages() {
        let phrases = vec![
            ("no".to_string(), vec![m(Role::Neg)]),
            ("no doubt".to_string(), vec![m(Role::Cancel)]),
            ("negotiat*".to_string(), vec![m(Role::Stance)]),
            ("negotiations".to_string(), vec![m(Role::Cue)]),
        ];
        let lex = Lexicon::new(&phrases);
        assert_eq!(
            texts(&lex, "no doubt, no negotiating; 5 percent"),
            ["no doubt", ",", "no", "negotiating", ";", "5%"]
        );
        let hits = lex.scan("negotiations");
        assert_eq!(hits[0].meanings.iter().map(|m| m.role).collect::<Vec<_>>(), [Role::Cue, Role::Stance]);
    }
}
