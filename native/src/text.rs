//! Text normalisation and sentence splitting: `monitor/domain/analysis/text.py` for ASCII text.
//!
//! The native core only reads ASCII statements (the Python analyzer handles the rest), so a
//! byte offset here is the character offset Python computes for the same text. Both functions
//! take `&str` but are only specified for ASCII input: non-ASCII bytes are passed through as
//! ordinary (non-space, non-letter) bytes, which is *not* what Python does with them.

/// Whitespace as Python's `str.split()` (and the regex `\s`) sees it in ASCII: space, `\t`,
/// `\n`, `\v`, `\f`, `\r` and the four separators `\x1c`-`\x1f`.
#[inline]
pub const fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f)
}

/// `(cased, lowered)` of an ASCII text, as `text.normalize` returns them: backticks read as
/// apostrophes, whitespace runs collapsed to one space (and trimmed), and a lowered view of
/// the same length in which hyphens read as spaces ("cease-fire" == "cease fire").
pub fn normalize(text: &str) -> (String, String) {
    debug_assert!(text.is_ascii(), "the native core reads ASCII text only");
    let src = text.as_bytes();
    // both views are at most as long as the text: written by index, cut to length at the end
    let mut cased = vec![0u8; src.len()];
    let mut low = vec![0u8; src.len()];
    let mut n = 0;
    // " ".join(text.split()): a space goes out only between two words
    let mut pending_space = false;
    for &b in src {
        let (space, c, l) = NORMAL[b as usize];
        if space {
            pending_space = n > 0;
            continue;
        }
        if pending_space {
            // a space and this byte: n + 2 <= the bytes read so far, the space having been one
            cased[n] = b' ';
            low[n] = b' ';
            n += 1;
            pending_space = false;
        }
        cased[n] = c;
        low[n] = l;
        n += 1;
    }
    cased.truncate(n);
    low.truncate(n);
    // only ASCII bytes were written, or bytes copied unchanged from a valid UTF-8 text in order
    // (multi-byte sequences contain no ASCII bytes, so they are never split)
    (bytes_to_string(cased), bytes_to_string(low))
}

/// Per byte: whether it is whitespace, and its cased and lowered forms in `normalize`:
/// backticks read as apostrophes, hyphens as spaces in the lowered view, other bytes (non-ASCII
/// ones too) as they are, lowered if ASCII capitals.
static NORMAL: [(bool, u8, u8); 256] = {
    let mut t = [(false, 0u8, 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if is_py_space(b) {
            (true, b, b)
        } else if b == b'`' {
            (false, b'\'', b'\'')
        } else if b == b'-' {
            (false, b'-', b' ')
        } else {
            (false, b, b.to_ascii_lowercase())
        };
        i += 1;
    }
    t
};

fn bytes_to_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("normalize keeps UTF-8 sequences whole")
}

/// Abbreviations after which a period does not end a sentence (`_ABBREV` of text.py).
const ABBREV: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "maj", "sgt", "st", "jr", "sr", "sen", "rep", "gov", "pres",
    "no", "vs", "etc", "approx", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "u.s", "u.k", "e.u", "u.n", "inc", "ltd", "co", "corp", "dept", "est", "fig", "op", "vol",
];

#[inline]
fn is_end_mark(b: u8) -> bool {
    matches!(b, b'.' | b'!' | b'?')
}

#[inline]
fn is_closer(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b')' | b']')
}

#[inline]
fn is_opener(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'(' | b'[')
}

