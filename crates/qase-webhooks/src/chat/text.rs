//! Text from Qase is user input: cleaning it to one line, escaping it for
//! each service's markup, cutting it to a length on a character boundary,
//! and the few numbers and times the messages print.

use std::borrow::Cow;

/// Marks text that was cut to fit a service's limit.
pub(crate) const ELLIPSIS: char = '…';

/// Inserted after the `@` of `@everyone`, `@here` and `@channel` so that no
/// service reads them as a mention (the text still reads the same).
const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// The markup a piece of text is placed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Markup {
    /// A field no service parses (Slack `plain_text`, a Google Chat header,
    /// a Discord footer): only the broadcast words are broken up.
    Plain,
    /// Slack `mrkdwn`: `&`, `<` and `>` are entities, as Slack asks; with
    /// `<` escaped, no `<!channel>`, `<@U…>` or `<url|label>` can be formed.
    SlackMrkdwn,
    /// Discord Markdown: the markup characters are backslash-escaped, so
    /// `<@…>`, `<#…>`, masked links and headings stay literal.
    DiscordMarkdown,
    /// The Markdown subset of Adaptive Card `TextBlock`s and `FactSet`s.
    TeamsMarkdown,
    /// The HTML subset of Google Chat card text (`<b>`, `<a>`, `<font>`).
    GoogleChatHtml,
}

/// Length as the chat services count it: UTF-16 code units (JavaScript's
/// `length`), never fewer than characters, so a text that fits here fits there.
pub(crate) fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Bidirectional controls can make a title read differently from what it
/// is (`U+202E` reverses the rest of the line); they are dropped.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// One line of text: line breaks, tabs and other control characters become
/// single spaces, bidirectional controls are dropped, the ends are trimmed.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if is_bidi_control(c) {
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// Whether `rest` (the text after an `@`) starts with a broadcast word.
fn is_broadcast(rest: &str) -> bool {
    ["everyone", "here", "channel"].iter().any(|word| {
        rest.get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word))
    })
}

/// The escaped form of each character of `text` (already [`clean`]), one
/// piece per character, so that a cut between pieces never splits an
/// escape sequence.
fn pieces(markup: Markup, text: &str) -> Vec<Cow<'static, str>> {
    // A Markdown line that starts with `# `, `- `, `+ ` or `1. ` is a heading
    // or a list; `clean` made the text one line, so only its start matters,
    // and there only the marker (or the dot after the digits).
    let marker_ends_at = |at: usize| matches!(text[at..].chars().next(), None | Some(' '));
    let list_dot = text
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&at| at > 0 && text[at..].starts_with('.') && marker_ends_at(at + 1));
    let heading = match text.chars().next() {
        Some('#') => marker_ends_at(text.len() - text.trim_start_matches('#').len()),
        // `-# ` is Discord's small text.
        Some('-') => marker_ends_at(1) || text[1..].starts_with("# "),
        Some('+') => marker_ends_at(1),
        _ => false,
    };
    let mut out = Vec::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        let piece: Cow<'static, str> = match (markup, c) {
            (_, '@') if is_broadcast(&text[at + 1..]) => format!("@{ZERO_WIDTH_SPACE}").into(),
            (Markup::Plain, c) => c.to_string().into(),
            (Markup::SlackMrkdwn, '&') => "&amp;".into(),
            (Markup::SlackMrkdwn, '<') => "&lt;".into(),
            (Markup::SlackMrkdwn, '>') => "&gt;".into(),
            (Markup::SlackMrkdwn, c) => c.to_string().into(),
            (Markup::GoogleChatHtml, '&') => "&amp;".into(),
            (Markup::GoogleChatHtml, '<') => "&lt;".into(),
            (Markup::GoogleChatHtml, '>') => "&gt;".into(),
            (Markup::GoogleChatHtml, '"') => "&quot;".into(),
            (Markup::GoogleChatHtml, c) => c.to_string().into(),
            (Markup::DiscordMarkdown | Markup::TeamsMarkdown, c) => {
                let always = matches!(
                    c,
                    '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>'
                );
                let at_start = at == 0 && heading;
                if always || at_start || Some(at) == list_dot {
                    format!("\\{c}").into()
                } else {
                    c.to_string().into()
                }
            }
        };
        out.push(piece);
    }
    out
}

/// `text` cleaned to one line and escaped for `markup`, at most `max`
/// UTF-16 units long: a longer text is cut between characters (never inside
/// an escape) and ends with [`ELLIPSIS`].
pub(crate) fn escape(markup: Markup, text: &str, max: usize) -> String {
    let pieces = pieces(markup, &clean(text));
    let total: usize = pieces.iter().map(|p| units(p)).sum();
    if total <= max {
        return pieces.concat();
    }
    let budget = max.saturating_sub(units(ELLIPSIS.encode_utf8(&mut [0; 4])));
    let mut out = String::new();
    let mut used = 0;
    for piece in pieces {
        used += units(&piece);
        if used > budget {
            break;
        }
        out.push_str(&piece);
    }
    out.truncate(out.trim_end().len());
    out.push(ELLIPSIS);
    out
}

/// `passed` of `cases` as a percentage with one decimal (`91.7%`, `100%`),
/// `None` for a run without cases.
pub(crate) fn pass_rate(tenths: Option<u64>) -> Option<String> {
    let tenths = tenths?;
    Some(match tenths % 10 {
        0 => format!("{}%", tenths / 10),
        digit => format!("{}.{digit}%", tenths / 10),
    })
}

