//! Small text helpers.

/// `text` cut to at most `max` bytes, on a character boundary (KV metadata
/// is limited to 1024 bytes, so stored reasons are bounded).
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
