//! The claim rules (`monitor/domain/analysis/rules.py`): a stub until the rules port lands.

pub fn analyze(
    core: &crate::types::Core,
    text: &str,
    speaker_parts: &std::collections::HashSet<String>,
) -> crate::types::AnalysisOut {
    let _ = (core, text, speaker_parts);
    crate::types::AnalysisOut::default()
}