/// A run's duration for people, read as milliseconds (see
/// [`super::message`] on Qase's unit disagreement): `850 ms`, `3m 4s`,
/// `1h 2m`, `2d 3h`. `None` for `0`, which Qase sends when it has no duration.
pub(crate) fn duration_ms(ms: u64) -> Option<String> {
    if ms == 0 {
        return None;
    }
    if ms < 1000 {
        return Some(format!("{ms} ms"));
    }
    let seconds = ms / 1000;
    let (days, hours, minutes, seconds) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    Some(match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    })
}

/// Calendar date and time of a Unix timestamp in UTC, or `None` past the
/// year 9999 (where ISO 8601 needs an extended format few parsers accept).
fn civil(timestamp: u64) -> Option<(i64, u32, u32, u64, u64, u64)> {
    // Howard Hinnant's days-to-civil algorithm, for the proleptic Gregorian calendar.
    let days = i64::try_from(timestamp / 86_400).ok()?;
    let secs = timestamp % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).ok()?;
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).ok()?;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year <= 9999).then_some((year, month, day, secs / 3600, secs / 60 % 60, secs % 60))
}

/// `2026-11-28 10:00 UTC`, for people; `None` past the year 9999.
pub(crate) fn utc_minute(timestamp: u64) -> Option<String> {
    let (y, mo, d, h, mi, _) = civil(timestamp)?;
    Some(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC"))
}

/// `2026-11-28T10:00:00Z` (RFC 3339), for Discord's embed timestamp.
pub(crate) fn rfc3339(timestamp: u64) -> Option<String> {
    let (y, mo, d, h, mi, s) = civil(timestamp)?;
    Some(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"))
}

/// `first`, then each present line on a line of its own.
pub(crate) fn lines(first: String, rest: [Option<String>; 2]) -> String {
    rest.into_iter()
        .flatten()
        .fold(first, |text, line| text + "\n" + &line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_makes_one_line_without_bidi_controls() {
        assert_eq!(clean("  a\r\n\tb \u{202E}c\u{0}d  "), "a b c d");
        assert_eq!(clean(""), "");
    }

    #[test]
    fn broadcast_words_are_broken_in_every_markup() {
        for markup in [
            Markup::Plain,
            Markup::SlackMrkdwn,
            Markup::DiscordMarkdown,
            Markup::TeamsMarkdown,
            Markup::GoogleChatHtml,
        ] {
            let text = escape(markup, "@everyone @Here @channel a@b", 100);
            assert!(
                !text.contains("@everyone") && !text.contains("@Here"),
                "{text}"
            );
            assert!(text.contains("a@b"), "{text}");
        }
    }

    #[test]
    fn each_markup_escapes_its_own_characters() {
        let hostile = "<!channel> & *b* [x](y) #";
        assert_eq!(
            escape(Markup::SlackMrkdwn, hostile, 100),
            "&lt;!channel&gt; &amp; *b* [x](y) #"
        );
        assert_eq!(
            escape(Markup::DiscordMarkdown, hostile, 100),
            r"\<!channel\> & \*b\* \[x\](y) #"
        );
        assert_eq!(
            escape(Markup::GoogleChatHtml, "<b a=\"1\">&", 100),
            "&lt;b a=&quot;1&quot;&gt;&amp;"
        );
        assert_eq!(escape(Markup::TeamsMarkdown, "# h", 100), r"\# h");
        assert_eq!(
            escape(Markup::TeamsMarkdown, "12. x 3. y", 100),
            r"12\. x 3. y"
        );
        assert_eq!(escape(Markup::TeamsMarkdown, "91.7%", 100), "91.7%");
        assert_eq!(escape(Markup::TeamsMarkdown, "## h", 100), r"\## h");
        assert_eq!(escape(Markup::DiscordMarkdown, "-5 #1", 100), "-5 #1");
        assert_eq!(escape(Markup::DiscordMarkdown, "- a - b", 100), r"\- a - b");
    }

    #[test]
    fn a_cut_never_splits_an_escape_and_ends_with_an_ellipsis() {
        let text = escape(Markup::SlackMrkdwn, "ab&&&&", 8);
        assert_eq!(text, "ab&amp;…");
        assert!(units(&text) <= 8);
        // Characters outside the BMP count as two units, as the services count them.
        let text = escape(Markup::Plain, &"😀".repeat(10), 7);
        assert_eq!(text, "😀😀😀…");
        assert_eq!(escape(Markup::Plain, "short", 5), "short");
        assert_eq!(escape(Markup::Plain, "a    b c", 4), "a b…");
    }

    #[test]
    fn numbers_for_people() {
        let rate = |passed, cases, counted| {
            pass_rate(crate::run_report::pass_rate_tenths(passed, cases, counted))
        };
        assert_eq!(rate(11, 12, 12).as_deref(), Some("91.7%"));
        assert_eq!(rate(3, 3, 3).as_deref(), Some("100%"));
        assert_eq!(rate(0, 0, 0), None);
        assert_eq!(rate(u64::MAX, u64::MAX, 0).as_deref(), Some("100%"));
        assert_eq!(rate(1000, 1, 1000).as_deref(), Some("100%"));
        assert_eq!(duration_ms(0), None);
        assert_eq!(duration_ms(850).as_deref(), Some("850 ms"));
        assert_eq!(duration_ms(184_000).as_deref(), Some("3m 4s"));
        assert_eq!(duration_ms(3_725_000).as_deref(), Some("1h 2m"));
        assert!(duration_ms(u64::MAX).is_some());
    }

    #[test]
    fn times_in_utc() {
        assert_eq!(utc_minute(0).as_deref(), Some("1970-01-01 00:00 UTC"));
        assert_eq!(
            rfc3339(1_700_000_000).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            rfc3339(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(rfc3339((1 << 53) - 1), None);
    }
}