#[inline]
fn is_sentence_start(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// One match of text.py's `_BOUNDARY` regex, `[.!?]+["')\]]*\s+(?=["'(\[]?[A-Z0-9])`:
/// `(start, end of the closers, end of the whitespace)`.
struct Boundary {
    start: usize,
    marks_end: usize,
    end: usize,
}

/// The leftmost `_BOUNDARY` match at or after `from`.
///
/// No quantifier of the regex can give back a character to let the rest match (a shorter run
/// of marks leaves a mark where a closer or a space must be, and so on), so a match is the
/// maximal run of marks, then of closers, then of whitespace (at least one), followed by the
/// lookahead. If that fails at a run of marks it fails at every later mark of the same run
/// (they share the tail), so the search resumes after the run.
fn next_boundary(b: &[u8], from: usize) -> Option<Boundary> {
    let n = b.len();
    let mut p = from;
    while p < n {
        if !is_end_mark(b[p]) {
            p += 1;
            continue;
        }
        let start = p;
        while p < n && is_end_mark(b[p]) {
            p += 1;
        }
        let mut q = p;
        while q < n && is_closer(b[q]) {
            q += 1;
        }
        let marks_end = q;
        while q < n && is_py_space(b[q]) {
            q += 1;
        }
        if q == marks_end || q == n {
            continue; // no whitespace, or nothing after it
        }
        let ahead =
            if is_opener(b[q]) && q + 1 < n && is_sentence_start(b[q + 1]) { true } else { is_sentence_start(b[q]) };
        if ahead {
            return Some(Boundary { start, marks_end, end: q });
        }
        // the marks run ends at p; the closers and spaces after it hold no mark: resume there
        p = q;
    }
    None
}

/// `head.rsplit(" ", 1)[-1].lower().strip("\"'(")` is an abbreviation or a single letter.
fn ends_with_abbreviation(head: &[u8]) -> bool {
    let last = match head.iter().rposition(|&c| c == b' ') {
        Some(k) => &head[k + 1..],
        None => head,
    };
    let strip = |c: &u8| matches!(c, b'"' | b'\'' | b'(');
    let a = last.iter().position(|c| !strip(c)).unwrap_or(last.len());
    let z = last.iter().rposition(|c| !strip(c)).map_or(a, |k| k + 1);
    let word = &last[a..z.max(a)];
    if word.len() == 1 && word[0].is_ascii_alphabetic() {
        return true;
    }
    // abbreviations are short: compare lowered on the stack
    if word.len() > 8 {
        return false;
    }
    let mut buf = [0u8; 8];
    for (d, s) in buf.iter_mut().zip(word) {
        *d = s.to_ascii_lowercase();
    }
    let lowered = &buf[..word.len()];
    ABBREV.iter().any(|a| a.as_bytes() == lowered)
}

/// Sentence spans `(start, end)` of the normalised cased text (`text.sentences`).
///
/// A sentence ends at `.`, `!` or `?` (and any closing quotes or brackets) before whitespace
/// and something that can start a sentence, unless the word before is an abbreviation
/// ("Mr.", "U.S.") or a single letter (an initial). The span ends after the closers; the
/// next sentence starts after the whitespace.
pub fn sentences(cased: &str) -> Vec<(usize, usize)> {
    debug_assert!(cased.is_ascii(), "the native core reads ASCII text only");
    let b = cased.as_bytes();
    let mut spans = Vec::new();
    let mut start = 0;
    let mut from = 0;
    while let Some(m) = next_boundary(b, from) {
        from = m.end;
        if ends_with_abbreviation(&b[start..m.start]) {
            continue;
        }
        spans.push((start, m.marks_end));
        start = m.end;
    }
    if start < b.len() {
        spans.push((start, b.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_collapses_and_lowers() {
        let (c, l) = normalize("  A `quoted` cease-fire\tstatement.\x1c Next ");
        assert_eq!(c, "A 'quoted' cease-fire statement. Next");
        assert_eq!(l, "a 'quoted' cease fire statement. next");
        assert_eq!(normalize(" \t "), (String::new(), String::new()));
    }

    #[test]
    fn sentences_skip_abbreviations() {
        let (c, _) = normalize("Talks with the U.S. resume on Monday. Mr. Smith agreed.  Nothing has changed.");
        let got: Vec<&str> = sentences(&c).into_iter().map(|(a, b)| &c[a..b]).collect();
        assert_eq!(got, ["Talks with the U.S. resume on Monday.", "Mr. Smith agreed.", "Nothing has changed."]);
    }

    #[test]
    fn sentences_keep_closers_and_need_a_start() {
        // expected values from the Python text.sentences ("no." reads as the abbreviation "No.")
        let c = "He said \"no.\" (Then) left! a b. J. Doe? \"Yes.\" 2 more";
        let got: Vec<&str> = sentences(c).into_iter().map(|(a, b)| &c[a..b]).collect();
        assert_eq!(got, ["He said \"no.\" (Then) left! a b. J. Doe?", "\"Yes.\"", "2 more"]);
        let c = "It ended. \"Yes,\" she said. Then (Later) ... What?! [Quote] ok";
        let got: Vec<&str> = sentences(c).into_iter().map(|(a, b)| &c[a..b]).collect();
        assert_eq!(got, ["It ended.", "\"Yes,\" she said.", "Then (Later) ...", "What?!", "[Quote] ok"]);
    }
}
