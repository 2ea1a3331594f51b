//! Rules for free text every service accepts (names, places, descriptions, reviews): trimmed,
//! bounded in characters, and free of characters that hide or rearrange what a reader sees.
//! Ordinary Unicode, Korean included, is welcome; control characters (NUL, ESC, CR, LF, …) and
//! the bidirectional embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069,
//! "Trojan Source") are refused. Multi-line text may contain line feeds and tabs.

/// Trimmed single-line text of `min..=max` characters; the error names `field`.
pub fn single_line(field: &str, value: &str, min: usize, max: usize) -> Result<String, String> {
    checked(field, value, min, max, false)
}

/// Trimmed text of `min..=max` characters that may span lines (`\n`, `\r\n` and tabs allowed).
pub fn multi_line(field: &str, value: &str, min: usize, max: usize) -> Result<String, String> {
    checked(field, &value.replace("\r\n", "\n"), min, max, true)
}

fn checked(field: &str, value: &str, min: usize, max: usize, lines: bool) -> Result<String, String> {
    let value = value.trim();
    if let Some(c) = value.chars().find(|c| refused(*c, lines)) {
        return Err(format!("{field} must not contain control characters (found U+{:04X})", u32::from(c)));
    }
    let n = value.chars().count();
    if n < min {
        return Err(format!("{field} must not be empty"));
    }
    if n > max {
        return Err(format!("{field} must be at most {max} characters"));
    }
    Ok(value.to_owned())
}

fn refused(c: char, lines: bool) -> bool {
    if lines && matches!(c, '\n' | '\t') {
        return false;
    }
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_korean_included_is_welcome() {
        assert_eq!(single_line("name", "  솔숲 캠핑장 ", 1, 100).unwrap(), "솔숲 캠핑장");
        assert_eq!(single_line("name", "Café — “Pine” 🌲", 1, 100).unwrap(), "Café — “Pine” 🌲");
        assert_eq!(multi_line("text", "좋아요\r\n\tquiet", 1, 100).unwrap(), "좋아요\n\tquiet");
    }

    #[test]
    fn control_and_direction_characters_are_refused_with_the_field_named() {
        for bad in ["a\0b", "a\u{1b}[31mb", "a\rb", "a\nb", "evil\u{202E}gpj.exe", "a\u{2066}b", "a\u{7f}", "a\u{85}b"]
        {
            let err = single_line("flightName", bad, 1, 100).unwrap_err();
            assert!(err.starts_with("flightName must not contain control characters"), "{bad:?}: {err}");
        }
        assert!(multi_line("text", "a\0b", 1, 100).is_err());
        assert!(multi_line("text", "a\u{202E}b", 1, 100).is_err());
    }

    #[test]
    fn length_is_counted_in_characters_after_trimming() {
        assert_eq!(single_line("name", "  ", 1, 10).unwrap_err(), "name must not be empty");
        assert_eq!(single_line("d", "", 0, 10).unwrap(), "");
        assert!(single_line("name", &"가".repeat(11), 1, 10).is_err());
        assert!(single_line("name", &"가".repeat(10), 1, 10).is_ok());
    }
}
